//! The Raft state machine of one server. Deterministic: randomness comes from a seeded generator,
//! time from `tick()`.

use std::collections::{BTreeMap, BTreeSet};

use super::{parse_conf, Entry, HardState, Message, NodeId, Ready, SnapshotIn};

#[derive(Debug, Clone)]
pub struct Config {
    pub id: NodeId,
    /// The membership at the restore point (the snapshot's, or the initial one); membership
    /// entries in the log after it change it.
    pub voters: Vec<NodeId>,
    /// Ticks without a leader before a follower campaigns (randomized up to twice this).
    pub election_ticks: u32,
    /// Ticks between a leader's heartbeats.
    pub heartbeat_ticks: u32,
    /// Ticks before a server that knows no leader (a candidate whose election failed, a server
    /// that saw its leader go) tries again, randomized up to twice this. At most
    /// `election_ticks`; shorter makes elections after a leader's loss quick while a leader
    /// that is merely slow still gets the whole `election_ticks`.
    pub retry_ticks: u32,
    /// Entries per append message.
    pub max_batch: usize,
    /// Bytes of entry data per append message (at least one entry is always sent).
    pub max_bytes: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

#[derive(Debug, Clone, Copy)]
struct Progress {
    next: u64,
    matched: u64,
    /// Heard from since the last check-quorum round.
    active: bool,
    /// Ticks before another snapshot may be sent to this follower.
    snap_wait: u32,
}

/// A removed server the leader still replicates to.
#[derive(Debug, Clone, Copy)]
struct Leaving {
    /// The membership entry that removed it.
    index: u64,
    /// Ticks since the removal, and since it held that entry committed.
    age: u32,
    done: u32,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ProposeError {
    NotLeader { leader: Option<NodeId> },
    /// A membership change waits for the previous one to commit, and for the leader to have
    /// committed an entry of its term.
    ChangeInProgress,
    /// A membership change adds or removes one voter at a time.
    NotOneStep,
}

pub struct Raft {
    cfg: Config,
    rng: u64,
    pub term: u64,
    pub voted_for: Option<NodeId>,
    pub commit: u64,
    applied: u64,
    /// Entries after `offset` (the compaction point, whose entry had `snap_term`).
    log: Vec<Entry>,
    offset: u64,
    snap_term: u64,
    snapshot_in: Option<SnapshotIn>,
    /// Membership at `offset`, and the effective one (the newest membership entry in the log).
    base_voters: Vec<NodeId>,
    voters: Vec<NodeId>,
    /// Index of the newest membership entry in the log (0: none after `offset`).
    conf_index: u64,
    pub role: Role,
    pub leader: Option<NodeId>,
    elapsed: u32,
    timeout: u32,
    votes: BTreeMap<NodeId, bool>,
    progress: BTreeMap<NodeId, Progress>,
    /// On the leader: servers a membership change removed, still sent the log until they have
    /// the committed entry that removed them (so they apply it and answer their clients).
    leaving: BTreeMap<NodeId, Leaving>,
    // Not yet handed out in a Ready:
    msgs: Vec<(NodeId, NodeId, Message)>,
    hs_sent: HardState,
    unstable_from: u64,
    truncate_from: Option<u64>,
}

impl Raft {
    /// A server starting from its persisted state (all empty for a new server).
    pub fn restore(cfg: Config, hs: HardState, log: Vec<Entry>) -> Raft {
        Raft::restore_from(cfg, hs, 0, 0, log)
    }

    /// A server whose state machine was restored from a snapshot at `offset` (taken at an entry
    /// of `snap_term`), with the stored entries after it.
    pub fn restore_from(cfg: Config, hs: HardState, offset: u64, snap_term: u64, log: Vec<Entry>) -> Raft {
        let rng = cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let next = offset + log.len() as u64 + 1;
        let mut r = Raft {
            cfg,
            rng,
            term: hs.term,
            voted_for: hs.voted_for,
            commit: hs.commit.max(offset),
            applied: offset,
            log,
            offset,
            snap_term,
            snapshot_in: None,
            base_voters: Vec::new(),
            voters: Vec::new(),
            conf_index: 0,
            role: Role::Follower,
            leader: None,
            elapsed: 0,
            timeout: 0,
            votes: BTreeMap::new(),
            progress: BTreeMap::new(),
            leaving: BTreeMap::new(),
            msgs: Vec::new(),
            hs_sent: hs,
            unstable_from: next,
            truncate_from: None,
        };
        debug_assert!(r.log.iter().enumerate().all(|(i, e)| e.index == offset + i as u64 + 1));
        r.commit = r.commit.min(r.last_index());
        r.base_voters = sorted(r.cfg.voters.clone());
        r.refresh_voters();
        r.reset_timeout();
        r
    }

    pub fn id(&self) -> NodeId {
        self.cfg.id
    }

    pub fn last_index(&self) -> u64 {
        self.offset + self.log.len() as u64
    }

    pub fn last_term(&self) -> u64 {
        self.log.last().map_or(self.snap_term, |e| e.term)
    }

    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == 0 {
            return Some(0);
        }
        if index < self.offset {
            return None;
        }
        if index == self.offset {
            return Some(self.snap_term);
        }
        self.log.get((index - self.offset) as usize - 1).map(|e| e.term)
    }

    /// The entries held (those after the compaction point).
    pub fn entries(&self) -> &[Entry] {
        &self.log
    }

    /// The compaction point: entries up to it live only in snapshots.
    pub fn first_index(&self) -> u64 {
        self.offset + 1
    }

    /// Forgets the entries up to `index` (at most the applied index), which a snapshot now
    /// holds.
    pub fn compact(&mut self, index: u64) {
        if index <= self.offset || index > self.applied {
            return;
        }
        let Some(t) = self.term_at(index) else { return };
        let dropped: Vec<Entry> = self.log.drain(..(index - self.offset) as usize).collect();
        if let Some(v) = dropped.iter().rev().find_map(|e| parse_conf(&e.data).map(|(v, _)| v)) {
            self.base_voters = sorted(v);
        }
        self.offset = index;
        self.snap_term = t;
        self.unstable_from = self.unstable_from.max(index + 1);
    }

    fn slot(&self, index: u64) -> usize {
        (index - self.offset - 1) as usize
    }

    fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    fn peers(&self) -> Vec<NodeId> {
        self.voters.iter().copied().filter(|v| *v != self.cfg.id).collect()
    }

    fn is_voter(&self) -> bool {
        self.voters.contains(&self.cfg.id)
    }

    /// Recomputes the effective membership from the log (after entries that may hold a change
    /// were appended or cut), and on the leader the followers it replicates to.
    fn refresh_voters(&mut self) {
        let found = self.log.iter().rev().find_map(|e| parse_conf(&e.data).map(|(v, _)| (e.index, v)));
        let (index, voters) = match found {
            Some((i, v)) => (i, sorted(v)),
            None => (0, self.base_voters.clone()),
        };
        self.conf_index = index;
        if voters == self.voters {
            return;
        }
        self.voters = voters;
        if self.role == Role::Leader {
            let next = self.last_index() + 1;
            let peers = self.peers();
            let index = self.conf_index;
            for id in self.progress.keys().filter(|id| !peers.contains(id)) {
                self.leaving.entry(*id).or_insert(Leaving { index, age: 0, done: 0 });
            }
            self.leaving.retain(|id, _| !peers.contains(id));
            let leaving = &self.leaving;
            self.progress.retain(|id, _| peers.contains(id) || leaving.contains_key(id));
            for p in peers {
                self.progress.entry(p).or_insert(Progress { next, matched: 0, active: true, snap_wait: 0 });
            }
        }
    }

    /// A membership change, on the leader: adds or removes at most one voter (an entry that
    /// keeps the voters carries new addresses). Its index on success.
    pub fn propose_conf(&mut self, voters: Vec<NodeId>, data: Vec<u8>) -> Result<u64, ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader { leader: self.leader });
        }
        if self.conf_index > self.commit || !self.leader_ready() {
            return Err(ProposeError::ChangeInProgress);
        }
        let new = sorted(voters);
        let added = new.iter().filter(|v| !self.voters.contains(v)).count();
        let removed = self.voters.iter().filter(|v| !new.contains(v)).count();
        if added + removed > 1 || new.is_empty() {
            return Err(ProposeError::NotOneStep);
        }
        debug_assert_eq!(parse_conf(&data).map(|(v, _)| sorted(v)), Some(new.clone()));
        let index = self.append_local(data);
        self.refresh_voters();
        self.maybe_commit();
        self.broadcast_append();
        Ok(index)
    }

    /// The caller saw the leader's connection close: campaign soon instead of after a whole
    /// election timeout. Voters take turns by id, highest first (ZooKeeper's tie-break), so the
    /// survivors rarely split the vote; pre-vote still protects a leader that is in fact alive.
    pub fn leader_gone(&mut self) {
        if self.role != Role::Follower || self.leader.is_none() {
            return;
        }
        let ahead = self.voters.iter().filter(|v| **v > self.cfg.id && Some(**v) != self.leader).count() as u32;
        self.leader = None;
        let wait = 1 + 2 * ahead;
        self.timeout = self.timeout.min(self.elapsed + wait);
    }

    /// True while a membership change is appended but not committed.
    pub fn conf_pending(&self) -> bool {
        self.conf_index > self.commit
    }

    fn random(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn reset_timeout(&mut self) {
        self.elapsed = 0;
        let e = if self.leader.is_none() { self.cfg.retry_ticks.clamp(1, self.cfg.election_ticks.max(1)) } else { self.cfg.election_ticks.max(1) };
        self.timeout = e + (self.random() % e as u64) as u32;
    }

    fn send(&mut self, to: NodeId, m: Message) {
        self.msgs.push((self.cfg.id, to, m));
    }

    fn become_follower(&mut self, term: u64, leader: Option<NodeId>) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.votes.clear();
        self.leaving.clear();
        self.reset_timeout();
    }

    /// Starts an election: first a pre-vote round that changes no term.
    fn campaign(&mut self, pre: bool) {
        if !self.is_voter() {
            return;
        }
        self.votes.clear();
        self.leader = None;
        self.reset_timeout();
        let term = if pre {
            self.role = Role::PreCandidate;
            self.term + 1
        } else {
            self.role = Role::Candidate;
            self.term += 1;
            self.voted_for = Some(self.cfg.id);
            self.term
        };
        self.votes.insert(self.cfg.id, true);
        if self.votes.len() >= self.quorum() {
            if pre {
                self.campaign(false);
            } else {
                self.become_leader();
            }
            return;
        }
        let (last_index, last_term) = (self.last_index(), self.last_term());
        for p in self.peers() {
            self.send(p, Message::Vote { term, last_index, last_term, pre });
        }
    }

    fn become_leader(&mut self) {
        self.role = Role::Leader;
        self.leader = Some(self.cfg.id);
        self.elapsed = 0;
        let next = self.last_index() + 1;
        self.progress = self.peers().into_iter().map(|p| (p, Progress { next, matched: 0, active: true, snap_wait: 0 })).collect();
        self.leaving.clear();
        // An entry of the new term, so that earlier terms' entries can commit.
        self.append_local(Vec::new());
        self.broadcast_append();
    }

    fn append_local(&mut self, data: Vec<u8>) -> u64 {
        let index = self.last_index() + 1;
        self.log.push(Entry { term: self.term, index, data });
        self.maybe_commit();
        index
    }

    /// A client write, on the leader: the index it will have if committed.
    pub fn propose(&mut self, data: Vec<u8>) -> Result<u64, ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader { leader: self.leader });
        }
        let index = self.append_local(data);
        self.broadcast_append();
        Ok(index)
    }

    /// Several client writes at once (one append message per follower): the index of the first.
    pub fn propose_many(&mut self, data: Vec<Vec<u8>>) -> Result<u64, ProposeError> {
        if self.role != Role::Leader {
            return Err(ProposeError::NotLeader { leader: self.leader });
        }
        let first = self.last_index() + 1;
        if data.is_empty() {
            return Ok(first);
        }
        for d in data {
            self.append_local(d);
        }
        self.broadcast_append();
        Ok(first)
    }

    /// The index up to which entries are committed.
    pub fn commit_index(&self) -> u64 {
        self.commit
    }

    /// True once the leader has committed an entry of its own term: from then on its log holds
    /// every committed entry and it may serve.
    pub fn leader_ready(&self) -> bool {
        self.role == Role::Leader && self.term_at(self.commit) == Some(self.term)
    }

    fn broadcast_append(&mut self) {
        let to: Vec<NodeId> = self.progress.keys().copied().collect();
        for p in to {
            self.send_append(p);
        }
    }

    fn send_append(&mut self, to: NodeId) {
        let Some(pr) = self.progress.get(&to).copied() else { return };
        if pr.next <= self.offset {
            // The follower needs entries that only a snapshot holds.
            if pr.snap_wait > 0 {
                return;
            }
            let m = Message::Snapshot { term: self.term, index: self.offset, snap_term: self.snap_term, voters: self.base_voters.clone(), data: Vec::new() };
            let wait = self.cfg.election_ticks.max(1) * 2;
            let next = self.offset + 1;
            if let Some(p) = self.progress.get_mut(&to) {
                p.snap_wait = wait;
                p.next = next;
            }
            self.send(to, m);
            return;
        }
        let prev_index = pr.next - 1;
        let prev_term = self.term_at(prev_index).unwrap_or(0);
        let end = (self.last_index()).min(prev_index + self.cfg.max_batch as u64);
        let mut bytes = 0usize;
        let mut entries = Vec::new();
        for e in &self.log[self.slot(prev_index + 1)..self.slot(end + 1)] {
            bytes += e.data.len() + 24;
            if !entries.is_empty() && bytes > self.cfg.max_bytes {
                break;
            }
            entries.push(e.clone());
        }
        // Pipelining: the next append continues after these (a refusal moves it back).
        if let Some(last) = entries.last() {
            if let Some(p) = self.progress.get_mut(&to) {
                p.next = last.index + 1;
            }
        }
        let m = Message::Append { term: self.term, prev_index, prev_term, entries, commit: self.commit };
        self.send(to, m);
    }

    fn maybe_commit(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let voters = &self.voters;
        let mut matched: Vec<u64> = self.progress.iter().filter(|(id, _)| voters.contains(id)).map(|(_, p)| p.matched).collect();
        if self.is_voter() {
            matched.push(self.last_index());
        }
        if matched.len() < self.quorum() {
            return;
        }
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let n = matched[self.quorum() - 1];
        // Only entries of the current term commit by counting (Raft §5.4.2).
        if n > self.commit && self.term_at(n) == Some(self.term) {
            self.commit = n;
        }
    }

    pub fn tick(&mut self) {
        self.elapsed += 1;
        match self.role {
            Role::Leader => {
                if !self.is_voter() && self.conf_index <= self.commit {
                    // Removed by a committed change: leave the leadership to the members.
                    let term = self.term;
                    self.become_follower(term, None);
                    return;
                }
                for p in self.progress.values_mut() {
                    p.snap_wait = p.snap_wait.saturating_sub(1);
                }
                self.tick_leaving();
                if self.elapsed.is_multiple_of(self.cfg.heartbeat_ticks.max(1)) {
                    self.broadcast_append();
                }
                if self.elapsed >= self.cfg.election_ticks {
                    // Check quorum: a leader that has not heard from a majority steps down.
                    let voters = &self.voters;
                    let active = self.is_voter() as usize + self.progress.iter().filter(|(id, p)| p.active && voters.contains(id)).count();
                    for p in self.progress.values_mut() {
                        p.active = false;
                    }
                    self.elapsed = 0;
                    if active < self.quorum() {
                        let term = self.term;
                        self.become_follower(term, None);
                    }
                }
            }
            _ => {
                if self.elapsed >= self.timeout {
                    self.campaign(true);
                }
            }
        }
    }

    /// Stops replicating to a removed server a few heartbeats after it holds its removal
    /// committed (the heartbeats carry the commit index), or long after the removal when it
    /// never answers.
    fn tick_leaving(&mut self) {
        let (commit, hb, limit) = (self.commit, self.cfg.heartbeat_ticks.max(1), self.cfg.election_ticks.max(1) * 10);
        let progress = &self.progress;
        let mut gone = Vec::new();
        for (id, l) in self.leaving.iter_mut() {
            l.age += 1;
            if commit >= l.index && progress.get(id).is_some_and(|p| p.matched >= l.index) {
                l.done += 1;
            }
            if l.done > 3 * hb || l.age > limit {
                gone.push(*id);
            }
        }
        for id in gone {
            self.leaving.remove(&id);
            self.progress.remove(&id);
        }
    }

    fn log_ok(&self, last_index: u64, last_term: u64) -> bool {
        last_term > self.last_term() || (last_term == self.last_term() && last_index >= self.last_index())
    }

    pub fn step(&mut self, from: NodeId, m: Message) {
        let term = m.term();
        // A server that hears from its leader ignores vote requests (leader stickiness), so a
        // server returning from a partition cannot disrupt a working leader.
        if let Message::Vote { pre, .. } = m {
            if self.leader.is_some() && self.role != Role::Leader && self.elapsed < self.cfg.election_ticks && term > self.term {
                return;
            }
            // A working leader refuses pre-votes: a follower that merely lost its connection
            // to it cannot start an election that would depose it.
            if pre && self.role == Role::Leader {
                let t = self.term;
                self.send(from, Message::VoteReply { term: t, granted: false, pre: true });
                return;
            }
        }
        if term > self.term {
            match &m {
                Message::Vote { pre: true, .. } => {}
                Message::VoteReply { pre: true, granted: true, .. } => {}
                Message::Append { .. } | Message::Snapshot { .. } => self.become_follower(term, Some(from)),
                _ => self.become_follower(term, None),
            }
        } else if term < self.term {
            match m {
                Message::Append { .. } | Message::Snapshot { .. } => {
                    let t = self.term;
                    self.send(from, Message::AppendReply { term: t, success: false, matched: 0 });
                }
                Message::Vote { pre: true, .. } => {
                    let t = self.term;
                    self.send(from, Message::VoteReply { term: t, granted: false, pre: true });
                }
                _ => {}
            }
            return;
        }
        match m {
            Message::Vote { term, last_index, last_term, pre } => {
                let can_vote = if pre { term > self.term || self.voted_for.is_none() || self.voted_for == Some(from) } else { self.voted_for.is_none() || self.voted_for == Some(from) };
                let granted = can_vote && self.log_ok(last_index, last_term);
                if granted && !pre {
                    self.voted_for = Some(from);
                    self.reset_timeout();
                }
                // A granted pre-vote echoes the proposed term; a refusal carries ours, so a
                // candidate behind in terms catches up.
                let reply_term = if pre && granted { term } else { self.term };
                self.send(from, Message::VoteReply { term: reply_term, granted, pre });
            }
            Message::VoteReply { term, granted, pre } => {
                let expected = match self.role {
                    Role::PreCandidate if pre => self.term + 1,
                    Role::Candidate if !pre => self.term,
                    _ => return,
                };
                if term != expected {
                    return;
                }
                self.votes.insert(from, granted);
                let yes = self.votes.values().filter(|g| **g).count();
                let no = self.votes.len() - yes;
                if yes >= self.quorum() {
                    if pre {
                        self.campaign(false);
                    } else {
                        self.become_leader();
                    }
                } else if no >= self.quorum() {
                    let t = self.term;
                    self.become_follower(t, None);
                }
            }
            Message::Append { term, prev_index, prev_term, entries, commit } => {
                self.heard_from_leader(term, from);
                if prev_index < self.commit {
                    // Already committed here: only the part after our commit can be new.
                    let matched = self.commit;
                    let skip = (self.commit - prev_index) as usize;
                    if skip < entries.len() {
                        self.accept(self.commit, entries[skip..].to_vec(), commit);
                    }
                    let matched = matched.max(self.last_index().min(prev_index + entries.len() as u64));
                    self.send(from, Message::AppendReply { term, success: true, matched });
                    return;
                }
                match self.term_at(prev_index) {
                    Some(t) if t == prev_term => {
                        let matched = prev_index + entries.len() as u64;
                        self.accept(prev_index, entries, commit);
                        self.send(from, Message::AppendReply { term, success: true, matched });
                    }
                    Some(t) => {
                        // Conflict: skip back over the whole conflicting term at once.
                        let mut hint = prev_index - 1;
                        while hint > self.commit && self.term_at(hint) == Some(t) {
                            hint -= 1;
                        }
                        self.send(from, Message::AppendReply { term, success: false, matched: hint });
                    }
                    None => {
                        // We are short: retry from our end.
                        let hint = self.last_index();
                        self.send(from, Message::AppendReply { term, success: false, matched: hint });
                    }
                }
            }
            Message::Snapshot { term, index, snap_term, voters, data } => {
                self.heard_from_leader(term, from);
                if index <= self.commit {
                    let matched = self.commit;
                    self.send(from, Message::AppendReply { term, success: true, matched });
                    return;
                }
                let keep_log = self.term_at(index) == Some(snap_term);
                if keep_log {
                    let k = self.slot(index) + 1;
                    self.log.drain(..k);
                } else {
                    self.log.clear();
                    self.truncate_from = None;
                }
                self.offset = index;
                self.snap_term = snap_term;
                self.commit = index;
                self.applied = index;
                self.unstable_from = self.unstable_from.max(index + 1);
                if !keep_log {
                    self.unstable_from = index + 1;
                }
                self.base_voters = sorted(voters.clone());
                self.refresh_voters();
                self.snapshot_in = Some(SnapshotIn { index, term: snap_term, voters, data, keep_log });
                self.send(from, Message::AppendReply { term, success: true, matched: index });
            }
            Message::AppendReply { success, matched, .. } => {
                if self.role != Role::Leader {
                    return;
                }
                let last = self.last_index();
                let Some(pr) = self.progress.get_mut(&from) else { return };
                pr.active = true;
                if success {
                    pr.snap_wait = 0;
                    // Only a reply that moves the follower forward sends more: replies to
                    // duplicated or heartbeat appends would otherwise multiply the traffic.
                    if matched > pr.matched {
                        pr.matched = matched.min(last);
                        pr.next = pr.next.max(pr.matched + 1);
                        let behind = pr.next <= last;
                        let before = self.commit;
                        self.maybe_commit();
                        if self.commit > before {
                            // Tell every follower at once, so they answer their clients
                            // without waiting for the next heartbeat.
                            self.broadcast_append();
                        } else if behind {
                            self.send_append(from);
                        }
                    }
                } else {
                    // The follower's hint: its log may match up to `matched`. A stale refusal
                    // (for an append already superseded) changes nothing.
                    let next = (matched + 1).min(pr.next.saturating_sub(1).max(1)).max(pr.matched + 1);
                    if next < pr.next {
                        pr.next = next;
                        self.send_append(from);
                    }
                }
            }
        }
    }

    /// An append or snapshot from the leader of our term.
    fn heard_from_leader(&mut self, term: u64, from: NodeId) {
        if self.role != Role::Follower {
            self.become_follower(term, Some(from));
        }
        if self.leader != Some(from) {
            // A leader found: from now on it gets the whole election timeout.
            self.leader = Some(from);
            self.reset_timeout();
        }
        self.elapsed = 0;
    }

    /// Appends `entries` after `prev_index` (known to match), truncating a conflicting suffix.
    fn accept(&mut self, prev_index: u64, entries: Vec<Entry>, leader_commit: u64) {
        let mut last_new = prev_index;
        let mut conf_changed = false;
        for e in entries {
            last_new = e.index;
            match self.term_at(e.index) {
                Some(t) if t == e.term => continue,
                Some(_) => {
                    // Divergent uncommitted suffix: cut it (never below the commit index).
                    debug_assert!(e.index > self.commit, "a committed entry would be truncated");
                    let k = self.slot(e.index);
                    self.log.truncate(k);
                    conf_changed = true;
                    self.truncate_from = Some(self.truncate_from.map_or(e.index, |t| t.min(e.index)));
                    self.unstable_from = self.unstable_from.min(e.index);
                    self.log.push(e);
                }
                None => {
                    conf_changed |= parse_conf(&e.data).is_some();
                    self.log.push(e);
                }
            }
        }
        if conf_changed {
            self.refresh_voters();
        }
        let new_commit = leader_commit.min(last_new);
        if new_commit > self.commit {
            self.commit = new_commit;
        }
    }

    pub fn has_ready(&self) -> bool {
        self.snapshot_in.is_some() || !self.msgs.is_empty() || self.hard_state() != self.hs_sent || self.unstable_from <= self.last_index() || self.truncate_from.is_some() || self.applied < self.commit
    }

    pub fn hard_state(&self) -> HardState {
        HardState { term: self.term, voted_for: self.voted_for, commit: self.commit }
    }

    /// Takes the pending work (see `Ready`).
    pub fn ready(&mut self) -> Ready {
        let hs = self.hard_state();
        let mut r = Ready {
            snapshot: self.snapshot_in.take(),
            hard_state: (hs != self.hs_sent).then_some(hs),
            truncate_from: self.truncate_from.take(),
            ..Default::default()
        };
        self.hs_sent = hs;
        if self.unstable_from <= self.last_index() {
            r.entries = self.log[self.slot(self.unstable_from.max(self.offset + 1))..].to_vec();
        }
        self.unstable_from = self.last_index() + 1;
        r.messages = std::mem::take(&mut self.msgs);
        if self.applied < self.commit {
            r.committed = self.log[self.slot(self.applied + 1)..self.slot(self.commit + 1)].to_vec();
            self.applied = self.commit;
        }
        r
    }

    /// On the leader: each follower's matched index.
    pub fn follower_matched(&self) -> Vec<(NodeId, u64)> {
        self.progress.iter().filter(|(id, _)| !self.leaving.contains_key(id)).map(|(id, p)| (*id, p.matched)).collect()
    }

    /// The effective voters, as a set.
    pub fn voters(&self) -> BTreeSet<NodeId> {
        self.voters.iter().copied().collect()
    }
}

fn sorted(mut v: Vec<NodeId>) -> Vec<NodeId> {
    v.sort_unstable();
    v.dedup();
    v
}
