//! Consensus for the ensemble: a Raft core that does no I/O.
//!
//! The core is driven by three inputs — `tick()` (time passes), `step(msg)` (a message arrived),
//! `propose(data)` (a client write) — and hands back a `Ready`: what to persist (hard state, log
//! entries, a truncation), what to send, and what became committed. The caller persists before it
//! sends (so a vote or an acknowledgement is never given for state that a crash could lose), then
//! calls `advance()`. A deterministic simulation (`sim` tests) drives the same code with a lossy,
//! reordering, duplicating network and crashes over many seeds.
//!
//! Leader election follows Raft with pre-vote and check-quorum: a candidate must have a log at
//! least as up to date as a majority (last term, then last index: ZooKeeper's epoch-then-zxid
//! order), a server cut off from a majority stops acting as leader within an election timeout, and
//! a server rejoining after a partition cannot depose a healthy leader.

pub mod raft;
pub mod wire;

#[cfg(test)]
mod sim;

pub type NodeId = u64;

/// The first byte of a membership-change entry. (A transaction entry starts with its session
/// id, whose first byte is the id of the server that made it, 0–254; a no-op entry is empty.)
pub const CONF_MARK: u8 = 0xFF;

/// A membership-change entry: the new voters, and what the caller wants to keep with them
/// (the coordinator: the transaction that updates `/zookeeper/config`). It takes effect as soon
/// as a server has it in its log, committed or not (Raft's single-server change).
pub fn conf_entry(voters: &[NodeId], payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(5 + voters.len() * 8 + payload.len());
    v.push(CONF_MARK);
    v.extend_from_slice(&(voters.len() as u32).to_be_bytes());
    for id in voters {
        v.extend_from_slice(&id.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

/// The voters and payload of a membership-change entry (None: another kind of entry).
pub fn parse_conf(data: &[u8]) -> Option<(Vec<NodeId>, &[u8])> {
    if data.first() != Some(&CONF_MARK) || data.len() < 5 {
        return None;
    }
    let n = u32::from_be_bytes(data[1..5].try_into().ok()?) as usize;
    let end = 5usize.checked_add(n.checked_mul(8)?)?;
    if data.len() < end {
        return None;
    }
    let voters = data[5..end].chunks_exact(8).map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default())).collect();
    Some((voters, &data[end..]))
}

/// One log entry. `index` starts at 1; `term` is the leader's term when it was proposed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub term: u64,
    pub index: u64,
    pub data: Vec<u8>,
}

/// What must survive a crash besides the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HardState {
    pub term: u64,
    pub voted_for: Option<NodeId>,
    pub commit: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A (pre-)vote request. Pre-votes do not change anyone's term.
    Vote { term: u64, last_index: u64, last_term: u64, pre: bool },
    VoteReply { term: u64, granted: bool, pre: bool },
    /// Replication and heartbeat.
    Append { term: u64, prev_index: u64, prev_term: u64, entries: Vec<Entry>, commit: u64 },
    /// `matched`: the follower's log matches the leader's up to this index (on success), or a hint
    /// where to retry from (on rejection).
    AppendReply { term: u64, success: bool, matched: u64 },
    /// The state at `index` (whose entry had `snap_term`), for a follower that needs entries the
    /// leader no longer keeps. The core sends it with `data` empty and its own compaction point;
    /// the caller fills in its newest snapshot (any one at or before the commit index).
    /// `voters`: the membership at `index`.
    Snapshot { term: u64, index: u64, snap_term: u64, voters: Vec<NodeId>, data: Vec<u8> },
}

impl Message {
    pub fn term(&self) -> u64 {
        match self {
            Message::Vote { term, .. }
            | Message::VoteReply { term, .. }
            | Message::Append { term, .. }
            | Message::AppendReply { term, .. }
            | Message::Snapshot { term, .. } => *term,
        }
    }
}

/// A snapshot received from the leader, to install before anything else in the Ready: it
/// replaces the state machine, and the stored log keeps only entries after `index` (all of them
/// gone when `keep_log` is false).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotIn {
    pub index: u64,
    pub term: u64,
    pub voters: Vec<NodeId>,
    pub data: Vec<u8>,
    pub keep_log: bool,
}

/// Work for the caller, in order: install `snapshot`, persist `hard_state`, truncate the log
/// from `truncate_from`, append `entries`, then send `messages`, then apply `committed`.
#[derive(Debug, Default)]
pub struct Ready {
    pub snapshot: Option<SnapshotIn>,
    pub hard_state: Option<HardState>,
    pub truncate_from: Option<u64>,
    pub entries: Vec<Entry>,
    pub messages: Vec<(NodeId, NodeId, Message)>,
    pub committed: Vec<Entry>,
}

impl Ready {
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none() && self.hard_state.is_none() && self.truncate_from.is_none() && self.entries.is_empty() && self.messages.is_empty() && self.committed.is_empty()
    }
}
