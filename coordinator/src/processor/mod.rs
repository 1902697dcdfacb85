//! The request processor: the single owner of the data tree, sessions and watches. It turns
//! connection events into replies, watch events and transactions, and does no I/O: the server
//! loop persists each batch's transactions before it releases the batch's output, so no client
//! sees a change before it is durable, and replies leave in request order per connection.

mod ensemble;
pub mod prep;
mod reads;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;

use crate::proto::codes::{op, xid, ErrorCode, OwnerKind};
use crate::proto::jute::Writer;
use crate::consensus::wire::PeerMsg;
use crate::proto::records::{self, ConnectRequest, ConnectResponse, Id, Request, RequestHeader, WriteOp};
use crate::tree::{Change, DataTree, OpResult};
use crate::txn::{Txn, TxnHeader};
use crate::watches::{ConnId, Kind, WatchManager};
use prep::Caller;

/// Limits and timings the processor enforces (from zoo.cfg).
#[derive(Debug, Clone)]
pub struct Limits {
    /// zoo.cfg `reconfigEnabled` and `skipACL`.
    pub reconfig_enabled: bool,
    pub skip_acl: bool,
    /// `user:digest` of the super user (zoo.cfg `DigestAuthenticationProvider.superDigest`).
    pub super_digest: Option<String>,
    pub min_session_timeout: i32,
    pub max_session_timeout: i32,
    pub max_buffer: usize,
    pub server_id: i64,
    pub container_check_ms: i64,
}

/// What the server loop must do after a batch is durable.
#[derive(Debug, PartialEq, Eq)]
pub enum Out {
    Frame(ConnId, Vec<u8>),
    Close(ConnId),
}

#[derive(Default, Debug)]
pub struct Batch {
    pub txns: Vec<(TxnHeader, Txn)>,
    pub out: Vec<Out>,
    /// For the ensemble's leader (sent by a follower).
    pub to_leader: Vec<PeerMsg>,
    /// A membership change the leader accepted, for the caller to carry out step by step.
    pub reconfig: Option<ReconfigPlan>,
}

/// A `reconfig` to carry out: memberships each one voter from the one before, the last being
/// the target; the last step answers the client.
#[derive(Debug, Clone)]
pub struct ReconfigPlan {
    pub session_id: i64,
    pub cxid: i32,
    pub reply_to: Option<ConnId>,
    pub steps: Vec<Vec<crate::config::ServerLine>>,
}

/// This server's part in the ensemble, as the processor needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// No ensemble: decide and apply every write here.
    Standalone,
    /// Decide writes (applied at once, replies released by the caller once committed).
    Leader,
    /// Forward writes to the leader; apply what the ensemble commits.
    Follower,
    /// No leader known: serve no sessions.
    Looking,
}

/// A request of a follower's session that waits for the leader.
#[derive(Debug)]
enum Pending {
    /// A write forwarded to the leader, answered when it comes back committed.
    Write { conn: ConnId, xid: i32, req: Request, since: i64 },
    /// A sync: answered once this server has applied up to the leader's commit index.
    Sync { conn: ConnId, xid: i32, path: String, index: Option<u64>, since: i64 },
    /// A later request of the same session, held for FIFO order.
    Later { conn: ConnId, h: RequestHeader, req: Request },
}

#[derive(Debug)]
pub struct Conn {
    pub addr: IpAddr,
    pub peer: String,
    pub session_id: i64,
    pub auth: Vec<Id>,
    pub received: u64,
    pub sent: u64,
    pub connected: bool,
    pub timeout: i32,
    /// A session served in read-only mode (this server has no quorum).
    pub read_only: bool,
}

#[derive(Debug, Clone, Copy)]
struct Live {
    deadline: i64,
    timeout: i32,
    conn: Option<ConnId>,
}

#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub received: u64,
    pub sent: u64,
    pub latency_min: u64,
    pub latency_max: u64,
    pub latency_total: u64,
    pub latency_count: u64,
}

impl Counters {
    /// One batch's latency (ms from receipt to durable).
    pub fn record_latency(&mut self, ms: u64) {
        self.latency_max = self.latency_max.max(ms);
        self.latency_min = if self.latency_count == 0 { ms } else { self.latency_min.min(ms) };
        self.latency_total += ms;
        self.latency_count += 1;
    }
}

pub struct Processor {
    pub tree: DataTree,
    pub watches: WatchManager,
    pub conns: HashMap<ConnId, Conn>,
    live: HashMap<i64, Live>,
    pub limits: Limits,
    /// Set by the caller while a membership change is being carried out.
    pub reconfig_busy: bool,
    next_session: i64,
    pub counters: Counters,
    batch: Batch,
    last_container_check: i64,
    pub role: Role,
    pending: HashMap<i64, VecDeque<Pending>>,
    /// Sessions whose next pending request is a sync.
    syncing: HashSet<i64>,
    /// New sessions a follower asked the leader to create: session → (connection, timeout).
    pending_connects: HashMap<i64, (ConnId, i32, Option<bool>)>,
    /// Connection requests that arrived while no leader was known, answered once there is one
    /// (a client moving off a dead leader is served right after the election instead of being
    /// refused into its reconnect backoff): (connection, ConnectRequest, when).
    held_connects: Vec<(ConnId, Vec<u8>, i64)>,
}

impl Processor {
    pub fn new(tree: DataTree, limits: Limits, now: i64) -> Processor {
        // Restored sessions get a fresh timeout from now, as ZooKeeper does after a restart.
        let live = tree
            .sessions
            .iter()
            .map(|(id, s)| (*id, Live { deadline: now + s.timeout as i64, timeout: s.timeout, conn: None }))
            .collect();
        let next_session = ((now << 24) as u64 >> 8) as i64 | (limits.server_id << 56);
        Processor {
            tree,
            watches: WatchManager::default(),
            conns: HashMap::new(),
            live,
            limits,
            reconfig_busy: false,
            next_session,
            counters: Counters::default(),
            batch: Batch::default(),
            last_container_check: now,
            role: Role::Standalone,
            pending: HashMap::new(),
            syncing: HashSet::new(),
            pending_connects: HashMap::new(),
            held_connects: Vec::new(),
        }
    }

    pub fn take_batch(&mut self) -> Batch {
        std::mem::take(&mut self.batch)
    }

    pub fn session_count(&self) -> usize {
        self.live.len()
    }

    fn next_zxid(&self) -> i64 {
        // The zxid of a transaction in this batch that is not applied yet cannot exist: every
        // transaction is applied as soon as it is made.
        self.tree.last_zxid + 1
    }

    fn send(&mut self, conn: ConnId, frame: Vec<u8>) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.sent += 1;
            self.counters.sent += 1;
            self.batch.out.push(Out::Frame(conn, frame));
        }
    }

    /// Makes, applies and records a transaction; fires watches; returns the apply result.
    fn commit(&mut self, session_id: i64, cxid: i32, time: i64, txn: Txn) -> (i64, OpResult) {
        let h = TxnHeader { session_id, cxid, zxid: self.next_zxid(), time };
        let mut changes = Vec::new();
        let r = self.tree.apply(&h, &txn, &mut changes);
        self.fire(&changes);
        self.batch.txns.push((h, txn));
        (h.zxid, r)
    }

    fn fire(&mut self, changes: &[Change]) {
        for ch in changes {
            for (conn, ty, path) in self.watches.trigger(ch) {
                self.send(conn, records::watch_event(-1, ty, &path));
            }
        }
    }

    pub fn connection_opened(&mut self, conn: ConnId, addr: IpAddr, peer: String) {
        self.conns.insert(
            conn,
            Conn {
                addr,
                peer,
                session_id: 0,
                auth: vec![Id { scheme: "ip".into(), id: addr.to_string() }],
                received: 0,
                sent: 0,
                connected: false,
                timeout: 0,
                read_only: false,
            },
        );
    }

    pub fn connection_closed(&mut self, conn: ConnId) {
        self.watches.drop_conn(conn);
        if let Some(c) = self.conns.remove(&conn) {
            if let Some(l) = self.live.get_mut(&c.session_id) {
                if l.conn == Some(conn) {
                    l.conn = None;
                }
            }
        }
    }

    fn negotiate(&self, requested: i32) -> i32 {
        requested.clamp(self.limits.min_session_timeout, self.limits.max_session_timeout)
    }

    /// The first frame of a connection.
    pub fn connect(&mut self, conn: ConnId, body: &[u8], now: i64) {
        let req = match ConnectRequest::decode(body) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(conn, error = %e, "malformed ConnectRequest; closing");
                self.batch.out.push(Out::Close(conn));
                return;
            }
        };
        let read_only = req.read_only.map(|_| false);
        let lagging = req.last_zxid_seen > self.tree.last_zxid;
        if (self.role == Role::Looking && req.read_only != Some(true)) || (lagging && self.role == Role::Follower) {
            // Answered once a leader is known, or once this follower has caught up with what the
            // client has seen.
            self.held_connects.push((conn, body.to_vec(), now));
            return;
        }
        if lagging {
            tracing::warn!(
                conn,
                client_zxid = format_args!("{:#x}", req.last_zxid_seen),
                our_zxid = format_args!("{:#x}", self.tree.last_zxid),
                "refusing session: the client has seen a newer zxid than this server"
            );
            self.batch.out.push(Out::Close(conn));
            return;
        }
        if self.role == Role::Looking {
            self.connect_read_only(conn, &req, now);
            return;
        }
        let timeout = self.negotiate(req.timeout);
        let session_id = if req.session_id == 0 {
            let sid = self.next_session;
            self.next_session += 1;
            let mut passwd = vec![0u8; 16];
            rand::Rng::fill(&mut rand::rng(), &mut passwd[..]);
            if self.role == Role::Follower {
                // The leader creates it; the reply goes out when the creation is committed.
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.session_id = sid;
                }
                self.pending_connects.insert(sid, (conn, timeout, read_only));
                self.batch.to_leader.push(PeerMsg::CreateSession { session_id: sid, timeout, passwd });
                return;
            }
            self.commit(sid, 0, now, Txn::CreateSession { timeout, passwd });
            sid
        } else {
            let ok = self.tree.sessions.get(&req.session_id).is_some_and(|s| s.passwd == req.passwd);
            if !ok {
                tracing::info!(conn, session = format_args!("{:#x}", req.session_id), "session expired or invalid password");
                let resp = ConnectResponse { protocol_version: 0, timeout: 0, session_id: 0, passwd: vec![0; 16], read_only };
                self.send_raw(conn, resp.encode());
                self.batch.out.push(Out::Close(conn));
                return;
            }
            if self.role == Role::Follower {
                self.batch.to_leader.push(PeerMsg::Touch { sessions: vec![req.session_id] });
            }
            req.session_id
        };
        self.finish_connect(conn, session_id, timeout, read_only, now);
    }

    /// A client that accepts read-only service, on a server without a quorum: reads from the
    /// local tree, writes refused with NOTREADONLY. A new session here is local to this server
    /// (the client asks for a fresh one when it finds a server with a quorum, as ZooKeeper's
    /// clients do); a known session keeps its id.
    fn connect_read_only(&mut self, conn: ConnId, req: &ConnectRequest, now: i64) {
        let timeout = self.negotiate(req.timeout);
        let (sid, passwd) = if req.session_id == 0 {
            let sid = self.next_session;
            self.next_session += 1;
            let mut passwd = vec![0u8; 16];
            rand::Rng::fill(&mut rand::rng(), &mut passwd[..]);
            (sid, passwd)
        } else {
            match self.tree.sessions.get(&req.session_id) {
                Some(s) if s.passwd == req.passwd => (req.session_id, s.passwd.clone()),
                _ => {
                    let resp = ConnectResponse { protocol_version: 0, timeout: 0, session_id: 0, passwd: vec![0; 16], read_only: Some(true) };
                    self.send_raw(conn, resp.encode());
                    self.batch.out.push(Out::Close(conn));
                    return;
                }
            }
        };
        self.live.insert(sid, Live { deadline: now + timeout as i64, timeout, conn: Some(conn) });
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session_id = sid;
            c.connected = true;
            c.timeout = timeout;
            c.read_only = true;
        }
        tracing::info!(conn, session = format_args!("{sid:#x}"), "serving a session read-only: no quorum");
        let resp = ConnectResponse { protocol_version: 0, timeout, session_id: sid, passwd, read_only: Some(true) };
        self.send_raw(conn, resp.encode());
    }

    /// Sends the ConnectResponse of a session now known to the tree.
    fn finish_connect(&mut self, conn: ConnId, session_id: i64, timeout: i32, read_only: Option<bool>, now: i64) {
        // A session moves to its newest connection; the older one is closed (SESSIONMOVED).
        if let Some(old) = self.live.get(&session_id).and_then(|l| l.conn) {
            if old != conn {
                self.batch.out.push(Out::Close(old));
                self.watches.drop_conn(old);
            }
        }
        self.live.insert(session_id, Live { deadline: now + timeout as i64, timeout, conn: Some(conn) });
        let passwd = self.tree.sessions.get(&session_id).map(|s| s.passwd.clone()).unwrap_or_default();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session_id = session_id;
            c.connected = true;
            c.timeout = timeout;
        }
        let resp = ConnectResponse { protocol_version: 0, timeout, session_id, passwd, read_only };
        self.send_raw(conn, resp.encode());
    }

    fn send_raw(&mut self, conn: ConnId, frame: Vec<u8>) {
        self.batch.out.push(Out::Frame(conn, frame));
    }

    fn touch(&mut self, session_id: i64, now: i64) {
        if let Some(l) = self.live.get_mut(&session_id) {
            l.deadline = now + l.timeout as i64;
        }
    }

    /// A request frame on a connected session.
    pub fn request(&mut self, conn: ConnId, body: &[u8], now: i64) {
        self.counters.received += 1;
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.received += 1;
        let session_id = c.session_id;
        if !self.live.contains_key(&session_id) {
            // Expired while this connection was still open.
            self.batch.out.push(Out::Close(conn));
            return;
        }
        self.touch(session_id, now);
        let (h, req) = match records::decode_request(body) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(conn, error = %e, "malformed request; replying MARSHALLINGERROR and closing");
                if body.len() >= 4 {
                    let x = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                    let z = self.tree.last_zxid;
                    self.send(conn, records::reply(x, z, ErrorCode::MarshallingError));
                }
                self.batch.out.push(Out::Close(conn));
                return;
            }
        };
        if self.conns.get(&conn).is_some_and(|c| c.read_only) {
            if is_write(&req) || matches!(req, Request::Sync { .. }) {
                let z = self.tree.last_zxid;
                self.send(conn, records::reply(h.xid, z, ErrorCode::NotReadOnly));
            } else {
                self.handle(conn, session_id, h, req, now);
            }
            return;
        }
        match self.role {
            Role::Follower => self.follower_request(conn, session_id, h, req, body, now),
            Role::Looking => self.batch.out.push(Out::Close(conn)),
            Role::Leader | Role::Standalone => self.handle(conn, session_id, h, req, now),
        }
    }

    fn handle(&mut self, conn: ConnId, session_id: i64, h: RequestHeader, req: Request, now: i64) {
        let last = self.tree.last_zxid;
        match req {
            Request::Ping => self.send(conn, records::reply(xid::PING, last, ErrorCode::Ok)),
            Request::Read(r) => {
                let frame = self.read(conn, h.xid, &r);
                self.send(conn, frame);
            }
            Request::MultiRead(ops) => {
                let frame = self.multi_read(conn, h.xid, &ops);
                self.send(conn, frame);
            }
            Request::Write(_) | Request::SetAcl { .. } | Request::Multi(_) | Request::CloseSession | Request::Reconfig { .. } => {
                let Some(c) = self.conns.get(&conn) else { return };
                let (auth, addr) = (c.auth.clone(), c.addr);
                self.handle_write(Some(conn), &auth, Some(addr), session_id, h, req, now);
            }
            Request::Sync { path } => {
                let mut w = records::reply_header(h.xid, last, ErrorCode::Ok);
                w.ustring(&path);
                self.send(conn, w.finish_frame());
            }
            Request::Auth { scheme, auth, .. } => {
                let id = match scheme.as_str() {
                    "digest" => std::str::from_utf8(&auth)
                        .ok()
                        .filter(|s| s.contains(':'))
                        .map(|s| Id { scheme: "digest".into(), id: crate::tree::acl::digest(s) }),
                    "ip" => self.conns.get(&conn).map(|c| Id { scheme: "ip".into(), id: c.addr.to_string() }),
                    _ => None,
                };
                // As ZooKeeper's DigestAuthenticationProvider: the super digest adds ("super", "").
                let is_super = id.as_ref().is_some_and(|i| i.scheme == "digest" && self.limits.super_digest.as_deref() == Some(i.id.as_str()));
                match id {
                    Some(id) => {
                        if let Some(c) = self.conns.get_mut(&conn) {
                            if is_super && !c.auth.iter().any(|i| i.scheme == "super") {
                                c.auth.push(Id { scheme: "super".into(), id: String::new() });
                            }
                            if !c.auth.contains(&id) {
                                c.auth.push(id);
                            }
                        }
                        // ZooKeeper echoes the request's xid (-4 from the Java client, a counter from others).
                        self.send(conn, records::reply(h.xid, 0, ErrorCode::Ok));
                    }
                    None => {
                        tracing::info!(conn, scheme, "authentication failed");
                        self.send(conn, records::reply(h.xid, 0, ErrorCode::AuthFailed));
                        self.batch.out.push(Out::Close(conn));
                    }
                }
            }
            Request::SetWatches { relative_zxid, data, exist, child, persistent, recursive } => {
                self.set_watches(conn, relative_zxid, &data, &exist, &child, &persistent, &recursive);
                self.send(conn, records::reply(h.xid, last, ErrorCode::Ok));
            }
            Request::AddWatch { path, mode } => {
                let kind = match mode {
                    0 => Some(Kind::Persistent),
                    1 => Some(Kind::Recursive),
                    _ => None,
                };
                match kind {
                    Some(k) if crate::tree::path::validate(&path, false).is_ok() => {
                        self.watches.add(conn, k, &path);
                        // The Java client reads an ErrorResponse{err} body here.
                        let mut w = records::reply_header(h.xid, last, ErrorCode::Ok);
                        w.int(0);
                        self.send(conn, w.finish_frame());
                    }
                    _ => self.send(conn, records::reply(h.xid, last, ErrorCode::BadArguments)),
                }
            }
            Request::RemoveWatches { path, watcher_type, remove } => {
                let found = if remove {
                    self.watches.remove(conn, &path, watcher_type)
                } else {
                    self.watches.has(conn, &path, watcher_type)
                };
                let err = if found { ErrorCode::Ok } else { ErrorCode::NoWatcher };
                self.send(conn, records::reply(h.xid, last, err));
            }
            Request::GetAllChildrenNumber { path } => {
                let frame = match self.read_check(conn, &path, crate::proto::codes::perm::READ) {
                    Err(e) => records::reply(h.xid, last, e),
                    Ok(()) => {
                        let mut w = records::reply_header(h.xid, last, ErrorCode::Ok);
                        w.int(self.tree.descendant_count(&path) as i32);
                        w.finish_frame()
                    }
                };
                self.send(conn, frame);
            }
            Request::GetEphemerals { prefix } => {
                let list: Vec<String> = self
                    .tree
                    .ephemerals_of(session_id)
                    .filter(|p| prefix == "/" || p.starts_with(&prefix))
                    .cloned()
                    .collect();
                let mut w = records::reply_header(h.xid, last, ErrorCode::Ok);
                w.strings(&list);
                self.send(conn, w.finish_frame());
            }
            Request::WhoAmI => {
                let ids = self.conns.get(&conn).map(|c| c.auth.clone()).unwrap_or_default();
                let mut w = records::reply_header(h.xid, last, ErrorCode::Ok);
                w.int(ids.len() as i32);
                for id in &ids {
                    // Digest identities show the user name only (`getUserName`).
                    let user = if id.scheme == "digest" { id.id.split(':').next().unwrap_or("") } else { &id.id };
                    w.ustring(&id.scheme).ustring(user);
                }
                self.send(conn, w.finish_frame());
            }
            Request::Unimplemented { opcode } => {
                tracing::debug!(conn, opcode, "unimplemented opcode");
                self.send(conn, records::reply(h.xid, last, ErrorCode::Unimplemented));
            }
        }
    }

    /// Decides a write (here, or on the leader for a follower's client: `reply_to` None) and
    /// answers it.
    #[allow(clippy::too_many_arguments)]
    fn handle_write(&mut self, reply_to: Option<ConnId>, auth: &[Id], addr: Option<IpAddr>, session_id: i64, h: RequestHeader, req: Request, now: i64) {
        let who = Caller { session_id, auth, addr, skip_acl: self.limits.skip_acl };
        let reply = |p: &mut Processor, frame: Vec<u8>| {
            if let Some(c) = reply_to {
                p.send(c, frame);
            }
        };
        match req {
            Request::Write(w) => {
                let (zxid, result) = match prep::prep_write(&self.tree, &w, &who, self.limits.max_buffer) {
                    Ok(t) => self.commit(session_id, h.xid, now, t),
                    Err(e) => self.commit(session_id, h.xid, now, Txn::Error { err: e.code() }),
                };
                reply(self, write_reply(h.xid, zxid, &w, &result));
            }
            Request::SetAcl { path, acl, version } => {
                let t = prep::prep_set_acl(&self.tree, &path, &acl, version, &who).unwrap_or_else(|e| Txn::Error { err: e.code() });
                let (z, r) = self.commit(session_id, h.xid, now, t);
                reply(self, set_acl_reply(h.xid, z, &r));
            }
            Request::Multi(ops) => self.multi(reply_to, &who, h.xid, &ops, now),
            Request::Reconfig { joining, leaving, new_members, cur_config_id } => {
                match self.plan_reconfig(&who, &joining, &leaving, &new_members, cur_config_id) {
                    Ok(steps) => self.batch.reconfig = Some(ReconfigPlan { session_id, cxid: h.xid, reply_to, steps }),
                    Err(e) => {
                        let (z, _) = self.commit(session_id, h.xid, now, Txn::Error { err: e.code() });
                        reply(self, records::reply(h.xid, z, e));
                    }
                }
            }
            Request::CloseSession => {
                let (z, _) = self.commit(session_id, h.xid, now, Txn::CloseSession);
                self.live.remove(&session_id);
                reply(self, records::reply(h.xid, z, ErrorCode::Ok));
                if let Some(c) = reply_to {
                    self.batch.out.push(Out::Close(c));
                }
            }
            _ => {}
        }
    }

    fn multi(&mut self, reply_to: Option<ConnId>, who: &Caller, cxid: i32, ops: &[WriteOp], now: i64) {
        let session_id = who.session_id;
        let h = TxnHeader { session_id, cxid, zxid: self.next_zxid(), time: now };
        // Each op is validated against the tree as changed by the ones before it; on a
        // failure the applied ones are rolled back and the multi is logged as errors.
        let mut undo = Vec::new();
        let mut changes = Vec::new();
        let mut txns = Vec::with_capacity(ops.len());
        let mut results = Vec::with_capacity(ops.len());
        let mut failed: Option<(usize, ErrorCode)> = None;
        for (i, w) in ops.iter().enumerate() {
            match prep::prep_write(&self.tree, w, who, self.limits.max_buffer) {
                Ok(t) => {
                    results.push(self.tree.apply_undoable(&h, &t, &mut changes, &mut undo));
                    txns.push(t);
                }
                Err(e) => {
                    failed = Some((i, e));
                    break;
                }
            }
        }
        let txn = if let Some((at, e)) = failed {
            self.tree.rollback(undo);
            changes.clear();
            let errs: Vec<i32> = (0..ops.len())
                .map(|i| match i.cmp(&at) {
                    std::cmp::Ordering::Less => 0,
                    std::cmp::Ordering::Equal => e.code(),
                    std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency.code(),
                })
                .collect();
            results = errs.iter().map(|e| OpResult::Error { err: *e }).collect();
            Txn::Multi(errs.into_iter().map(|err| Txn::Error { err }).collect())
        } else {
            Txn::Multi(txns)
        };
        self.tree.last_zxid = h.zxid;
        self.fire(&changes);
        self.batch.txns.push((h, txn));
        if let Some(conn) = reply_to {
            self.send(conn, multi_reply(cxid, h.zxid, ops, &results));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn set_watches(&mut self, conn: ConnId, rel: i64, data: &[String], exist: &[String], child: &[String], persistent: &[String], recursive: &[String]) {
        use crate::proto::codes::event;
        let mut events = Vec::new();
        for p in data {
            match self.tree.get(p) {
                None => events.push((event::NODE_DELETED, p.clone())),
                Some(n) if n.stat.mzxid > rel => events.push((event::NODE_DATA_CHANGED, p.clone())),
                Some(_) => self.watches.add(conn, Kind::Data, p),
            }
        }
        for p in exist {
            match self.tree.get(p) {
                Some(_) => events.push((event::NODE_CREATED, p.clone())),
                None => self.watches.add(conn, Kind::Data, p),
            }
        }
        for p in child {
            match self.tree.get(p) {
                None => events.push((event::NODE_DELETED, p.clone())),
                Some(n) if n.stat.pzxid > rel => events.push((event::NODE_CHILDREN_CHANGED, p.clone())),
                Some(_) => self.watches.add(conn, Kind::Child, p),
            }
        }
        for p in persistent {
            self.watches.add(conn, Kind::Persistent, p);
        }
        for p in recursive {
            self.watches.add(conn, Kind::Recursive, p);
        }
        for (ty, p) in events {
            self.send(conn, records::watch_event(-1, ty, &p));
        }
    }

    /// Periodic work: session expiry, container and TTL cleanup.
    pub fn tick(&mut self, now: i64) {
        self.expire_held_connects(now);
        match self.role {
            Role::Follower => return self.follower_tick(now),
            Role::Looking => return,
            Role::Leader | Role::Standalone => {}
        }
        let mut expired: Vec<i64> = self.live.iter().filter(|(_, l)| l.deadline <= now).map(|(id, _)| *id).collect();
        expired.sort_unstable();
        for sid in expired {
            tracing::info!(session = format_args!("{:#x}", sid), "session expired");
            let l = self.live.remove(&sid);
            self.commit(sid, 0, now, Txn::CloseSession);
            if let Some(c) = l.and_then(|l| l.conn) {
                self.batch.out.push(Out::Close(c));
            }
        }
        if now - self.last_container_check >= self.limits.container_check_ms {
            self.last_container_check = now;
            let mut doomed = Vec::new();
            for p in self.tree.containers() {
                if let Some(n) = self.tree.get(p) {
                    if n.children.is_empty() && n.stat.cversion > 0 {
                        doomed.push(p.clone());
                    }
                }
            }
            for p in self.tree.ttls() {
                if let Some(n) = self.tree.get(p) {
                    if let OwnerKind::Ttl(ttl) = crate::proto::codes::owner_kind(n.stat.ephemeral_owner) {
                        if n.children.is_empty() && now - n.stat.mtime > ttl {
                            doomed.push(p.clone());
                        }
                    }
                }
            }
            for p in doomed {
                self.commit(0, 0, now, Txn::Delete { path: p });
            }
        }
    }

}

/// Reply body of a single write.
fn write_reply(xid_: i32, zxid: i64, w: &WriteOp, r: &OpResult) -> Vec<u8> {
    let mut out = records::reply_header(xid_, zxid, ErrorCode::Ok);
    match (w, r) {
        (WriteOp::Create { opcode, .. }, OpResult::Created { path, stat }) => {
            out.ustring(path);
            if *opcode != op::CREATE {
                stat.write(&mut out);
            }
        }
        (WriteOp::SetData { .. }, OpResult::DataSet { stat }) => stat.write(&mut out),
        (_, OpResult::Error { err }) => {
            let mut e = Writer::framed();
            e.int(xid_).long(zxid).int(*err);
            return e.finish_frame();
        }
        _ => {}
    }
    out.finish_frame()
}

fn set_acl_reply(xid_: i32, zxid: i64, r: &OpResult) -> Vec<u8> {
    match r {
        OpResult::AclSet { stat } => {
            let mut w = records::reply_header(xid_, zxid, ErrorCode::Ok);
            stat.write(&mut w);
            w.finish_frame()
        }
        OpResult::Error { err } => {
            let mut e = Writer::framed();
            e.int(xid_).long(zxid).int(*err);
            e.finish_frame()
        }
        _ => records::reply(xid_, zxid, ErrorCode::SystemError),
    }
}

fn multi_reply(xid_: i32, zxid: i64, ops: &[WriteOp], results: &[OpResult]) -> Vec<u8> {
    let mut w = records::reply_header(xid_, zxid, ErrorCode::Ok);
    for (i, r) in results.iter().enumerate() {
        write_multi_result(&mut w, ops.get(i), r);
    }
    w.int(-1).boolean(true).int(-1);
    w.finish_frame()
}

/// The reply to a write request, from the result of applying its transaction.
fn reply_for(req: &Request, xid_: i32, zxid: i64, r: &OpResult) -> Vec<u8> {
    match (req, r) {
        (Request::Write(w), _) => write_reply(xid_, zxid, w, r),
        (Request::SetAcl { .. }, _) => set_acl_reply(xid_, zxid, r),
        (Request::Multi(ops), OpResult::Multi(results)) => multi_reply(xid_, zxid, ops, results),
        (_, OpResult::Error { err }) => {
            let mut e = Writer::framed();
            e.int(xid_).long(zxid).int(*err);
            e.finish_frame()
        }
        _ => records::reply(xid_, zxid, ErrorCode::Ok),
    }
}

/// Requests the leader decides.
fn is_write(req: &Request) -> bool {
    matches!(req, Request::Write(_) | Request::SetAcl { .. } | Request::Multi(_) | Request::CloseSession | Request::Reconfig { .. })
}

/// The reply to `reconfig` and `getConfig`: the config node's data and stat.
pub fn config_reply(tree: &DataTree, xid_: i32, zxid: i64) -> Vec<u8> {
    let mut w = records::reply_header(xid_, zxid, ErrorCode::Ok);
    match tree.get(crate::membership::CONFIG_NODE) {
        Some(n) => {
            w.payload(&n.data);
            n.stat().write(&mut w);
        }
        None => {
            w.buffer(&[]);
            crate::proto::records::Stat::default().write(&mut w);
        }
    }
    w.finish_frame()
}

/// One `MultiHeader{type, done=false, err}` plus the result body.
fn write_multi_result(w: &mut Writer, opr: Option<&WriteOp>, r: &OpResult) {
    match r {
        OpResult::Created { path, stat } => {
            // Inside a multi ZooKeeper 3.8 answers create and create2 alike: type create,
            // path only; container and TTL creates carry their Stat.
            let plain = matches!(opr, Some(WriteOp::Create { opcode: op::CREATE | op::CREATE2, .. }));
            w.int(if plain { op::CREATE } else { op::CREATE2 }).boolean(false).int(0).ustring(path);
            if !plain {
                stat.write(w);
            }
        }
        OpResult::Deleted => {
            w.int(op::DELETE).boolean(false).int(0);
        }
        OpResult::DataSet { stat } => {
            w.int(op::SET_DATA).boolean(false).int(0);
            stat.write(w);
        }
        OpResult::Checked => {
            w.int(op::CHECK).boolean(false).int(0);
        }
        OpResult::Error { err } => {
            w.int(op::ERROR).boolean(false).int(*err).int(*err);
        }
        OpResult::AclSet { .. } | OpResult::Multi(_) | OpResult::Session => {
            w.int(op::ERROR).boolean(false).int(ErrorCode::SystemError.code()).int(ErrorCode::SystemError.code());
        }
    }
}

#[cfg(test)]
mod tests;
