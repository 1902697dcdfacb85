//! Scaling a coordinator ensemble by dynamic reconfiguration, one server at a time (pure).
//!
//! Server N is pod N-1. To grow, the StatefulSet gets one more pod (zoo.cfg then lists it too);
//! once that pod runs, `reconfig` adds it as a voter, and the next server follows. To shrink,
//! `reconfig` first removes the highest server, and only then does its pod go. So the pods
//! that exist are always the voters plus at most one joining, a joining server can never form
//! a quorum of its own, and no voter is stopped before the ensemble stops counting on it.

/// The servers voting now, as `/zookeeper/config` lists them.
pub fn voters(config_text: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = config_text
        .lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once('=')?;
            let id = k.trim().strip_prefix("server.")?.parse().ok()?;
            // observers do not vote
            let role = v.split(';').next()?.split(':').nth(3).unwrap_or("participant");
            (role == "participant").then_some(id)
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// What the ensemble needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The voters are servers 1..=pods, as wanted.
    Steady { pods: i32 },
    /// Run `pods` pods and, once pod `pods - 1` runs, add server `add` (= pods) by reconfig.
    Grow { pods: i32, add: i64 },
    /// Remove server `remove` by reconfig; its pod stays until then (`pods`).
    Shrink { pods: i32, remove: i64 },
    /// The voters are not servers 1..N (a reconfig made by hand): nothing is changed.
    Unexpected { pods: i32, why: String },
}

/// The next step from the voters to `wanted` servers. `running`: the pods the StatefulSet has now.
pub fn plan(voters: &[i64], wanted: i32, running: i32) -> Plan {
    let n = voters.len() as i64;
    if wanted == 1 && running == 1 {
        return Plan::Steady { pods: 1 };
    }
    if (wanted == 1) != (running == 1) {
        return Plan::Unexpected { pods: running, why: "an ensemble of one server runs standalone and cannot be scaled to or from 1 server: create a new ensemble instead".into() };
    }
    if n == 0 || voters.iter().copied().ne(1..=n) {
        return Plan::Unexpected { pods: running.max(n as i32), why: format!("the ensemble's voters are servers {voters:?}, not 1..{n}: change its membership back by reconfig, or scale it by hand") };
    }
    let wanted = wanted as i64;
    if wanted > n {
        Plan::Grow { pods: n as i32 + 1, add: n + 1 }
    } else if wanted < n {
        Plan::Shrink { pods: n as i32, remove: n }
    } else {
        Plan::Steady { pods: n as i32 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_voters() {
        let text = "server.1=zk-0.h:2888:3888:participant;2181\nserver.2=zk-1.h:2888:3888:participant;0.0.0.0:2181\nserver.3=zk-2.h:2888:3888:observer;2181\nversion=100000003";
        assert_eq!(voters(text), [1, 2]);
        assert_eq!(voters("server.2=a:1:2\nserver.1=b:1:2\n"), [1, 2], "the role defaults to participant");
    }

    #[test]
    fn grows_and_shrinks_one_server_at_a_time() {
        // 3 -> 5, as the reconciles see it: one more pod, then its reconfig, then the next
        let mut v = vec![1, 2, 3];
        let mut pods = 3;
        let mut steps = Vec::new();
        loop {
            match plan(&v, 5, pods) {
                Plan::Grow { pods: p, add } => {
                    pods = p;
                    v.push(add);
                    steps.push(format!("+{add}@{p}"));
                }
                Plan::Steady { pods: p } => {
                    assert_eq!(p, 5);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(steps, ["+4@4", "+5@5"]);
        // 5 -> 3: remove first, the pod goes after
        assert_eq!(plan(&v, 3, 5), Plan::Shrink { pods: 5, remove: 5 });
        assert_eq!(plan(&[1, 2, 3, 4], 3, 5), Plan::Shrink { pods: 4, remove: 4 });
        assert_eq!(plan(&[1, 2, 3], 3, 4), Plan::Steady { pods: 3 });
    }

    #[test]
    fn a_membership_made_by_hand_is_left_alone() {
        assert!(matches!(plan(&[1, 2, 4], 3, 4), Plan::Unexpected { pods: 4, .. }));
        assert!(matches!(plan(&[], 3, 3), Plan::Unexpected { pods: 3, .. }));
        // standalone: never scaled (and its /zookeeper/config may list nobody)
        assert_eq!(plan(&[], 1, 1), Plan::Steady { pods: 1 });
        assert!(matches!(plan(&[1], 3, 1), Plan::Unexpected { pods: 1, .. }));
        assert!(matches!(plan(&[1, 2, 3], 1, 3), Plan::Unexpected { pods: 3, .. }));
    }
}
