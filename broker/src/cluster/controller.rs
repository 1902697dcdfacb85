//! The controller's decisions, as Kafka's ZooKeeper-mode controller makes them: which replica
//! leads each partition and which replicas are in sync, after brokers come and go or shut down.
//! Pure: the caller (`zk::Cluster`) writes the decisions, fenced by the controller epoch.

use std::collections::BTreeSet;

use super::znodes::PartitionState;

/// What the controller knows about the brokers.
#[derive(Debug, Clone, Default)]
pub struct Brokers {
    /// Registered (alive) broker ids.
    pub live: BTreeSet<i32>,
    /// Brokers in controlled shutdown: alive, but leadership moves away and they leave ISRs.
    pub shutting_down: BTreeSet<i32>,
}

impl Brokers {
    /// Alive and staying.
    pub fn eligible(&self, b: i32) -> bool {
        self.live.contains(&b) && !self.shutting_down.contains(&b)
    }
}

/// The state a partition should move to, if it differs from `state`:
///
/// - a live leader keeps leading (unless it is shutting down and another in-sync replica can
///   take over); in-sync replicas that died or are shutting down leave the ISR (never the
///   leader itself);
/// - a dead leader is replaced by the first replica, in assignment order, that is alive and in
///   the ISR, with the leader epoch bumped; the ISR loses the dead;
/// - with none: an unclean election (`unclean`) takes the first live replica with an ISR of
///   itself; otherwise the partition goes offline (leader -1, epoch bumped) and its ISR keeps
///   the last in-sync replicas, so that one of them leads again when it returns.
pub fn elect(replicas: &[i32], state: &PartitionState, brokers: &Brokers, unclean: bool, controller_epoch: i32) -> Option<PartitionState> {
    let in_isr_eligible: Vec<i32> = replicas.iter().copied().filter(|r| state.isr.contains(r) && brokers.eligible(*r)).collect();
    let leader_alive = state.leader >= 0 && brokers.live.contains(&state.leader) && replicas.contains(&state.leader);
    let leader_stays = leader_alive && (brokers.eligible(state.leader) || in_isr_eligible.is_empty());
    let next = if leader_stays {
        let isr: Vec<i32> = state.isr.iter().copied().filter(|r| *r == state.leader || brokers.eligible(*r)).collect();
        PartitionState { isr: with_first(isr, state.leader), ..state.clone() }
    } else if let Some(&leader) = in_isr_eligible.first() {
        let isr: Vec<i32> = state.isr.iter().copied().filter(|r| brokers.eligible(*r)).collect();
        PartitionState { leader, leader_epoch: state.leader_epoch + 1, isr: with_first(isr, leader), controller_epoch, ..state.clone() }
    } else if let Some(&leader) = replicas.iter().find(|r| brokers.eligible(**r)).filter(|_| unclean) {
        PartitionState { leader, leader_epoch: state.leader_epoch + 1, isr: vec![leader], controller_epoch, ..state.clone() }
    } else if state.leader == -1 {
        return None;
    } else {
        // Offline: no in-sync replica can lead. The ISR keeps whoever was in it last.
        let isr: Vec<i32> = state.isr.iter().copied().filter(|r| brokers.live.contains(r)).collect();
        let isr = if isr.is_empty() { state.isr.clone() } else { isr };
        PartitionState { leader: -1, leader_epoch: state.leader_epoch + 1, isr, controller_epoch, ..state.clone() }
    };
    (next != *state).then_some(next)
}

/// Preferred leader election: the first assigned replica takes over when it is alive, in sync
/// and not the leader already.
pub fn prefer(replicas: &[i32], state: &PartitionState, brokers: &Brokers, controller_epoch: i32) -> Option<PartitionState> {
    let preferred = *replicas.first()?;
    if state.leader == preferred || !brokers.eligible(preferred) || !state.isr.contains(&preferred) {
        return None;
    }
    Some(PartitionState { leader: preferred, leader_epoch: state.leader_epoch + 1, controller_epoch, ..state.clone() })
}

/// Kafka's imbalance ratio for one broker: of the partitions it is the preferred leader of, the
/// share it does not lead.
pub fn imbalance(broker: i32, partitions: &[(&[i32], &PartitionState)]) -> f64 {
    let preferred: Vec<_> = partitions.iter().filter(|(r, _)| r.first() == Some(&broker)).collect();
    if preferred.is_empty() {
        return 0.0;
    }
    let not_led = preferred.iter().filter(|(_, s)| s.leader != broker).count();
    not_led as f64 / preferred.len() as f64
}

/// A reassignment of a partition from `current` to `target` replicas, as Kafka keeps it while it
/// runs (KIP-455): (replicas, adding, removing), with every target replica first (so the first
/// target replica is the preferred leader from the start) and the leaving ones after.
pub fn start_reassignment(current: &[i32], target: &[i32]) -> (Vec<i32>, Vec<i32>, Vec<i32>) {
    let mut replicas = target.to_vec();
    replicas.extend(current.iter().filter(|r| !target.contains(r)));
    let adding = target.iter().copied().filter(|r| !current.contains(r)).collect();
    let removing = current.iter().copied().filter(|r| !target.contains(r)).collect();
    (replicas, adding, removing)
}

/// Completing a reassignment once every target replica is in sync: the leader stays if it is a
/// target replica, else the first target replica in sync and alive takes over; the ISR keeps
/// only target replicas; the leader epoch is bumped so that removed replicas are fenced.
/// `None` while a target replica is still catching up (or none could lead).
pub fn complete_reassignment(target: &[i32], state: &PartitionState, brokers: &Brokers, controller_epoch: i32) -> Option<PartitionState> {
    if target.is_empty() || !target.iter().all(|r| state.isr.contains(r)) {
        return None;
    }
    let leader = if target.contains(&state.leader) && brokers.live.contains(&state.leader) {
        state.leader
    } else {
        *target.iter().find(|r| brokers.eligible(**r))?
    };
    let isr: Vec<i32> = state.isr.iter().copied().filter(|r| target.contains(r)).collect();
    Some(PartitionState { leader, leader_epoch: state.leader_epoch + 1, isr: with_first(isr, leader), controller_epoch, ..state.clone() })
}

/// A partition is under-replicated when fewer replicas are in sync than it should have (the
/// replicas being added by a reassignment do not count yet, as in Kafka since KIP-352).
pub fn under_replicated(replicas: &[i32], adding: &[i32], isr: &[i32]) -> bool {
    isr.len() < replicas.len() - adding.iter().filter(|a| replicas.contains(a)).count()
}

fn with_first(mut isr: Vec<i32>, leader: i32) -> Vec<i32> {
    if !isr.contains(&leader) {
        isr.insert(0, leader);
    }
    isr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(leader: i32, epoch: i32, isr: &[i32]) -> PartitionState {
        PartitionState { controller_epoch: 1, leader, version: 1, leader_epoch: epoch, isr: isr.to_vec() }
    }

    fn live(ids: &[i32]) -> Brokers {
        Brokers { live: ids.iter().copied().collect(), shutting_down: BTreeSet::new() }
    }

    #[test]
    fn a_healthy_partition_is_left_alone() {
        assert_eq!(elect(&[1, 2, 3], &st(1, 0, &[1, 2, 3]), &live(&[1, 2, 3]), false, 2), None);
    }

    #[test]
    fn a_dead_leader_is_replaced_from_the_isr_in_assignment_order() {
        let s = elect(&[1, 2, 3], &st(1, 4, &[1, 3, 2]), &live(&[2, 3]), false, 2).unwrap();
        assert_eq!((s.leader, s.leader_epoch, s.isr.clone(), s.controller_epoch), (2, 5, vec![3, 2], 2));
        // a replica out of the ISR never leads in a clean election
        let s = elect(&[1, 2, 3], &st(1, 4, &[1, 3]), &live(&[2, 3]), false, 2).unwrap();
        assert_eq!(s.leader, 3);
    }

    #[test]
    fn dead_followers_leave_the_isr_without_an_epoch_bump() {
        let s = elect(&[1, 2, 3], &st(1, 4, &[1, 2, 3]), &live(&[1, 2]), false, 2).unwrap();
        assert_eq!((s.leader, s.leader_epoch, s.isr), (1, 4, vec![1, 2]));
    }

    #[test]
    fn no_live_in_sync_replica_means_offline_unless_unclean() {
        let s = elect(&[1, 2], &st(1, 4, &[1]), &live(&[2]), false, 2).unwrap();
        assert_eq!((s.leader, s.leader_epoch, s.isr.clone()), (-1, 5, vec![1]));
        // already offline: nothing more to write
        assert_eq!(elect(&[1, 2], &s, &live(&[2]), false, 2), None);
        // the last in-sync replica returns: it leads again
        let back = elect(&[1, 2], &s, &live(&[1, 2]), false, 2).unwrap();
        assert_eq!((back.leader, back.leader_epoch, back.isr), (1, 6, vec![1]));
        // unclean: a live out-of-sync replica takes over
        let u = elect(&[1, 2], &st(1, 4, &[1]), &live(&[2]), true, 2).unwrap();
        assert_eq!((u.leader, u.isr), (2, vec![2]));
    }

    #[test]
    fn controlled_shutdown_moves_leadership_and_leaves_the_isr() {
        let mut b = live(&[1, 2, 3]);
        b.shutting_down.insert(1);
        let s = elect(&[1, 2, 3], &st(1, 4, &[1, 2, 3]), &b, false, 2).unwrap();
        assert_eq!((s.leader, s.leader_epoch, s.isr), (2, 5, vec![2, 3]));
        // a follower that shuts down leaves the ISR
        let s = elect(&[2, 1], &st(2, 4, &[2, 1]), &b, false, 2).unwrap();
        assert_eq!((s.leader, s.isr), (2, vec![2]));
        // the only in-sync replica keeps leading while it shuts down
        assert_eq!(elect(&[1, 2], &st(1, 4, &[1]), &b, false, 2), None);
    }

    #[test]
    fn reassignment_adds_first_then_completes_when_the_targets_are_in_sync() {
        let (replicas, adding, removing) = start_reassignment(&[1, 2, 3], &[4, 2, 3]);
        assert_eq!((replicas.clone(), adding.clone(), removing.clone()), (vec![4, 2, 3, 1], vec![4], vec![1]));
        let b = live(&[1, 2, 3, 4]);
        // 4 still catching up: nothing to do, and not under-replicated meanwhile
        assert_eq!(complete_reassignment(&[4, 2, 3], &st(1, 7, &[1, 2, 3]), &b, 2), None);
        assert!(!under_replicated(&replicas, &adding, &[1, 2, 3]));
        assert!(under_replicated(&replicas, &adding, &[1, 2]));
        // in sync: the leader (1) is leaving, so 4 leads; 1 leaves the ISR; the epoch moves
        let s = complete_reassignment(&[4, 2, 3], &st(1, 7, &[1, 2, 3, 4]), &b, 2).unwrap();
        assert_eq!((s.leader, s.leader_epoch, s.isr), (4, 8, vec![2, 3, 4]));
        // a leader that stays keeps leading
        let s = complete_reassignment(&[2, 3, 4], &st(2, 7, &[1, 2, 3, 4]), &b, 2).unwrap();
        assert_eq!((s.leader, s.isr), (2, vec![2, 3, 4]));
    }

    #[test]
    fn preferred_leader_takes_over_when_in_sync() {
        let b = live(&[1, 2, 3]);
        let s = prefer(&[1, 2, 3], &st(2, 4, &[2, 3, 1]), &b, 2).unwrap();
        assert_eq!((s.leader, s.leader_epoch), (1, 5));
        assert_eq!(prefer(&[1, 2, 3], &st(2, 4, &[2, 3]), &b, 2), None);
        assert_eq!(prefer(&[1, 2, 3], &st(1, 4, &[1, 2]), &b, 2), None);
        let parts = [(&[1, 2][..], &st(2, 0, &[1, 2])), (&[1, 2][..], &st(1, 0, &[1, 2])), (&[2, 1][..], &st(2, 0, &[1, 2]))];
        assert_eq!(imbalance(1, &parts), 0.5);
        assert_eq!(imbalance(2, &parts), 0.0);
    }
}
