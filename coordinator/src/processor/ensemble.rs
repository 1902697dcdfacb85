//! The processor's ensemble duties, still without I/O.
//!
//! Follower: reads are answered from the local tree (which holds committed transactions only);
//! writes and syncs go to the leader and are answered when the committed transaction comes back
//! (`apply_committed`), and a session's later requests wait behind them, so each session sees
//! its requests answered in order and a read after a write sees the write. Sessions connected
//! here are reported to the leader on every tick; the leader alone expires sessions.
//!
//! Leader: decides the writes of its own clients and those forwarded by followers; the caller
//! proposes the resulting transactions and releases replies once they are committed.

use std::net::IpAddr;

use super::prep::Caller;
use super::{config_reply, is_write, reply_for, Live, Out, Pending, Processor, Role};
use crate::config::ServerLine;
use crate::membership;
use crate::consensus::wire::PeerMsg;
use crate::proto::codes::ErrorCode;
use crate::proto::records::{self, Id, Request, RequestHeader};
use crate::tree::{DataTree, OpResult};
use crate::txn::{self, Txn};
use crate::watches::ConnId;

impl Processor {
    /// A request on a follower's session.
    pub(super) fn follower_request(&mut self, conn: ConnId, session_id: i64, h: RequestHeader, req: Request, body: &[u8], now: i64) {
        let queued = self.pending.get(&session_id).is_some_and(|q| !q.is_empty());
        if is_write(&req) {
            let (addr, auth) = match self.conns.get(&conn) {
                Some(c) => (c.addr.to_string(), c.auth.clone()),
                None => return,
            };
            self.pending.entry(session_id).or_default().push_back(Pending::Write { conn, xid: h.xid, req, since: now });
            self.batch.to_leader.push(PeerMsg::Forward { session_id, addr, auth, body: body.to_vec() });
        } else if let Request::Sync { path } = req {
            if !queued {
                self.syncing.insert(session_id);
            }
            self.pending.entry(session_id).or_default().push_back(Pending::Sync { conn, xid: h.xid, path, index: None, since: now });
            self.batch.to_leader.push(PeerMsg::SyncRequest { session_id, xid: h.xid });
        } else if queued {
            self.pending.entry(session_id).or_default().push_back(Pending::Later { conn, h, req });
        } else {
            self.handle(conn, session_id, h, req, now);
        }
    }

    /// A committed log entry (`data` empty: the no-op a new leader commits first). Entries this
    /// server applied when it decided them (as leader) are skipped. An entry that does not decode
    /// is an error: the log is damaged or was written by an incompatible version.
    pub fn apply_committed(&mut self, index: u64, data: &[u8], now: i64) -> Result<(), String> {
        if index as i64 <= self.tree.last_zxid {
            return Ok(());
        }
        if index as i64 != self.tree.last_zxid + 1 {
            return Err(format!("committed entry {index} does not follow the applied zxid {:#x}", self.tree.last_zxid));
        }
        if data.is_empty() {
            self.tree.last_zxid = index as i64;
            return Ok(());
        }
        let data = crate::consensus::parse_conf(data).map_or(data, |(_, payload)| payload);
        let (mut h, t) = txn::decode_record(data).map_err(|e| format!("committed entry {index} does not decode: {e}"))?;
        h.zxid = index as i64;
        let mut changes = Vec::new();
        let r = self.tree.apply(&h, &t, &mut changes);
        self.fire(&changes);
        self.answer_committed(h.session_id, h.cxid, h.zxid, &t, r, now);
        Ok(())
    }

    fn answer_committed(&mut self, session_id: i64, cxid: i32, zxid: i64, t: &Txn, r: OpResult, now: i64) {
        match t {
            Txn::CreateSession { timeout, .. } => {
                if let Some((conn, _, read_only)) = self.pending_connects.remove(&session_id) {
                    if self.conns.contains_key(&conn) {
                        self.finish_connect(conn, session_id, *timeout, read_only, now);
                    }
                }
                if self.role == Role::Leader {
                    let conn = self.live.get(&session_id).and_then(|l| l.conn);
                    self.live.insert(session_id, Live { deadline: now + *timeout as i64, timeout: *timeout, conn });
                }
                return;
            }
            Txn::CloseSession => {
                let conn = self.live.remove(&session_id).and_then(|l| l.conn);
                if let Some(Pending::Write { conn, xid, .. }) = self.pending.get(&session_id).and_then(|q| q.front()) {
                    if *xid == cxid {
                        let (c, x) = (*conn, *xid);
                        self.send(c, records::reply(x, zxid, ErrorCode::Ok));
                    }
                }
                self.pending.remove(&session_id);
                self.syncing.remove(&session_id);
                if let Some(c) = conn {
                    self.batch.out.push(Out::Close(c));
                }
                return;
            }
            _ => {}
        }
        let matches = matches!(self.pending.get(&session_id).and_then(|q| q.front()), Some(Pending::Write { xid, .. }) if *xid == cxid);
        if !matches {
            return;
        }
        if let Some(Pending::Write { conn, xid, req, .. }) = self.pending.get_mut(&session_id).and_then(|q| q.pop_front()) {
            let frame = match (&req, &r) {
                (Request::Reconfig { .. }, OpResult::DataSet { .. }) => config_reply(&self.tree, xid, zxid),
                _ => reply_for(&req, xid, zxid, &r),
            };
            self.send(conn, frame);
        }
        self.drain(session_id, now);
    }

    /// Answers the requests held behind a session's head until the next write or sync.
    fn drain(&mut self, session_id: i64, now: i64) {
        loop {
            let Some(q) = self.pending.get_mut(&session_id) else { return };
            match q.front() {
                None => {
                    self.pending.remove(&session_id);
                    return;
                }
                Some(Pending::Later { .. }) => {
                    if let Some(Pending::Later { conn, h, req }) = q.pop_front() {
                        self.handle(conn, session_id, h, req, now);
                    }
                }
                Some(Pending::Sync { .. }) => {
                    self.syncing.insert(session_id);
                    self.advance_sync(session_id, now);
                    return;
                }
                Some(Pending::Write { .. }) => return,
            }
        }
    }

    /// Answers a session's head sync when this server has caught up with the leader's index.
    fn advance_sync(&mut self, session_id: i64, now: i64) {
        let ready = matches!(self.pending.get(&session_id).and_then(|q| q.front()),
            Some(Pending::Sync { index: Some(i), .. }) if *i as i64 <= self.tree.last_zxid);
        if !ready {
            return;
        }
        self.syncing.remove(&session_id);
        if let Some(Pending::Sync { conn, xid, path, .. }) = self.pending.get_mut(&session_id).and_then(|q| q.pop_front()) {
            let mut w = records::reply_header(xid, self.tree.last_zxid, ErrorCode::Ok);
            w.ustring(&path);
            self.send(conn, w.finish_frame());
        }
        self.drain(session_id, now);
    }

    /// The leader's answer to a sync: its commit index when it received it.
    pub fn sync_reply(&mut self, session_id: i64, xid: i32, index: u64, now: i64) {
        if let Some(q) = self.pending.get_mut(&session_id) {
            for p in q.iter_mut() {
                if let Pending::Sync { xid: x, index: i @ None, .. } = p {
                    if *x == xid {
                        *i = Some(index);
                        break;
                    }
                }
            }
        }
        self.advance_sync(session_id, now);
    }

    /// After a batch of committed entries: syncs and held connections that have caught up.
    pub fn advance_syncs(&mut self, now: i64) {
        self.retry_held_connects(now);
        let waiting: Vec<i64> = self.syncing.iter().copied().collect();
        for s in waiting {
            self.advance_sync(s, now);
        }
    }

    /// A follower's tick: reports the sessions connected here, and gives up on requests the
    /// leader has not answered within the session timeout (the client sees a connection loss
    /// and retries, as after any leader change).
    pub(super) fn follower_tick(&mut self, now: i64) {
        // Only sessions whose client was heard from within its timeout are kept alive: a client
        // that vanished without closing its connection (a cut cable, a frozen host) lets its
        // session expire on the leader, as ZooKeeper's learners report only touched sessions.
        let sessions: Vec<i64> = self.live.iter().filter(|(_, l)| l.conn.is_some() && l.deadline > now).map(|(s, _)| *s).collect();
        if !sessions.is_empty() {
            self.batch.to_leader.push(PeerMsg::Touch { sessions });
        }
        let silent: Vec<(i64, ConnId)> = self.live.iter().filter(|(_, l)| l.deadline <= now).filter_map(|(s, l)| l.conn.map(|c| (*s, c))).collect();
        for (sid, conn) in silent {
            tracing::info!(session = format_args!("{sid:#x}"), "client silent for its whole session timeout; closing its connection");
            if let Some(l) = self.live.get_mut(&sid) {
                l.conn = None;
            }
            self.close_conn(conn);
        }
        let mut stuck = Vec::new();
        for (sid, q) in &self.pending {
            let (conn, since) = match q.front() {
                Some(Pending::Write { conn, since, .. } | Pending::Sync { conn, since, .. }) => (*conn, *since),
                _ => continue,
            };
            let timeout = self.live.get(sid).map_or(self.limits.max_session_timeout, |l| l.timeout) as i64;
            if now - since > timeout {
                stuck.push((*sid, conn));
            }
        }
        for (sid, conn) in stuck {
            tracing::warn!(session = format_args!("{sid:#x}"), "the leader did not answer in time; closing the connection");
            self.pending.remove(&sid);
            self.syncing.remove(&sid);
            self.close_conn(conn);
        }
    }

    fn close_conn(&mut self, conn: ConnId) {
        self.batch.out.push(Out::Close(conn));
    }

    /// A write forwarded by a follower, decided here like a local one but answered there.
    pub fn remote_request(&mut self, session_id: i64, addr: &str, auth: &[Id], body: &[u8], now: i64) {
        let addr: Option<IpAddr> = addr.parse().ok();
        let (h, req) = match records::decode_request(body) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(session = format_args!("{session_id:#x}"), error = %e, "a follower forwarded a request that does not decode");
                if body.len() >= 4 {
                    let xid = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                    self.commit(session_id, xid, now, Txn::Error { err: ErrorCode::MarshallingError.code() });
                }
                return;
            }
        };
        if !self.tree.sessions.contains_key(&session_id) {
            self.commit(session_id, h.xid, now, Txn::Error { err: ErrorCode::SessionExpired.code() });
            return;
        }
        self.touch(session_id, now);
        if is_write(&req) {
            self.handle_write(None, auth, addr, session_id, h, req, now);
        }
    }

    pub fn remote_create_session(&mut self, session_id: i64, timeout: i32, passwd: Vec<u8>, now: i64) {
        if self.tree.sessions.contains_key(&session_id) {
            return;
        }
        let timeout = self.negotiate(timeout);
        self.commit(session_id, 0, now, Txn::CreateSession { timeout, passwd });
        self.live.insert(session_id, Live { deadline: now + timeout as i64, timeout, conn: None });
    }

    pub fn remote_touch(&mut self, sessions: &[i64], now: i64) {
        for s in sessions {
            self.touch(*s, now);
        }
    }

    /// Changes this server's role. Requests in flight through another leader are given up
    /// (their connections close; clients reconnect and retry, as with ZooKeeper), and without a
    /// leader every connection closes.
    pub fn set_role(&mut self, role: Role, now: i64) {
        let was = self.role;
        self.role = role;
        let mut doomed: Vec<ConnId> = Vec::new();
        for q in self.pending.values() {
            for p in q {
                match p {
                    Pending::Write { conn, .. } | Pending::Sync { conn, .. } | Pending::Later { conn, .. } => doomed.push(*conn),
                }
            }
        }
        doomed.extend(self.pending_connects.values().map(|(c, _, _)| *c));
        self.pending.clear();
        self.syncing.clear();
        self.pending_connects.clear();
        // Read-only sessions end when the quorum is back (their clients look for a server
        // that takes writes), and without a quorum only read-only sessions remain.
        doomed.extend(self.conns.iter().filter(|(_, c)| c.read_only || role == Role::Looking).map(|(id, _)| *id));
        match role {
            Role::Looking => {}
            Role::Leader => {
                // Every session gets a full timeout from now to find a server, as after a
                // ZooKeeper leader election.
                let local: std::collections::HashMap<i64, ConnId> =
                    self.conns.iter().filter(|(_, c)| c.connected).map(|(id, c)| (c.session_id, *id)).collect();
                self.live = self
                    .tree
                    .sessions
                    .iter()
                    .map(|(id, s)| (*id, Live { deadline: now + s.timeout as i64, timeout: s.timeout, conn: local.get(id).copied() }))
                    .collect();
            }
            Role::Follower => {
                // Only sessions connected here are this server's to report.
                self.live.retain(|_, l| l.conn.is_some());
            }
            Role::Standalone => {}
        }
        doomed.sort_unstable();
        doomed.dedup();
        if !doomed.is_empty() {
            tracing::info!(from = ?was, to = ?role, connections = doomed.len(), "closing client connections on a role change");
        }
        for c in doomed {
            self.close_conn(c);
        }
        self.retry_held_connects(now);
    }

    /// Answers held connection requests that can be answered now (a leader is known and this
    /// server has caught up with what each client has seen); the others wait on.
    pub fn retry_held_connects(&mut self, now: i64) {
        if self.role == Role::Looking || self.held_connects.is_empty() {
            return;
        }
        for (conn, body, since) in std::mem::take(&mut self.held_connects) {
            if self.conns.contains_key(&conn) {
                let before = self.held_connects.len();
                self.connect(conn, &body, now);
                if self.held_connects.len() > before {
                    // Still waiting: keep its first arrival time for the expiry.
                    if let Some(h) = self.held_connects.last_mut() {
                        h.2 = since;
                    }
                }
            }
        }
    }

    /// Connection requests held for a leader longer than the shortest session timeout are
    /// refused: the client tries another server.
    pub(super) fn expire_held_connects(&mut self, now: i64) {
        let limit = self.limits.min_session_timeout as i64;
        let (old, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held_connects).into_iter().partition(|(_, _, t)| now - *t > limit);
        self.held_connects = keep;
        for (conn, _, _) in old {
            tracing::info!(conn, "refusing a session: no leader in sight");
            self.close_conn(conn);
        }
    }

    /// Replaces the tree (a leader that lost its leadership goes back to the committed state)
    /// and closes every connection: what they were told may not be committed.
    pub fn replace_tree(&mut self, tree: DataTree) {
        self.tree = tree;
        let all: Vec<ConnId> = self.conns.keys().copied().collect();
        for c in all {
            self.close_conn(c);
        }
        self.live.retain(|_, _| false);
        self.pending = Default::default();
        self.syncing.clear();
        self.pending_connects.clear();
    }

    /// Checks a `reconfig` and works out its steps (ZooKeeper's rules: reconfigEnabled, WRITE on
    /// /zookeeper/config unless skipACL, the expected config version, one change at a time).
    pub(super) fn plan_reconfig(&self, who: &Caller, joining: &str, leaving: &str, new_members: &str, cur_config_id: i64) -> Result<Vec<Vec<ServerLine>>, ErrorCode> {
        if !self.limits.reconfig_enabled {
            return Err(ErrorCode::ReconfigDisabled);
        }
        if self.role != Role::Leader {
            return Err(ErrorCode::Unimplemented);
        }
        super::prep::require(&self.tree, membership::CONFIG_NODE, crate::proto::codes::perm::WRITE, who)?;
        if self.reconfig_busy {
            return Err(ErrorCode::ReconfigInProgress);
        }
        let text = self.config_text();
        let current = membership::parse(&text).map_err(|_| ErrorCode::ReconfigInProgress)?;
        if current.is_empty() {
            return Err(ErrorCode::ReconfigInProgress);
        }
        if cur_config_id != -1 && cur_config_id != membership::version(&text) {
            return Err(ErrorCode::BadVersion);
        }
        let target = membership::target(&current, joining, leaving, new_members).map_err(|e| {
            tracing::info!(error = %e, "refusing reconfig");
            ErrorCode::BadArguments
        })?;
        Ok(membership::steps(&current, &target))
    }

    /// The text of /zookeeper/config.
    pub fn config_text(&self) -> String {
        self.tree.get(membership::CONFIG_NODE).and_then(|n| n.data.as_option().map(|d| String::from_utf8_lossy(d).into_owned())).unwrap_or_default()
    }

    /// On the leader: writes a membership into /zookeeper/config as the next transaction (its
    /// zxid becomes the config version) and returns it, for the caller to propose as a
    /// membership change; the client's reply (when `reply_to` is here) waits in the batch.
    pub fn config_step(&mut self, members: &[ServerLine], session_id: i64, cxid: i32, reply_to: Option<ConnId>, now: i64) -> (crate::txn::TxnHeader, Txn) {
        let zxid = self.tree.last_zxid + 1;
        let text = membership::render(members, zxid);
        let version = self.tree.get(membership::CONFIG_NODE).map_or(0, |n| n.stat.version) + 1;
        let txn = Txn::SetData { path: membership::CONFIG_NODE.into(), data: text.into_bytes().into(), version };
        let (z, _) = self.commit(session_id, cxid, now, txn);
        if let Some(c) = reply_to {
            let frame = config_reply(&self.tree, cxid, z);
            self.send(c, frame);
        }
        self.batch.txns.pop().expect("the step's transaction")
    }

    /// Records a membership in /zookeeper/config as an ordinary transaction (the first leader
    /// does, so every member's tree holds the same text).
    pub fn write_config(&mut self, members: &[ServerLine], now: i64) {
        let zxid = self.tree.last_zxid + 1;
        let text = membership::render(members, zxid);
        let version = self.tree.get(membership::CONFIG_NODE).map_or(0, |n| n.stat.version) + 1;
        self.commit(0, 0, now, Txn::SetData { path: membership::CONFIG_NODE.into(), data: text.into_bytes().into(), version });
    }

    /// Sessions this server holds a connection for.
    pub fn local_session_count(&self) -> usize {
        self.live.values().filter(|l| l.conn.is_some()).count()
    }
}
