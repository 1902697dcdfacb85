//! Replication, as Kafka does it: per partition one leader and followers that fetch from it.
//!
//! - `leader`: the leader's view of its followers, high watermark and ISR changes (pure);
//! - `client`: a minimal Kafka client for broker-to-broker requests;
//! - `fetcher`: the follower side, one task per leader broker (truncation by
//!   OffsetForLeaderEpoch, then Fetch with the replica id);
//! - this module: the replica manager that the handlers and the cluster view share: which
//!   partitions this broker leads (and their followers' progress) or follows.

pub mod client;
pub mod fetcher;
pub mod leader;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::log::partition::PartitionLog;
use crate::log::segment::now_ms;
use crate::log::TopicPartition;
use leader::LeaderState;

/// A partition this broker follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Follow {
    pub leader: i32,
    pub epoch: i32,
    /// The divergent suffix (if any) was cut after OffsetForLeaderEpoch for this epoch.
    pub truncated: bool,
}

/// An ISR change the leader wants committed to the coordinator.
#[derive(Debug, Clone)]
pub struct IsrChange {
    pub tp: TopicPartition,
    pub epoch: i32,
    pub isr: Vec<i32>,
    pub state_version: i32,
}

pub struct ReplicaManager {
    me: i32,
    leaders: Mutex<HashMap<TopicPartition, LeaderState>>,
    follows: Mutex<BTreeMap<TopicPartition, Follow>>,
    /// Wakes the fetch manager when what this broker follows changed.
    pub follows_changed: Notify,
}

impl ReplicaManager {
    pub fn new(me: i32) -> ReplicaManager {
        ReplicaManager { me, leaders: Mutex::new(HashMap::new()), follows: Mutex::new(BTreeMap::new()), follows_changed: Notify::new() }
    }

    pub fn me(&self) -> i32 {
        self.me
    }

    /// This broker leads `tp` at `epoch` with `isr` (as the coordinator says, at `state_version`).
    /// A new epoch starts a new leadership; the same epoch only refreshes the ISR.
    pub fn become_leader(&self, tp: &TopicPartition, log: &mut PartitionLog, epoch: i32, replicas: &[i32], isr: &[i32], state_version: i32) {
        if self.follows.lock().expect("follows").remove(tp).is_some() {
            self.follows_changed.notify_one();
        }
        let mut leaders = self.leaders.lock().expect("leaders");
        match leaders.get_mut(tp) {
            Some(s) if s.epoch == epoch => {
                if s.pending_isr.is_none() && state_version >= s.state_version {
                    s.isr = isr.to_vec();
                    s.state_version = state_version;
                }
                for r in replicas.iter().filter(|r| **r != self.me) {
                    s.followers.entry(*r).or_insert_with(|| leader::Follower::new(false, now_ms()));
                }
                s.followers.retain(|r, _| replicas.contains(r));
            }
            _ => {
                log.start_epoch(epoch);
                let s = LeaderState::new(self.me, epoch, replicas, isr, state_version, log.next_offset, now_ms());
                tracing::info!(partition = %tp, epoch, isr = ?s.isr, "leading");
                leaders.insert(tp.clone(), s);
            }
        }
        if let Some(s) = leaders.get(tp) {
            Self::update_hw(s, log);
        }
    }

    /// This broker follows `leader` for `tp` at `epoch` (or, with `leader` -1, nobody: the
    /// partition is offline).
    pub fn become_follower(&self, tp: &TopicPartition, leader: i32, epoch: i32) {
        if self.leaders.lock().expect("leaders").remove(tp).is_some() {
            tracing::info!(partition = %tp, epoch, leader, "no longer leading");
        }
        let mut follows = self.follows.lock().expect("follows");
        if leader < 0 {
            if follows.remove(tp).is_some() {
                self.follows_changed.notify_one();
            }
            return;
        }
        let f = Follow { leader, epoch, truncated: false };
        match follows.get(tp) {
            Some(old) if old.leader == leader && old.epoch == epoch => {}
            _ => {
                tracing::info!(partition = %tp, leader, epoch, "following");
                follows.insert(tp.clone(), f);
                self.follows_changed.notify_one();
            }
        }
    }

    /// The partition is no longer here (deleted, or reassigned away).
    pub fn forget(&self, tp: &TopicPartition) {
        self.leaders.lock().expect("leaders").remove(tp);
        if self.follows.lock().expect("follows").remove(tp).is_some() {
            self.follows_changed.notify_one();
        }
    }

    /// Leader epoch and committed ISR of a partition this broker leads.
    pub fn leadership(&self, tp: &TopicPartition) -> Option<(i32, Vec<i32>)> {
        self.leaders.lock().expect("leaders").get(tp).map(|s| (s.epoch, s.isr.clone()))
    }

    fn update_hw(s: &LeaderState, log: &mut PartitionLog) -> bool {
        log.advance_high_watermark(s.high_watermark(log.next_offset))
    }

    /// After an append on the leader: the high watermark moves when the ISR is this broker
    /// alone (otherwise the followers' fetches move it).
    pub fn after_append(&self, tp: &TopicPartition, log: &mut PartitionLog) -> bool {
        match self.leaders.lock().expect("leaders").get(tp) {
            Some(s) => Self::update_hw(s, log),
            None => false,
        }
    }

    /// A follower fetched `tp` from `offset`: its progress, and maybe a higher high watermark.
    pub fn follower_fetched(&self, tp: &TopicPartition, follower: i32, offset: i64, log: &mut PartitionLog) -> bool {
        let mut leaders = self.leaders.lock().expect("leaders");
        let Some(s) = leaders.get_mut(tp) else { return false };
        s.on_fetch(follower, offset, log.next_offset, now_ms());
        Self::update_hw(s, log)
    }

    /// Partitions led here whose ISR should change (followers lagging for `lag_ms`, or caught
    /// up): the changes to commit. Each is marked pending until `isr_committed`/`isr_failed`.
    pub fn isr_changes(&self, logs: &dyn Fn(&TopicPartition) -> Option<(i64, i64)>, lag_ms: i64, leaving: &std::collections::BTreeSet<i32>) -> Vec<IsrChange> {
        let tps: Vec<TopicPartition> = self.leaders.lock().expect("leaders").keys().cloned().collect();
        let ends: Vec<(TopicPartition, (i64, i64))> = tps.into_iter().filter_map(|tp| logs(&tp).map(|e| (tp, e))).collect();
        let now = now_ms();
        let mut out = Vec::new();
        let mut leaders = self.leaders.lock().expect("leaders");
        for (tp, (_leo, hw)) in ends {
            let Some(s) = leaders.get_mut(&tp) else { continue };
            if s.pending_isr.is_some() {
                continue;
            }
            let next = s.shrink(now, lag_ms).or_else(|| s.expand(hw, now, lag_ms, leaving));
            if let Some(isr) = next {
                s.pending_isr = Some(isr.clone());
                out.push(IsrChange { tp, epoch: s.epoch, isr, state_version: s.state_version });
            }
        }
        out
    }

    /// The coordinator took the ISR change (the state znode is now at `version`).
    pub fn isr_committed(&self, c: &IsrChange, version: i32, log: &mut PartitionLog) -> bool {
        let mut leaders = self.leaders.lock().expect("leaders");
        let Some(s) = leaders.get_mut(&c.tp) else { return false };
        if s.epoch != c.epoch {
            return false;
        }
        tracing::info!(partition = %c.tp, from = ?s.isr, to = ?c.isr, "ISR changed");
        s.isr = c.isr.clone();
        s.state_version = version;
        s.pending_isr = None;
        Self::update_hw(s, log)
    }

    /// The change was refused (the state moved on: a new leader, or the controller changed the
    /// ISR); the next metadata reload brings the current state.
    pub fn isr_failed(&self, c: &IsrChange) {
        if let Some(s) = self.leaders.lock().expect("leaders").get_mut(&c.tp) {
            s.pending_isr = None;
        }
    }

    /// Partitions followed, grouped by leader.
    pub fn follows_by_leader(&self) -> BTreeMap<i32, Vec<(TopicPartition, Follow)>> {
        let mut out: BTreeMap<i32, Vec<(TopicPartition, Follow)>> = BTreeMap::new();
        for (tp, f) in self.follows.lock().expect("follows").iter() {
            out.entry(f.leader).or_default().push((tp.clone(), f.clone()));
        }
        out
    }

    /// Whether `tp` is still followed from `leader` at `epoch`.
    pub fn follow_of(&self, tp: &TopicPartition) -> Option<Follow> {
        self.follows.lock().expect("follows").get(tp).cloned()
    }

    /// The log no longer lines up with the leader's: ask it again where our epoch ends before
    /// fetching more.
    pub fn recheck_divergence(&self, tp: &TopicPartition) {
        if let Some(f) = self.follows.lock().expect("follows").get_mut(tp) {
            f.truncated = false;
        }
    }

    /// The fetcher cut `tp`'s divergent suffix for `epoch`.
    pub fn mark_truncated(&self, tp: &TopicPartition, epoch: i32) {
        if let Some(f) = self.follows.lock().expect("follows").get_mut(tp) {
            if f.epoch == epoch {
                f.truncated = true;
            }
        }
    }
}
