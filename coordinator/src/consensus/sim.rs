//! Deterministic simulation of the Raft core: 3 or 5 servers, a network that loses, delays,
//! reorders and duplicates messages and partitions servers, and crashes that lose everything not
//! persisted. Over many seeds it checks that at most one leader exists per term, that committed
//! entries never diverge or change, that nothing is committed twice, and that after healing the
//! ensemble elects a leader and every server applies everything. Servers also compact their logs
//! behind snapshots at random, so followers that fall behind catch up through snapshots.

use std::collections::{BTreeMap, BTreeSet};

use super::raft::{Config, Raft, Role};
use super::{conf_entry, parse_conf, Entry, HardState, Message, NodeId};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Node {
    raft: Option<Raft>,
    hs: HardState,
    /// Stored entries after the snapshot.
    log: Vec<Entry>,
    /// Stored snapshot: (index, term of its entry); its state is `Sim::snaps[index]`.
    snap: (u64, u64),
    applied: Vec<Entry>,
    restarts: u64,
}

struct Sim {
    rng: Rng,
    nodes: BTreeMap<NodeId, Node>,
    voters: Vec<NodeId>,
    in_flight: Vec<(NodeId, NodeId, Message)>,
    /// Pairs that cannot talk.
    cut: BTreeSet<(NodeId, NodeId)>,
    leaders: BTreeMap<u64, NodeId>,
    committed: BTreeMap<u64, Entry>,
    /// State-machine snapshots by index: the applied entries up to it.
    snaps: BTreeMap<u64, Vec<Entry>>,
    installs: u64,
    /// Membership changes committed.
    changes: u64,
    /// Propose membership changes (between 3 and all of the servers).
    reconfig: bool,
    initial_voters: Vec<NodeId>,
    next_value: u64,
    faults: bool,
}

impl Sim {
    fn new(seed: u64, n: u64) -> Sim {
        Sim::with_voters(seed, n, n)
    }

    /// `n` servers of which the first `k` are the initial voters; with k < n the simulation
    /// also changes the membership.
    fn with_voters(seed: u64, n: u64, k: u64) -> Sim {
        let voters: Vec<NodeId> = (1..=n).collect();
        let mut s = Sim {
            rng: Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            nodes: BTreeMap::new(),
            voters: voters.clone(),
            in_flight: Vec::new(),
            cut: BTreeSet::new(),
            leaders: BTreeMap::new(),
            committed: BTreeMap::new(),
            snaps: BTreeMap::from([(0, Vec::new())]),
            installs: 0,
            changes: 0,
            reconfig: k < n,
            initial_voters: (1..=k).collect(),
            next_value: 0,
            faults: true,
        };
        for id in voters {
            s.nodes.insert(id, Node { raft: None, hs: HardState::default(), log: vec![], snap: (0, 0), applied: vec![], restarts: 0 });
            s.start(id);
        }
        s
    }

    /// The membership recorded by a state (its newest membership entry, or the initial one).
    fn voters_in(&self, state: &[Entry]) -> Vec<NodeId> {
        state.iter().rev().find_map(|e| parse_conf(&e.data).map(|(v, _)| v)).unwrap_or_else(|| self.initial_voters.clone())
    }

    fn config(&self, id: NodeId, restarts: u64) -> Config {
        let snap = self.nodes.get(&id).map_or(0, |n| n.snap.0);
        let voters = self.voters_in(&self.snaps[&snap]);
        Config { id, voters, election_ticks: 10, heartbeat_ticks: 3, retry_ticks: 5, max_batch: 4, max_bytes: 1 << 20, seed: id * 1000 + restarts + self.voters.len() as u64 }
    }

    fn start(&mut self, id: NodeId) {
        let n = &self.nodes[&id];
        let cfg = self.config(id, n.restarts);
        let raft = Raft::restore_from(cfg, n.hs, n.snap.0, n.snap.1, n.log.clone());
        let applied = self.snaps[&n.snap.0].clone();
        let n = self.nodes.get_mut(&id).expect("node");
        n.applied = applied;
        n.raft = Some(raft);
    }

    fn crash(&mut self, id: NodeId) {
        let n = self.nodes.get_mut(&id).expect("node");
        n.raft = None;
        n.restarts += 1;
        self.in_flight.retain(|(_, to, _)| *to != id);
    }

    /// Persist, send, apply: what a server does with a Ready.
    fn process(&mut self, id: NodeId) {
        let Some(raft) = self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()) else { return };
        if !raft.has_ready() {
            return;
        }
        let ready = raft.ready();
        let role = raft.role;
        let term = raft.term;
        let n = self.nodes.get_mut(&id).expect("node");
        if let Some(si) = ready.snapshot {
            let index = u64::from_be_bytes(si.data[..8].try_into().expect("snapshot data"));
            assert_eq!(index, si.index, "node {id} got a snapshot whose data is of another index");
            let state = self.snaps[&index].clone();
            for e in &state {
                if let Some(c) = self.committed.get(&e.index) {
                    assert_eq!(c, e, "node {id} installed a snapshot that disagrees with what was committed");
                }
            }
            assert!(index as usize > n.applied.len(), "node {id} installed a snapshot behind its state");
            n.applied = state;
            n.snap = (index, si.term);
            self.installs += 1;
            if si.keep_log {
                n.log.retain(|e| e.index > index);
            } else {
                n.log.clear();
            }
        }
        let base = n.snap.0;
        if let Some(hs) = ready.hard_state {
            assert!(hs.term >= n.hs.term, "term went back on node {id}");
            n.hs = hs;
        }
        if let Some(from) = ready.truncate_from {
            assert!(from as usize > n.applied.len(), "node {id} truncated applied entries");
            for e in n.log.iter().filter(|e| e.index >= from) {
                if let Some(c) = self.committed.get(&e.index) {
                    assert_ne!(e, c, "node {id} truncated committed entry {}", e.index);
                }
            }
            n.log.retain(|e| e.index < from);
        }
        for e in ready.entries {
            n.log.retain(|x| x.index < e.index);
            assert_eq!(e.index, base + n.log.len() as u64 + 1, "node {id} log gap");
            n.log.push(e);
        }
        for e in ready.committed {
            assert_eq!(e.index as usize, n.applied.len() + 1, "node {id} applied out of order");
            match self.committed.get(&e.index) {
                Some(c) => assert_eq!(c, &e, "seed diverged: node {id} applied a different entry at {}", e.index),
                None => {
                    if !e.data.is_empty() {
                        assert!(!self.committed.values().any(|c| c.data == e.data), "value committed twice");
                    }
                    self.committed.insert(e.index, e.clone());
                }
            }
            n.applied.push(e);
        }
        if role == Role::Leader {
            if let Some(other) = self.leaders.insert(term, id) {
                assert_eq!(other, id, "two leaders in term {term}");
            }
        }
        for (from, to, m) in ready.messages {
            let m = match m {
                // The caller's part: attach the snapshot's state.
                Message::Snapshot { term, index, snap_term, voters, .. } => Message::Snapshot { term, index, snap_term, voters, data: index.to_be_bytes().to_vec() },
                m => m,
            };
            if !self.cut.contains(&(from, to)) {
                self.in_flight.push((from, to, m));
            }
        }
    }

    /// A server snapshots its applied state and drops the log before it (keeping a few).
    fn compact(&mut self, id: NodeId) {
        let keep = self.rng.below(4);
        let Some(n) = self.nodes.get_mut(&id) else { return };
        let Some(raft) = n.raft.as_mut() else { return };
        let index = (n.applied.len() as u64).saturating_sub(keep);
        if index <= n.snap.0 {
            return;
        }
        let term = raft.term_at(index).expect("applied entries are held");
        self.snaps.entry(index).or_insert_with(|| n.applied[..index as usize].to_vec());
        assert_eq!(self.snaps[&index][..], n.applied[..index as usize], "two states at one index");
        raft.compact(index);
        n.snap = (index, term);
        n.log.retain(|e| e.index > index);
    }

    fn leader(&self) -> Option<NodeId> {
        self.nodes.iter().filter_map(|(id, n)| n.raft.as_ref().filter(|r| r.role == Role::Leader).map(|r| (r.term, *id))).max().map(|(_, id)| id)
    }

    fn step(&mut self) {
        let ids: Vec<NodeId> = self.voters.clone();
        let r = self.rng.below(100);
        match r {
            0..=29 => {
                // Time passes for everyone alive.
                for id in &ids {
                    if let Some(raft) = self.nodes.get_mut(id).and_then(|n| n.raft.as_mut()) {
                        raft.tick();
                    }
                    self.process(*id);
                }
            }
            30..=79 => {
                // Deliver a few messages (the network is faster than the clocks), each maybe out
                // of order, maybe twice, maybe not at all.
                let burst = 1 + self.rng.below(8);
                for _ in 0..burst {
                    if self.in_flight.is_empty() {
                        return;
                    }
                    let i = self.rng.below(self.in_flight.len().min(if self.faults { 8 } else { 1 }) as u64) as usize;
                    let (from, to, m) = if self.faults && self.rng.chance(10) { self.in_flight[i].clone() } else { self.in_flight.remove(i) };
                    if self.faults && self.rng.chance(10) {
                        continue;
                    }
                    if self.cut.contains(&(from, to)) {
                        continue;
                    }
                    if let Some(raft) = self.nodes.get_mut(&to).and_then(|n| n.raft.as_mut()) {
                        raft.step(from, m);
                        self.process(to);
                    }
                }
            }
            90..=91 if self.faults && self.reconfig => {
                // A membership change: add or remove one server, keeping 3 to all voters.
                if let Some(l) = self.leader() {
                    let pick = 1 + self.rng.below(self.voters.len() as u64);
                    let raft = self.nodes.get_mut(&l).and_then(|n| n.raft.as_mut()).expect("leader");
                    let mut v: Vec<NodeId> = raft.voters().into_iter().collect();
                    if v.contains(&pick) {
                        if v.len() > 3 {
                            v.retain(|x| *x != pick);
                        }
                    } else {
                        v.push(pick);
                    }
                    self.next_value += 1;
                    let data = conf_entry(&v, &self.next_value.to_be_bytes());
                    let _ = raft.propose_conf(v, data);
                    self.process(l);
                }
            }
            80..=91 if self.faults && self.in_flight.len() < 200 => {
                if let Some(l) = self.leader() {
                    self.next_value += 1;
                    let v = self.next_value.to_be_bytes().to_vec();
                    let raft = self.nodes.get_mut(&l).and_then(|n| n.raft.as_mut()).expect("leader");
                    raft.propose(v).expect("the leader takes proposals");
                    self.process(l);
                }
            }
            95 if self.faults => {
                let id = ids[self.rng.below(ids.len() as u64) as usize];
                self.compact(id);
            }
            92..=94 if self.faults => {
                let id = ids[self.rng.below(ids.len() as u64) as usize];
                if self.nodes[&id].raft.is_some() {
                    self.crash(id);
                } else {
                    self.start(id);
                    self.process(id);
                }
            }
            96..=99 if self.faults => {
                // Re-partition: cut a random set of links (both directions) or heal all.
                self.cut.clear();
                if self.rng.chance(60) {
                    let isolated = ids[self.rng.below(ids.len() as u64) as usize];
                    for other in &ids {
                        if *other != isolated {
                            self.cut.insert((isolated, *other));
                            self.cut.insert((*other, isolated));
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn heal(&mut self) {
        self.faults = false;
        self.cut.clear();
        let down: Vec<NodeId> = self.nodes.iter().filter(|(_, n)| n.raft.is_none()).map(|(id, _)| *id).collect();
        for id in down {
            self.start(id);
            self.process(id);
        }
    }
}

/// (entries committed, snapshots installed) of one seed.
fn run(seed: u64, n: u64, steps: usize) -> (usize, u64, u64) {
    run_with(Sim::new(seed, n), seed, steps)
}

fn run_with(mut s: Sim, seed: u64, steps: usize) -> (usize, u64, u64) {
    for _ in 0..steps {
        s.step();
    }
    // Liveness: without faults, a leader emerges and every server applies a final write.
    s.heal();
    let mut marker = None;
    let mut attempt = 0;
    for step in 0..20_000 {
        s.step();
        // (Re-)propose a marker until one commits; each attempt is a distinct value.
        let committed_marker = s.committed.values().find(|e| e.data.starts_with(b"final-")).map(|e| e.index);
        if committed_marker.is_none() && step % 500 == 0 {
            if let Some(l) = s.leader() {
                attempt += 1;
                let raft = s.nodes.get_mut(&l).and_then(|n| n.raft.as_mut()).expect("leader");
                let _ = raft.propose(format!("final-{attempt}").into_bytes());
                s.process(l);
            }
        }
        marker = committed_marker.or(marker);
        if let Some(m) = marker {
            // Every voter of the current membership (servers removed from it get nothing new).
            let members = s.leader().and_then(|l| s.nodes[&l].raft.as_ref()).map(|r| r.voters()).unwrap_or_default();
            if !members.is_empty() && s.nodes.iter().filter(|(id, _)| members.contains(id)).all(|(_, n)| n.applied.len() as u64 >= m) {
                let committed = s.committed.len();
                for n in s.nodes.values() {
                    assert_eq!(n.applied[..committed.min(n.applied.len())], s.committed.values().cloned().collect::<Vec<_>>()[..committed.min(n.applied.len())]);
                }
                s.changes = s.committed.values().filter(|e| parse_conf(&e.data).is_some()).count() as u64;
                return (committed, s.installs, s.changes);
            }
        }
    }
    let state: Vec<String> = s
        .nodes
        .iter()
        .map(|(id, n)| match &n.raft {
            Some(r) => format!("{id}: {:?} term {} leader {:?} last {}/{} commit {} applied {}", r.role, r.term, r.leader, r.last_index(), r.last_term(), r.commit, n.applied.len()),
            None => format!("{id}: down"),
        })
        .collect();
    panic!("seed {seed}: no progress after healing (marker {marker:?}, committed {}, in flight {}): {state:#?}", s.committed.len(), s.in_flight.len());
}

#[test]
fn three_servers_many_seeds() {
    let mut total = 0;
    let mut total_installs = 0;
    for seed in 1..=400 {
        let (committed, installs, _) = run(seed, 3, 3000);
        total += committed;
        total_installs += installs;
    }
    assert!(total > 400 * 20, "too little progress: {total}");
    assert!(total_installs > 50, "followers rarely caught up through snapshots ({total_installs}): the test would not exercise them");
}

#[test]
fn membership_changes_many_seeds() {
    // Five servers, three voters at first; the leader adds and removes voters one at a time
    // under the same faults. Committed entries must still never diverge.
    let mut changes = 0;
    for seed in 1..=300 {
        let (_, _, c) = run_with(Sim::with_voters(seed, 5, 3), seed, 3000);
        changes += c;
    }
    assert!(changes > 300, "too few membership changes committed ({changes}): the test would not exercise them");
}

#[test]
fn five_servers_many_seeds() {
    for seed in 1..=300 {
        run(seed, 5, 3000);
    }
}

#[test]
fn one_server_commits_alone() {
    let cfg = Config { id: 1, voters: vec![1], election_ticks: 5, heartbeat_ticks: 2, retry_ticks: 5, max_batch: 8, max_bytes: 1 << 20, seed: 1 };
    let mut r = Raft::restore(cfg, HardState::default(), vec![]);
    for _ in 0..20 {
        r.tick();
    }
    assert_eq!(r.role, Role::Leader);
    let i = r.propose(b"x".to_vec()).unwrap();
    let ready = r.ready();
    assert!(ready.committed.iter().any(|e| e.index == i && e.data == b"x"));
}

/// Raft's figure 8, scripted: an entry of an earlier term stored on a majority must not be
/// committed by counting replicas, or a later leader can overwrite it.
#[test]
fn figure_8_an_earlier_terms_entry_is_not_committed_by_counting() {
    struct Cluster {
        nodes: BTreeMap<NodeId, Node>,
        net: Vec<(NodeId, NodeId, Message)>,
        committed: BTreeMap<u64, Entry>,
    }
    impl Cluster {
        fn cfg(id: NodeId, restarts: u64) -> Config {
            Config { id, voters: vec![1, 2, 3, 4, 5], election_ticks: 10, heartbeat_ticks: 1000, retry_ticks: 10, max_batch: 1, max_bytes: 1 << 20, seed: id * 7 + restarts }
        }
        fn start(&mut self, id: NodeId) {
            let n = self.nodes.get_mut(&id).expect("node");
            n.restarts += 1;
            n.applied.clear();
            n.raft = Some(Raft::restore(Self::cfg(id, n.restarts), n.hs, n.log.clone()));
        }
        fn crash(&mut self, id: NodeId) {
            self.nodes.get_mut(&id).expect("node").raft = None;
            self.net.retain(|(f, t, _)| *f != id && *t != id);
        }
        fn process(&mut self, id: NodeId) {
            let n = self.nodes.get_mut(&id).expect("node");
            let Some(r) = n.raft.as_mut() else { return };
            let ready = r.ready();
            if let Some(hs) = ready.hard_state {
                n.hs = hs;
            }
            if let Some(from) = ready.truncate_from {
                n.log.truncate(from as usize - 1);
            }
            for e in ready.entries {
                n.log.truncate(e.index as usize - 1);
                n.log.push(e);
            }
            for e in ready.committed {
                if let Some(c) = self.committed.get(&e.index) {
                    assert_eq!(c, &e, "committed entry {} changed", e.index);
                }
                self.committed.insert(e.index, e.clone());
                n.applied.push(e);
            }
            self.net.extend(ready.messages);
        }
        /// Delivers messages the filter allows (others are dropped) until none are left.
        fn pump(&mut self, allow: &dyn Fn(NodeId, NodeId, &Message) -> bool) {
            while !self.net.is_empty() {
                let (f, t, m) = self.net.remove(0);
                if !allow(f, t, &m) {
                    continue;
                }
                if let Some(r) = self.nodes.get_mut(&t).and_then(|n| n.raft.as_mut()) {
                    r.step(f, m);
                    self.process(t);
                }
            }
        }
        /// Ticks `id` until it starts an election, others until they would accept one.
        fn timeout(&mut self, id: NodeId) {
            for _ in 0..40 {
                for other in [1, 2, 3, 4, 5] {
                    if other != id {
                        if let Some(r) = self.nodes.get_mut(&other).and_then(|n| n.raft.as_mut()) {
                            if r.role != Role::Leader {
                                r.tick();
                            }
                        }
                        // Their own campaigns go nowhere.
                        self.process(other);
                        self.net.retain(|(f, _, _)| *f != other);
                    }
                }
            }
            let r = self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()).expect("up");
            while r.role == Role::Follower {
                r.tick();
            }
            self.process(id);
        }
        fn raft(&mut self, id: NodeId) -> &mut Raft {
            self.nodes.get_mut(&id).and_then(|n| n.raft.as_mut()).expect("up")
        }
    }
    let mut c = Cluster { nodes: BTreeMap::new(), net: vec![], committed: BTreeMap::new() };
    for id in 1..=5 {
        c.nodes.insert(id, Node { raft: None, hs: HardState::default(), log: vec![], snap: (0, 0), applied: vec![], restarts: 0 });
        c.start(id);
    }
    let among = |set: &'static [NodeId]| move |f: NodeId, t: NodeId, _: &Message| set.contains(&f) && set.contains(&t);
    // (a) S1 leads; its no-op commits everywhere; "a" reaches S2 only.
    c.timeout(1);
    c.pump(&among(&[1, 2, 3, 4, 5]));
    assert_eq!(c.raft(1).role, Role::Leader);
    c.raft(1).propose(b"a".to_vec()).expect("leader");
    c.process(1);
    c.pump(&among(&[1, 2]));
    // (b) S1 crashes; S5 is elected by S3, S4 and appends its no-op, then crashes too.
    c.crash(1);
    c.timeout(5);
    c.pump(&|f: NodeId, t: NodeId, m: &Message| matches!(m, Message::Vote { .. } | Message::VoteReply { .. }) && [3, 4, 5].contains(&f) && [3, 4, 5].contains(&t));
    assert_eq!(c.raft(5).role, Role::Leader);
    assert_eq!(c.raft(5).last_index(), 2, "S5's no-op at index 2, on S5 alone");
    c.crash(5);
    // (c) S1 returns, is elected by S2, S3, S4, and copies "a" (index 2, old term) to S3: "a" is
    // now on a majority (S1, S2, S3) and S1 knows it, but must not commit it.
    c.start(1);
    c.process(1);
    // (It may need two tries: its first pre-vote learns the newer term.) To S3 go only appends
    // that S3 refuses (it lacks index 2) until the one carrying "a" alone (max_batch is 1).
    let got_a = std::cell::Cell::new(false);
    for _ in 0..5 {
        c.timeout(1);
        c.pump(&|f: NodeId, t: NodeId, m: &Message| {
            let votes = matches!(m, Message::Vote { .. } | Message::VoteReply { .. }) && [1, 2, 3, 4].contains(&f) && [1, 2, 3, 4].contains(&t);
            let to_s3 = match m {
                Message::Append { prev_index, entries, .. } if f == 1 && t == 3 => {
                    if entries.iter().any(|e| e.index == 2) {
                        got_a.set(true);
                        true
                    } else {
                        !got_a.get() && *prev_index >= 2
                    }
                }
                _ => false,
            };
            let s3_replies = matches!(m, Message::AppendReply { .. }) && f == 3 && t == 1;
            // S2 already holds "a"; its acknowledgement tells S1 so.
            let s2 = matches!(m, Message::Append { .. } | Message::AppendReply { .. }) && ((f, t) == (1, 2) || (f, t) == (2, 1));
            votes || to_s3 || s3_replies || s2
        });
        if c.raft(1).role == Role::Leader {
            break;
        }
    }
    assert_eq!(c.raft(1).role, Role::Leader);
    assert_eq!(c.nodes[&3].log.get(1).map(|e| e.data.clone()), Some(b"a".to_vec()), "S3 got \"a\"");
    assert!(c.raft(1).commit < 2, "an earlier term's entry was committed by counting replicas");
    // (d) S1 crashes; S5 (last term higher) is elected and overwrites index 2 everywhere.
    c.crash(1);
    c.start(5);
    c.process(5);
    c.timeout(5);
    c.pump(&among(&[2, 3, 4, 5]));
    for _ in 0..20 {
        c.raft(5).tick();
        c.process(5);
        c.pump(&among(&[2, 3, 4, 5]));
    }
    assert_eq!(c.raft(5).role, Role::Leader);
    assert!(c.raft(5).commit >= 2);
}

/// A removed server is sent the log until it holds the committed entry that removed it (it
/// applies the change and answers the client that asked for it), then no more.
#[test]
fn a_removed_server_learns_its_removal_then_hears_nothing() {
    let cfg = |id| Config { id, voters: vec![1, 2, 3], election_ticks: 10, heartbeat_ticks: 2, retry_ticks: 10, max_batch: 64, max_bytes: 1 << 20, seed: id };
    let mut nodes: BTreeMap<NodeId, Raft> = (1..=3).map(|id| (id, Raft::restore(cfg(id), HardState::default(), vec![]))).collect();
    let mut applied: BTreeMap<NodeId, Vec<u64>> = BTreeMap::new();
    let mut to_removed_after = 0;
    let mut conf = None;
    for round in 0..400 {
        let mut net = Vec::new();
        for (id, r) in nodes.iter_mut() {
            r.tick();
            let ready = r.ready();
            net.extend(ready.messages);
            applied.entry(*id).or_default().extend(ready.committed.iter().map(|e| e.index));
        }
        // Deliver everything until quiet (a reliable network).
        while !net.is_empty() {
            for (from, to, m) in std::mem::take(&mut net) {
                if conf.is_some_and(|c: u64| applied[&3].contains(&c)) && to == 3 && round > 200 {
                    to_removed_after += 1;
                }
                let r = nodes.get_mut(&to).unwrap();
                r.step(from, m);
                let ready = r.ready();
                net.extend(ready.messages);
                applied.entry(to).or_default().extend(ready.committed.iter().map(|e| e.index));
            }
        }
        if round == 100 {
            let leader = *nodes.iter().find(|(_, r)| r.role == Role::Leader).expect("a leader").0;
            assert_ne!(leader, 3, "server 3 has the highest id but no head start; pick another seed if it leads");
            let r = nodes.get_mut(&leader).unwrap();
            conf = Some(r.propose_conf(vec![1, 2], conf_entry(&[1, 2], b"remove 3")).expect("the change"));
        }
    }
    let c = conf.expect("the change was proposed");
    for id in 1..=3 {
        assert!(applied[&id].contains(&c), "server {id} never applied its removal at {c}");
    }
    assert_eq!(to_removed_after, 0, "the leader still sends to the removed server long after");
    let leader = nodes.values().find(|r| r.role == Role::Leader).expect("a leader");
    assert_eq!(leader.follower_matched().len(), 1, "only server 3's fellow member is a follower");
}
