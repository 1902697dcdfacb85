//! The tokio layer of an ensemble member: drives the consensus core (`consensus::raft`) with
//! ticks, peer messages and the leader's proposals, persists what it must before anything
//! leaves (`storage::raftlog`), applies committed entries to the processor, and holds the
//! leader's replies until what they report is committed.
//!
//! zxid = consensus log index: it grows across leader changes, and every server applies the
//! same entries at the same zxids. The epoch reported by `srvr`/`mntr` is the consensus term.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::{deliver, peers, Input, ServerError};
use crate::config::Config;
use crate::consensus::raft::{self, Raft, Role as RaftRole};
use crate::consensus::wire::PeerMsg;
use crate::consensus::{Entry, HardState, NodeId};
use crate::membership;
use crate::processor::{Out, Processor, Role};
use crate::storage::raftlog::RaftLog;
use crate::storage::{list, snapshot};
use crate::tree::DataTree;
use crate::txn;
use crate::watches::ConnId;

/// Consensus tick.
const TICK: Duration = Duration::from_millis(50);
/// Forwarded requests a new leader holds until it may serve.
const EARLY_LIMIT: usize = 100_000;

/// What a member recovered from disk.
pub struct Recovered {
    pub log: RaftLog,
    pub hs: HardState,
    /// Stored entries after the snapshot.
    pub entries: Vec<Entry>,
    pub tree: DataTree,
    /// The snapshot's index and the term of its entry (0, 0 without one).
    pub snap: (u64, u64),
}

/// Opens the consensus log and the newest snapshot the log continues.
pub fn recover(cfg: &Config) -> Result<Recovered, ServerError> {
    let (mut log, mut hs, mut entries) = RaftLog::open(&cfg.data_dir, &cfg.data_log_dir)?;
    let first = entries.first().map_or(u64::MAX, |e| e.index);
    // The log must continue the snapshot: no entry may be missing between them.
    let (tree, term) = newest_snapshot(&cfg.data_dir, u64::MAX, |i| first == u64::MAX || i + 1 >= first)?;
    let snap = tree.last_zxid as u64;
    log.compact(snap)?;
    if first != u64::MAX && first > snap + 1 {
        return Err(ServerError::Unsupported(format!(
            "the consensus log starts at entry {first} but the newest usable snapshot is at {snap}: entries are missing; \
             remove this server's dataDir/dataLogDir to let it copy the state from the leader"
        )));
    }
    entries.retain(|e| e.index > snap);
    // A snapshot only ever holds committed entries.
    hs.commit = hs.commit.max(snap).min(snap + entries.len() as u64);
    tracing::info!(term = hs.term, entries = entries.len(), commit = hs.commit, snapshot = format_args!("{snap:#x}"), "recovered consensus state");
    Ok(Recovered { log, hs, entries, tree, snap: (snap, term) })
}

/// The newest valid snapshot at or below `upto` that `usable` accepts (an empty tree without
/// one), and the term of its entry.
fn newest_snapshot(data_dir: &std::path::Path, upto: u64, usable: impl Fn(u64) -> bool) -> Result<(DataTree, u64), ServerError> {
    let dir = data_dir.join("version-2");
    for (zxid, path) in list(&dir, "snapshot").into_iter().rev() {
        let i = zxid as u64;
        if i > upto || !usable(i) {
            continue;
        }
        match snapshot::read_with_term(&path) {
            Ok(t) => return Ok(t),
            Err(e) => tracing::warn!(snapshot = %path.display(), error = %e, "skipping invalid snapshot"),
        }
    }
    Ok((DataTree::new(), 0))
}

/// Rebuilds the committed tree (a leader that lost leadership with undecided writes applied).
fn rebuild(data_dir: &std::path::Path, raft: &Raft) -> Result<DataTree, ServerError> {
    let commit = raft.commit_index();
    let offset = raft.first_index() - 1;
    let (mut tree, _) = newest_snapshot(data_dir, commit, |i| i >= offset)?;
    let from = tree.last_zxid as u64;
    for e in raft.entries().iter().filter(|e| e.index > from && e.index <= commit) {
        if e.data.is_empty() {
            tree.last_zxid = e.index as i64;
            continue;
        }
        let (mut h, t) = txn::decode_record(&e.data).map_err(|err| ServerError::Unsupported(format!("log entry {} does not decode: {err}", e.index)))?;
        h.zxid = e.index as i64;
        tree.apply(&h, &t, &mut Vec::new());
    }
    Ok(tree)
}

/// A view of the quorum for `srvr`, `mntr` and the admin commands.
#[derive(Debug, Clone, Default)]
pub struct QuorumView {
    pub term: u64,
    pub leader: Option<NodeId>,
    pub voters: usize,
    /// On the leader: followers, and those within a few entries of the leader.
    pub followers: usize,
    pub synced_followers: usize,
    pub max_follower_lag: u64,
}

pub struct Member {
    pub raft: Raft,
    pub log: RaftLog,
    pub peers: peers::Peers,
    pub me: NodeId,
    /// Every server line known (zoo.cfg's, then those of membership changes).
    pub lines: std::collections::BTreeMap<NodeId, crate::config::ServerLine>,
}

impl Member {
    /// Learns server lines (of a membership change or snapshot) and connects to new members.
    pub fn learn(&mut self, lines: Vec<crate::config::ServerLine>) {
        for l in lines {
            self.peers.ensure(l.id as NodeId, format!("{}:{}", l.host, l.quorum_port));
            self.lines.insert(l.id as NodeId, l);
        }
    }
}

/// The server lines a membership-change entry carries (its /zookeeper/config text).
pub fn conf_lines(data: &[u8]) -> Option<Vec<crate::config::ServerLine>> {
    let (_, payload) = crate::consensus::parse_conf(data)?;
    let (_, t) = txn::decode_record(payload).ok()?;
    match t {
        crate::txn::Txn::SetData { data, .. } => membership::parse(&String::from_utf8_lossy(data.as_option()?)).ok(),
        _ => None,
    }
}

fn quorum_view(raft: &Raft) -> QuorumView {
    let mut v = QuorumView { term: raft.term, leader: raft.leader, voters: raft.voters().len(), ..Default::default() };
    if raft.role == RaftRole::Leader {
        let last = raft.last_index();
        for (_, m) in raft.follower_matched() {
            v.followers += 1;
            let lag = last.saturating_sub(m);
            v.max_follower_lag = v.max_follower_lag.max(lag);
            if lag <= 100 {
                v.synced_followers += 1;
            }
        }
    }
    v
}

/// `members`: the membership at the restore point (the snapshot's, or zoo.cfg's).
pub fn raft_config(cfg: &Config, members: &[crate::config::ServerLine]) -> raft::Config {
    let voters: Vec<NodeId> = members.iter().filter(|s| s.role != "observer").map(|s| s.id as NodeId).collect();
    // A silent leader is given syncLimit x tickTime, as ZooKeeper's followers give it (a
    // timeout randomized between half that and all of it; 5-10 s with the defaults), so a GC
    // pause or a slow disk does not replace it. A leader that dies is noticed at once through
    // its closed connections (`leader_gone`), and one cut off steps down within that time.
    let election_ms = (cfg.sync_limit.max(1) as u64 * cfg.tick_time as u64 / 2).max(250);
    raft::Config {
        id: cfg.my_id as NodeId,
        voters,
        election_ticks: (election_ms / TICK.as_millis() as u64) as u32,
        heartbeat_ticks: 2,
        // Without a leader, try again after 0.5-1 s (tickTime/4 with the default 2 s).
        retry_ticks: ((cfg.tick_time as u64 / 4).max(100) / TICK.as_millis() as u64) as u32,
        max_batch: 4096,
        max_bytes: 4 << 20,
        seed: super::now_ms() as u64 ^ ((cfg.my_id as u64) << 48),
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn run_loop(
    mut p: Processor,
    mut m: Member,
    mut inputs: mpsc::Receiver<Input>,
    mut peer_rx: mpsc::Receiver<(NodeId, PeerMsg)>,
    mut gone_rx: mpsc::Receiver<NodeId>,
    mut stop: watch::Receiver<bool>,
    cfg: Arc<Config>,
) -> Result<(), ServerError> {
    let started = Instant::now();
    let mut outs: HashMap<ConnId, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let session_tick = Duration::from_millis((cfg.tick_time as u64 / 2).clamp(10, 1000));
    let mut last_session_tick = Instant::now();
    // Replies of the leader, released once the log is committed up to the given index.
    let mut held: VecDeque<(u64, Vec<Out>)> = VecDeque::new();
    let mut early: Vec<(NodeId, PeerMsg)> = Vec::new();
    let mut lead_term: u64 = 0;
    let mut follow: Option<NodeId> = None;
    let mut saved = m.raft.hard_state();
    let mut last_save = Instant::now();
    let mut applied_since_snapshot: u64 = 0;
    let mut snapshot_job: Option<std::thread::JoinHandle<()>> = None;
    let mut snapshot_at: Option<u64> = None;
    let mut snap_cache: Option<CachedSnapshot> = None;
    // A membership change being carried out: the plan and the next step.
    let mut reconfig: Option<(crate::processor::ReconfigPlan, usize)> = None;
    p.set_role(Role::Looking, super::now_ms());
    tracing::info!(id = m.me, voters = ?m.raft.voters(), "ensemble member started; looking for a leader");

    loop {
        let mut client: Vec<Input> = Vec::new();
        let mut from_peers: Vec<(NodeId, PeerMsg)> = Vec::new();
        let mut tick = false;
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            x = peer_rx.recv() => if let Some(x) = x { from_peers.push(x) },
            x = inputs.recv() => match x { Some(x) => client.push(x), None => break },
            Some(id) = gone_rx.recv() => {
                if m.raft.leader == Some(id) && m.raft.role != RaftRole::Leader {
                    tracing::info!(leader = id, "the leader's connection closed; calling an election soon");
                    m.raft.leader_gone();
                }
            }
            _ = ticker.tick() => tick = true,
        }
        while from_peers.len() < 4096 {
            match peer_rx.try_recv() {
                Ok(x) => from_peers.push(x),
                Err(_) => break,
            }
        }
        while client.len() < 4096 {
            match inputs.try_recv() {
                Ok(x) => client.push(x),
                Err(_) => break,
            }
        }
        let now = super::now_ms();
        let received_at = Instant::now();
        let view = quorum_view(&m.raft);
        for input in client {
            super::serve_input(&mut p, &mut outs, input, now, &cfg, started, Some(&view));
        }
        for (from, msg) in from_peers {
            match msg {
                PeerMsg::Raft(r) => m.raft.step(from, r),
                other => serve_peer(&mut p, &mut m, &mut early, from, other, now),
            }
        }
        if tick {
            m.raft.tick();
        }
        if last_session_tick.elapsed() >= session_tick {
            last_session_tick = Instant::now();
            p.tick(now);
        }

        // A leader that lost its leadership gives up what it applied but did not commit.
        if p.role == Role::Leader && !(m.raft.role == RaftRole::Leader && m.raft.term == lead_term) {
            tracing::warn!(term = lead_term, "lost leadership");
            if reconfig.take().is_some() {
                tracing::warn!("a membership change was interrupted by the loss of leadership");
            }
            p.reconfig_busy = false;
            let mut batch = p.take_batch();
            // The tree holds what this leader applied. It stands only if the log still has this
            // leader's entry at the tree's zxid (then, by log matching, every entry before it)
            // and that entry is committed; a new leader may already have overwritten it and
            // committed past it in the very messages that deposed us.
            let last = p.tree.last_zxid as u64;
            let ours = last < m.raft.first_index() || m.raft.term_at(last) == Some(lead_term);
            if !(ours && last <= m.raft.commit_index()) {
                batch.txns.clear();
                held.clear();
                let tree = rebuild(&cfg.data_dir, &m.raft)?;
                tracing::info!(from = format_args!("{:#x}", p.tree.last_zxid), to = format_args!("{:#x}", tree.last_zxid), "rolled back to the committed state");
                p.replace_tree(tree);
            } else {
                release(&mut held, u64::MAX, &mut outs, &mut p);
                deliver(batch.out, &mut outs, &mut p);
            }
            p.set_role(Role::Looking, now);
        }

        let batch = p.take_batch();
        if p.role == Role::Leader {
            if !batch.txns.is_empty() {
                let first = batch.txns[0].0.zxid as u64;
                let data: Vec<Vec<u8>> = batch.txns.iter().map(|(h, t)| txn::encode_record(h, t)).collect();
                match m.raft.propose_many(data) {
                    Ok(i) if i == first => {}
                    other => {
                        return Err(ServerError::Unsupported(format!("proposal index mismatch: zxid {first:#x}, consensus gave {other:?}")));
                    }
                }
                p.counters.record_latency(received_at.elapsed().as_millis() as u64);
            }
            held.push_back((p.tree.last_zxid as u64, batch.out));
            if let Some(plan) = batch.reconfig {
                p.reconfig_busy = true;
                reconfig = Some((plan, 0));
            }
            // The next step of a membership change, once the previous one is committed.
            if let Some((plan, k)) = reconfig.as_mut() {
                if !m.raft.conf_pending() && m.raft.leader_ready() && p.tree.last_zxid as u64 == m.raft.last_index() {
                    let last = *k + 1 == plan.steps.len();
                    let (session, cxid, reply_to) = if last { (plan.session_id, plan.cxid, plan.reply_to) } else { (0, 0, None) };
                    let members = plan.steps[*k].clone();
                    let (h, t) = p.config_step(&members, session, cxid, reply_to, now);
                    let voters: Vec<NodeId> = members.iter().map(|s| s.id as NodeId).collect();
                    let data = crate::consensus::conf_entry(&voters, &txn::encode_record(&h, &t));
                    tracing::info!(step = *k + 1, of = plan.steps.len(), voters = ?voters, zxid = format_args!("{:#x}", h.zxid), "proposing a membership change");
                    match m.raft.propose_conf(voters, data) {
                        Ok(i) if i == h.zxid as u64 => {}
                        other => {
                            return Err(ServerError::Unsupported(format!("membership change refused by consensus after it was applied ({other:?}); restarting recovers the committed state")));
                        }
                    }
                    m.learn(members);
                    *k += 1;
                    if last {
                        reconfig = None;
                        p.reconfig_busy = false;
                    }
                }
            }
        } else {
            deliver(batch.out, &mut outs, &mut p);
        }
        if let Some(leader) = m.raft.leader.filter(|l| *l != m.me) {
            for msg in &batch.to_leader {
                m.peers.send(leader, msg);
            }
        }

        // Persist, then send, then apply.
        if snapshot_job.as_ref().is_some_and(|j| j.is_finished()) {
            let _ = snapshot_job.take().map(|j| j.join());
            if let Some(index) = snapshot_at.take() {
                // Keep `commitLogCount` entries behind it, so a follower a little behind catches
                // up from the log rather than from a snapshot.
                let upto = index.saturating_sub(cfg.commit_log_count);
                if upto >= m.raft.first_index() {
                    m.raft.compact(upto);
                    tokio::task::block_in_place(|| m.log.compact(upto))?;
                }
            }
        }
        if m.raft.has_ready() {
            let mut ready = m.raft.ready();
            if let Some(si) = ready.snapshot.take() {
                // The leader's state replaces ours: store it, then drop the log it covers.
                let (tree, _) = snapshot::decode(&si.data).map_err(|e| ServerError::Unsupported(format!("the leader sent a snapshot that does not decode: {e}")))?;
                if tree.last_zxid as u64 != si.index {
                    return Err(ServerError::Unsupported(format!("the leader's snapshot for {} holds zxid {:#x}", si.index, tree.last_zxid)));
                }
                let dir = cfg.data_dir.join("version-2");
                tokio::task::block_in_place(|| snapshot::write_bytes(&dir, tree.last_zxid, &si.data))
                    .map_err(|source| ServerError::Unsupported(format!("failed to store the leader's snapshot in {}: {source}", dir.display())))?;
                if si.keep_log {
                    tokio::task::block_in_place(|| m.log.compact(si.index))?;
                } else {
                    tokio::task::block_in_place(|| m.log.reset(si.index + 1))?;
                }
                tracing::info!(index = si.index, nodes = tree.node_count(), bytes = si.data.len(), "installed the leader's snapshot");
                m.learn(members_of(&tree, &cfg));
                release(&mut held, u64::MAX, &mut outs, &mut p);
                p.replace_tree(tree);
                let batch = p.take_batch();
                deliver(batch.out, &mut outs, &mut p);
                applied_since_snapshot = 0;
            }
            if let Some(hs) = ready.hard_state {
                let vote_changed = hs.term != saved.term || hs.voted_for != saved.voted_for;
                if vote_changed || last_save.elapsed() >= Duration::from_secs(1) {
                    tokio::task::block_in_place(|| m.log.save_state(&hs))?;
                    saved = hs;
                    last_save = Instant::now();
                }
            }
            if let Some(from) = ready.truncate_from {
                tracing::info!(from, "cutting a divergent uncommitted suffix of the log");
                tokio::task::block_in_place(|| m.log.truncate(from))?;
            }
            for e in &ready.entries {
                if let Some(lines) = conf_lines(&e.data) {
                    m.learn(lines);
                }
            }
            if !ready.entries.is_empty() {
                if let Err(e) = tokio::task::block_in_place(|| m.log.append(&ready.entries)) {
                    tracing::error!(error = %e, "consensus log write failed; shutting down without acknowledging");
                    return Err(e.into());
                }
            }
            for (_, to, msg) in ready.messages {
                let msg = match msg {
                    crate::consensus::Message::Snapshot { term, .. } => match latest_snapshot(&cfg, &mut snap_cache) {
                        Some((index, snap_term, voters, data)) => {
                            tracing::info!(to, index, bytes = data.len(), "sending a snapshot to a follower that is behind the log");
                            crate::consensus::Message::Snapshot { term, index, snap_term, voters, data: data.to_vec() }
                        }
                        None => continue,
                    },
                    other => other,
                };
                m.peers.send(to, &PeerMsg::Raft(msg));
            }
            for e in &ready.committed {
                p.apply_committed(e.index, &e.data, now).map_err(ServerError::Unsupported)?;
                applied_since_snapshot += 1;
            }
            p.advance_syncs(now);
        }

        // The processor follows the consensus role.
        let want = if m.raft.role == RaftRole::Leader {
            if m.raft.leader_ready() && p.tree.last_zxid as u64 >= m.raft.commit_index() {
                Role::Leader
            } else {
                Role::Looking
            }
        } else if m.raft.leader.is_some() {
            Role::Follower
        } else {
            Role::Looking
        };
        if want != p.role || (want == Role::Follower && follow != m.raft.leader) {
            tracing::info!(role = ?want, term = m.raft.term, leader = ?m.raft.leader, zxid = format_args!("{:#x}", p.tree.last_zxid), "role change");
            release(&mut held, m.raft.commit_index(), &mut outs, &mut p);
            p.set_role(want, now);
            follow = m.raft.leader;
            if want == Role::Leader {
                lead_term = m.raft.term;
                if p.config_text().is_empty() {
                    // The first leader records the membership in /zookeeper/config.
                    let voters = m.raft.voters();
                    let members: Vec<_> = m.lines.values().filter(|l| voters.contains(&(l.id as NodeId))).cloned().collect();
                    p.write_config(&members, now);
                }
                for (from, msg) in std::mem::take(&mut early) {
                    serve_peer(&mut p, &mut m, &mut Vec::new(), from, msg, now);
                }
            }
            let batch = p.take_batch();
            deliver(batch.out, &mut outs, &mut p);
            // Forwards served just now are proposed in the next round.
            if !batch.txns.is_empty() {
                let first = batch.txns[0].0.zxid as u64;
                let data: Vec<Vec<u8>> = batch.txns.iter().map(|(h, t)| txn::encode_record(h, t)).collect();
                if m.raft.propose_many(data) != Ok(first) {
                    return Err(ServerError::Unsupported("proposal index mismatch after election".into()));
                }
            }
        } else if want != Role::Leader {
            let batch = p.take_batch();
            deliver(batch.out, &mut outs, &mut p);
            if let Some(leader) = m.raft.leader.filter(|l| *l != m.me) {
                for msg in &batch.to_leader {
                    m.peers.send(leader, msg);
                }
            }
        }
        release(&mut held, m.raft.commit_index(), &mut outs, &mut p);

        // Snapshot when the tree holds only committed entries.
        if applied_since_snapshot >= cfg.snap_count && p.tree.last_zxid as u64 == m.raft.commit_index() && snapshot_job.as_ref().is_none_or(|j| j.is_finished()) {
            applied_since_snapshot = 0;
            let copy = p.tree.clone();
            let index = copy.last_zxid as u64;
            let term = m.raft.term_at(index).unwrap_or(0);
            snapshot_at = Some(index);
            let dir = cfg.data_dir.join("version-2");
            let retain = cfg.snap_retain_count.max(3);
            snapshot_job = Some(std::thread::spawn(move || {
                match snapshot::write_at_term(&dir, &copy, term) {
                    Ok(path) => tracing::info!(snapshot = %path.display(), "snapshot written"),
                    Err(e) => tracing::error!(error = %e, "failed to write snapshot"),
                }
                let snaps = list(&dir, "snapshot");
                if snaps.len() > retain {
                    for (_, old) in &snaps[..snaps.len() - retain] {
                        let _ = std::fs::remove_file(old);
                    }
                }
            }));
        }
    }
    tracing::info!("shutting down");
    let _ = m.log.save_state(&m.raft.hard_state());
    if let Some(j) = snapshot_job {
        let _ = j.join();
    }
    Ok(())
}

type CachedSnapshot = (u64, u64, Vec<NodeId>, Arc<Vec<u8>>);

/// The newest snapshot file: (index, term of its entry, voters, bytes), cached by index.
fn latest_snapshot(cfg: &Config, cache: &mut Option<CachedSnapshot>) -> Option<CachedSnapshot> {
    let dir = cfg.data_dir.join("version-2");
    let (zxid, path) = list(&dir, "snapshot").into_iter().next_back()?;
    if let Some(c) = cache.as_ref().filter(|c| c.0 == zxid as u64) {
        return Some(c.clone());
    }
    let bytes = std::fs::read(&path).ok()?;
    let (tree, term) = snapshot::decode(&bytes).ok()?;
    let voters = members_of(&tree, cfg).iter().map(|s| s.id as NodeId).collect();
    *cache = Some((zxid as u64, term, voters, Arc::new(bytes)));
    cache.clone()
}

/// The membership a tree records in /zookeeper/config (zoo.cfg's server lines until the first
/// leader writes it).
pub fn members_of(tree: &DataTree, cfg: &Config) -> Vec<crate::config::ServerLine> {
    let text = tree.get(membership::CONFIG_NODE).and_then(|n| n.data.as_option().map(|d| String::from_utf8_lossy(d).into_owned())).unwrap_or_default();
    match membership::parse(&text) {
        Ok(v) if !v.is_empty() => v,
        _ => cfg.servers.clone(),
    }
}

/// A peer's non-consensus message.
fn serve_peer(p: &mut Processor, m: &mut Member, early: &mut Vec<(NodeId, PeerMsg)>, from: NodeId, msg: PeerMsg, now: i64) {
    if p.role != Role::Leader {
        match msg {
            PeerMsg::SyncReply { session_id, xid, index } => p.sync_reply(session_id, xid, index, now),
            // A leader still catching up holds what followers send until it may serve.
            other if m.raft.role == RaftRole::Leader && early.len() < EARLY_LIMIT => early.push((from, other)),
            _ => {}
        }
        return;
    }
    match msg {
        PeerMsg::Forward { session_id, addr, auth, body } => p.remote_request(session_id, &addr, &auth, &body, now),
        PeerMsg::CreateSession { session_id, timeout, passwd } => p.remote_create_session(session_id, timeout, passwd, now),
        PeerMsg::Touch { sessions } => p.remote_touch(&sessions, now),
        PeerMsg::SyncRequest { session_id, xid } => {
            let index = m.raft.commit_index();
            m.peers.send(from, &PeerMsg::SyncReply { session_id, xid, index });
        }
        PeerMsg::SyncReply { .. } | PeerMsg::Raft(_) => {}
    }
}

fn release(held: &mut VecDeque<(u64, Vec<Out>)>, commit: u64, outs: &mut HashMap<ConnId, mpsc::Sender<Vec<u8>>>, p: &mut Processor) {
    while held.front().is_some_and(|(i, _)| *i <= commit) {
        if let Some((_, o)) = held.pop_front() {
            deliver(o, outs, p);
        }
    }
}

