//! The tokio layer: accepts connections, runs the processor loop with group commit, serves
//! four-letter words and the admin HTTP endpoint, shuts down gracefully.

pub mod admin;
pub mod commands;
pub mod connection;
pub mod ensemble;
pub mod peers;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::processor::{Limits, Out, Processor};
use crate::proto::codes::ErrorCode;
use crate::proto::records;
use crate::storage::Storage;
use crate::watches::ConnId;

/// What connections and the admin endpoint send to the processor loop.
pub enum Input {
    Opened { conn: ConnId, addr: IpAddr, peer: String, out: mpsc::Sender<Vec<u8>> },
    Connect { conn: ConnId, body: Vec<u8> },
    Frame { conn: ConnId, body: Vec<u8> },
    Oversized { conn: ConnId, xid: i32 },
    Closed { conn: ConnId },
    FourLetter { word: &'static str, peer: String, reply: oneshot::Sender<String> },
    Admin { name: String, reply: oneshot::Sender<Option<serde_json::Value>> },
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("failed to listen on {addr} ({what}): {source}")]
    Bind { what: &'static str, addr: String, source: std::io::Error },
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error("{0}")]
    Unsupported(String),
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Addresses a running server listens on (for tests and logs).
#[derive(Debug, Clone)]
pub struct Bound {
    pub client: std::net::SocketAddr,
    pub admin: Option<std::net::SocketAddr>,
}

/// Starts the server; it runs until `shutdown` resolves.
pub async fn run(
    cfg: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    bound: Option<oneshot::Sender<Bound>>,
) -> Result<(), ServerError> {
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    if cfg.skip_acl {
        tracing::warn!("skipACL=yes: every ACL check is skipped, as in ZooKeeper");
    }
    let is_ensemble = cfg.servers.len() > 1;
    let (store, tree) = if is_ensemble {
        if cfg.servers.iter().any(|s| s.role == "observer") {
            return Err(ServerError::Unsupported(format!("{}: observers are not supported yet; list every server as a participant", cfg.file)));
        }
        let r = ensemble::recover(&cfg)?;
        let tree = r.tree;
        (Store::Ensemble(r.log, r.hs, r.entries, r.snap), tree)
    } else {
        let (mut storage, tree) = Storage::open(&cfg.data_dir, &cfg.data_log_dir, cfg.snap_count)?;
        storage.snap_retain = cfg.snap_retain_count;
        storage.purge_enabled = cfg.purge_interval_hours > 0;
        if storage.purge_enabled {
            storage.purge_now();
        }
        (Store::Standalone(storage), tree)
    };
    // The quorum port of this member (bound before clients are accepted).
    let quorum_listener = if is_ensemble {
        let me = cfg.servers.iter().find(|s| s.id == cfg.my_id).ok_or_else(|| ServerError::Unsupported(format!("myid {} has no server line", cfg.my_id)))?;
        let addr = format!("{}:{}", me.host, me.quorum_port);
        let sock = peers::resolve(&addr).await.ok_or_else(|| ServerError::Bind { what: "quorum port", addr: addr.clone(), source: std::io::Error::other("cannot resolve the host of this server's line") })?;
        Some(TcpListener::bind(sock).await.map_err(|source| ServerError::Bind { what: "quorum port", addr, source })?)
    } else {
        None
    };

    let listener = TcpListener::bind(cfg.client_addr())
        .await
        .map_err(|source| ServerError::Bind { what: "clientPort", addr: cfg.client_addr().to_string(), source })?;
    let client_addr = listener.local_addr().map_err(|source| ServerError::Bind { what: "clientPort", addr: cfg.client_addr().to_string(), source })?;
    let admin_listener = if cfg.admin_enabled {
        let a = std::net::SocketAddr::new(cfg.admin_address, cfg.admin_port);
        Some(TcpListener::bind(a).await.map_err(|source| ServerError::Bind { what: "admin.serverPort", addr: a.to_string(), source })?)
    } else {
        None
    };
    let admin_addr = admin_listener.as_ref().and_then(|l| l.local_addr().ok());
    tracing::info!(client = %client_addr, admin = ?admin_addr, zxid = format_args!("{:#x}", tree.last_zxid), nodes = tree.node_count(), ensemble = is_ensemble, "strom-coordinator listening");
    if let Some(b) = bound {
        let _ = b.send(Bound { client: client_addr, admin: admin_addr });
    }

    let (in_tx, in_rx) = mpsc::channel::<Input>(8192);
    let limits = Limits {
        reconfig_enabled: cfg.reconfig_enabled,
        skip_acl: cfg.skip_acl,
        super_digest: cfg.super_digest.clone(),
        min_session_timeout: cfg.min_session_timeout,
        max_session_timeout: cfg.max_session_timeout,
        max_buffer: cfg.max_buffer,
        server_id: cfg.my_id,
        container_check_ms: cfg.container_check_ms,
    };
    let processor = Processor::new(tree, limits, now_ms());
    let max_frame = cfg.max_buffer + 1024;
    let cfg = Arc::new(cfg);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });

    if let Some(l) = admin_listener {
        let tx = in_tx.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = admin::serve(l, tx) => {}
                _ = stop.changed() => {}
            }
        });
    }

    // Accept loop with the per-address connection cap.
    let per_ip: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let accept_tx = in_tx.clone();
    let mut stop = stop_rx.clone();
    let max_cnxns = cfg.max_client_cnxns;
    let write_stall = Duration::from_millis(cfg.min_session_timeout.max(1000) as u64);
    let accept = tokio::spawn(async move {
        let mut next: ConnId = 1;
        loop {
            let (sock, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stop.changed() => break,
            };
            let ip = peer.ip();
            {
                let mut m = per_ip.lock().unwrap_or_else(|e| e.into_inner());
                let n = m.entry(ip).or_insert(0);
                if max_cnxns > 0 && *n >= max_cnxns {
                    tracing::warn!(%ip, max = max_cnxns, "too many connections from this address; closing the new one");
                    drop(sock);
                    continue;
                }
                *n += 1;
            }
            let conn = next;
            next += 1;
            let tx = accept_tx.clone();
            let per_ip = per_ip.clone();
            tokio::spawn(async move {
                connection::serve(conn, sock, tx, max_frame, write_stall).await;
                let mut m = per_ip.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(n) = m.get_mut(&ip) {
                    *n -= 1;
                    if *n == 0 {
                        m.remove(&ip);
                    }
                }
            });
        }
    });
    drop(in_tx);

    let result = match store {
        Store::Standalone(storage) => processor_loop(processor, storage, in_rx, stop_rx, cfg).await,
        Store::Ensemble(log, hs, entries, snap) => {
            let members = ensemble::members_of(&processor.tree, &cfg);
            let mut rcfg = ensemble::raft_config(&cfg, &members);
            rcfg.voters.sort_unstable();
            let raft = crate::consensus::raft::Raft::restore_from(rcfg, hs, snap.0, snap.1, entries);
            let (peer_tx, peer_rx) = mpsc::channel(16 * 1024);
            let others: Vec<(u64, String)> =
                cfg.servers.iter().filter(|s| s.id != cfg.my_id).map(|s| (s.id as u64, format!("{}:{}", s.host, s.quorum_port))).collect();
            let listener = quorum_listener.ok_or_else(|| ServerError::Unsupported("no quorum listener".into()))?;
            let (gone_tx, gone_rx) = mpsc::channel(64);
            let peers = peers::start(cfg.my_id as u64, listener, others, peer_tx, gone_tx, stop_rx.clone());
            let mut member = ensemble::Member { raft, log, peers, me: cfg.my_id as u64, lines: Default::default() };
            member.learn(cfg.servers.clone());
            member.learn(members);
            for e in member.raft.entries().to_vec() {
                if let Some(lines) = ensemble::conf_lines(&e.data) {
                    member.learn(lines);
                }
            }
            ensemble::run_loop(processor, member, in_rx, peer_rx, gone_rx, stop_rx, cfg).await
        }
    };
    accept.abort();
    result
}

enum Store {
    Standalone(Storage),
    Ensemble(crate::storage::raftlog::RaftLog, crate::consensus::HardState, Vec<crate::consensus::Entry>, (u64, u64)),
}

async fn processor_loop(
    mut p: Processor,
    mut storage: Storage,
    mut inputs: mpsc::Receiver<Input>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    cfg: Arc<Config>,
) -> Result<(), ServerError> {
    let started = Instant::now();
    let mut outs: HashMap<ConnId, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let tick_every = Duration::from_millis((cfg.tick_time as u64 / 2).clamp(10, 1000).min(cfg.container_check_ms.max(10) as u64));
    let mut ticker = tokio::time::interval(tick_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut purge_timer = tokio::time::interval(Duration::from_secs(cfg.purge_interval_hours.max(1) * 3600));
    purge_timer.tick().await;
    loop {
        let mut batch_inputs: Vec<Input> = Vec::new();
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            m = inputs.recv() => match m {
                Some(m) => batch_inputs.push(m),
                None => break,
            },
            _ = ticker.tick() => {}
            _ = purge_timer.tick() => {
                if storage.purge_enabled { storage.purge_now(); }
            }
        }
        while batch_inputs.len() < 4096 {
            match inputs.try_recv() {
                Ok(m) => batch_inputs.push(m),
                Err(_) => break,
            }
        }
        let now = crate::server::now_ms();
        let received_at = Instant::now();
        for m in batch_inputs {
            serve_input(&mut p, &mut outs, m, now, &cfg, started, None);
        }
        p.tick(now);
        let batch = p.take_batch();
        if !batch.txns.is_empty() {
            if let Err(e) = tokio::task::block_in_place(|| storage.append(&batch.txns)) {
                // The tree already holds changes that are not durable: stop rather than
                // acknowledge them. A restart recovers the durable state from disk.
                tracing::error!(error = %e, "transaction log write failed; shutting down without acknowledging the batch");
                return Err(e.into());
            }
            p.counters.record_latency(received_at.elapsed().as_millis() as u64);
        }
        deliver(batch.out, &mut outs, &mut p);
        if let Err(e) = storage.maybe_snapshot(&p.tree) {
            tracing::error!(error = %e, "failed to roll the transaction log for a snapshot");
            return Err(e.into());
        }
    }
    tracing::info!("shutting down");
    storage.finish();
    Ok(())
}

/// One input from a connection or the admin endpoint, handed to the processor (both loops).
pub(crate) fn serve_input(
    p: &mut Processor,
    outs: &mut HashMap<ConnId, mpsc::Sender<Vec<u8>>>,
    input: Input,
    now: i64,
    cfg: &Config,
    started: Instant,
    quorum: Option<&ensemble::QuorumView>,
) {
    match input {
        Input::Opened { conn, addr, peer, out } => {
            p.connection_opened(conn, addr, peer);
            outs.insert(conn, out);
        }
        Input::Connect { conn, body } => p.connect(conn, &body, now),
        Input::Frame { conn, body } => p.request(conn, &body, now),
        Input::Oversized { conn, xid } => {
            if let Some(tx) = outs.get(&conn) {
                let _ = tx.try_send(records::reply(xid, p.tree.last_zxid, ErrorCode::BadArguments));
            }
        }
        Input::Closed { conn } => {
            outs.remove(&conn);
            p.connection_closed(conn);
        }
        Input::FourLetter { word, peer, reply } => {
            let ctx = commands::Ctx { p, cfg, started, asking: Some(&peer), quorum };
            let _ = reply.send(commands::four_letter(&ctx, word));
        }
        Input::Admin { name, reply } => {
            let _ = reply.send(commands::admin(&commands::Ctx { p, cfg, started, asking: None, quorum }, &name));
        }
    }
}

/// Hands the processor's output to the connections; a client that does not read is closed.
pub(crate) fn deliver(out: Vec<Out>, outs: &mut HashMap<ConnId, mpsc::Sender<Vec<u8>>>, p: &mut Processor) {
    for o in out {
        match o {
            Out::Frame(conn, frame) => {
                if let Some(tx) = outs.get(&conn) {
                    if tx.try_send(frame).is_err() {
                        tracing::warn!(conn, "client is not reading its replies; closing its connection");
                        outs.remove(&conn);
                        p.connection_closed(conn);
                    }
                }
            }
            Out::Close(conn) => {
                outs.remove(&conn);
                p.connection_closed(conn);
            }
        }
    }
}
