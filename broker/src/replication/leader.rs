//! A partition leader's view of its followers, as Kafka's `Partition` keeps it: each follower's
//! log end offset (the offset it fetches from), when it was last caught up, the in-sync replica
//! set as committed in the coordinator, and from those the high watermark and the ISR changes
//! to propose. Pure: time is passed in, the caller commits ISR changes to the coordinator
//! (conditionally on the state znode's version) before they count.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Follower {
    /// Log end offset: the offset of its last fetch (-1 until it fetches).
    pub leo: i64,
    /// When it last had everything the leader had (ms).
    pub caught_up_ms: i64,
    /// The leader's log end offset and the time of its previous fetch: a follower that fetches
    /// from at least that offset was caught up at that time (Kafka's lastCaughtUpTime rule,
    /// which keeps a follower in sync under a steady stream of appends).
    prev_leader_leo: i64,
    prev_fetch_ms: i64,
}

impl Follower {
    /// A follower not heard from yet; one in the ISR counts as caught up `now`.
    pub fn new(in_sync: bool, now: i64) -> Follower {
        Follower { leo: -1, caught_up_ms: if in_sync { now } else { i64::MIN / 2 }, prev_leader_leo: i64::MAX, prev_fetch_ms: now }
    }
}

#[derive(Debug, Clone)]
pub struct LeaderState {
    pub me: i32,
    pub epoch: i32,
    /// The ISR as last committed in the coordinator (the leader always in it).
    pub isr: Vec<i32>,
    /// Version of the partition state znode that holds `isr` (for conditional updates).
    pub state_version: i32,
    /// The log end offset when this epoch began: a follower joins the ISR only once it has
    /// reached it (it then holds every entry of earlier epochs the leader kept).
    pub epoch_start: i64,
    pub followers: BTreeMap<i32, Follower>,
    /// An ISR change is being written to the coordinator.
    pub pending_isr: Option<Vec<i32>>,
}

impl LeaderState {
    /// A new leadership. Followers in the ISR count as caught up now (they get a full lag
    /// interval to show up), those out of it as never.
    pub fn new(me: i32, epoch: i32, replicas: &[i32], isr: &[i32], state_version: i32, leo: i64, now: i64) -> LeaderState {
        let followers = replicas.iter().filter(|r| **r != me).map(|r| (*r, Follower::new(isr.contains(r), now))).collect();
        let mut isr = isr.to_vec();
        if !isr.contains(&me) {
            isr.insert(0, me);
        }
        LeaderState { me, epoch, isr, state_version, epoch_start: leo, followers, pending_isr: None }
    }

    /// A follower fetched from `offset` while the leader's log ended at `leader_leo`.
    pub fn on_fetch(&mut self, follower: i32, offset: i64, leader_leo: i64, now: i64) {
        let Some(f) = self.followers.get_mut(&follower) else { return };
        f.leo = offset.min(leader_leo);
        if offset >= leader_leo {
            f.caught_up_ms = now;
        } else if offset >= f.prev_leader_leo {
            f.caught_up_ms = f.caught_up_ms.max(f.prev_fetch_ms);
        }
        f.prev_leader_leo = leader_leo;
        f.prev_fetch_ms = now;
    }

    /// The smallest log end offset in the ISR: every in-sync replica has the records below it.
    pub fn high_watermark(&self, leader_leo: i64) -> i64 {
        self.isr
            .iter()
            .map(|r| if *r == self.me { leader_leo } else { self.followers.get(r).map_or(-1, |f| f.leo) })
            .min()
            .unwrap_or(leader_leo)
    }

    /// The ISR without followers that have not been caught up for `lag_ms` (Kafka's
    /// replica.lag.time.max.ms), if any are to go.
    pub fn shrink(&self, now: i64, lag_ms: i64) -> Option<Vec<i32>> {
        let keep: Vec<i32> = self.isr.iter().copied().filter(|r| *r == self.me || self.followers.get(r).is_some_and(|f| now - f.caught_up_ms <= lag_ms)).collect();
        (keep.len() != self.isr.len()).then_some(keep)
    }

    /// The ISR with followers that caught up: at or past the high watermark and the start of
    /// this epoch, and caught up within `lag_ms` (not those in controlled shutdown: `leaving`).
    pub fn expand(&self, hw: i64, now: i64, lag_ms: i64, leaving: &std::collections::BTreeSet<i32>) -> Option<Vec<i32>> {
        let joining: Vec<i32> = self.followers.iter().filter(|(id, f)| !self.isr.contains(id) && !leaving.contains(id) && f.leo >= hw && f.leo >= self.epoch_start && now - f.caught_up_ms <= lag_ms).map(|(id, _)| *id).collect();
        if joining.is_empty() {
            return None;
        }
        let mut isr = self.isr.clone();
        isr.extend(joining);
        Some(isr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_watermark_is_the_slowest_in_sync_replica() {
        let mut s = LeaderState::new(1, 3, &[1, 2, 3], &[1, 2, 3], 0, 100, 0);
        assert_eq!(s.high_watermark(100), -1, "followers that never fetched hold it back");
        s.on_fetch(2, 90, 100, 10);
        s.on_fetch(3, 100, 100, 10);
        assert_eq!(s.high_watermark(120), 90);
        // a follower cannot claim more than the leader has
        s.on_fetch(2, 500, 120, 11);
        assert_eq!(s.followers[&2].leo, 120);
        assert_eq!(s.high_watermark(120), 100);
        // a replica out of the ISR does not count
        s.isr = vec![1, 2];
        assert_eq!(s.high_watermark(120), 120);
    }

    #[test]
    fn a_follower_behind_for_longer_than_the_lag_leaves_the_isr() {
        let mut s = LeaderState::new(1, 0, &[1, 2, 3], &[1, 2, 3], 0, 0, 0);
        for t in (0..10_000).step_by(100) {
            // 2 keeps up with a leader that appends 10 records every 100 ms; 3 is stuck
            s.on_fetch(2, t / 10, t / 10 + 10, t);
            s.on_fetch(3, 0, t / 10 + 10, t);
        }
        assert_eq!(s.shrink(10_000, 3_000), Some(vec![1, 2]));
        assert_eq!(s.shrink(2_000, 3_000), None, "3 was caught up at time 0");
        // back in once it reaches the high watermark
        s.isr = vec![1, 2];
        s.on_fetch(3, 990, 1000, 10_100);
        assert_eq!(s.expand(1000, 10_100, 3000, &Default::default()), None, "below the high watermark");
        s.on_fetch(3, 1000, 1000, 10_200);
        assert_eq!(s.expand(1000, 10_200, 3000, &Default::default()), Some(vec![1, 2, 3]));
    }

    #[test]
    fn a_follower_must_reach_the_epoch_start_to_join() {
        let mut s = LeaderState::new(1, 5, &[1, 2], &[1], 0, 50, 0);
        s.on_fetch(2, 40, 50, 1);
        assert_eq!(s.expand(40, 1, 3000, &Default::default()), None);
        s.on_fetch(2, 50, 50, 2);
        assert_eq!(s.expand(50, 2, 3000, &[2].into()), None, "not while it shuts down");
        assert_eq!(s.expand(50, 2, 3000, &Default::default()), Some(vec![1, 2]));
    }
}
