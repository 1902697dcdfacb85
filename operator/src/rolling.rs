//! Rolling restarts in the operator's order. The StatefulSets use the `OnDelete` update strategy,
//! so Kubernetes replaces a pod with the new template only when the operator deletes it: one pod
//! at a time, only while every other pod is ready, the ensemble's leader (or the broker cluster's
//! controller) last, so that leadership moves once instead of at every step (as Strimzi and
//! stackable's operators do). `plan` decides, purely; `roll` reads pods and deletes one.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};
use kube::{Client, ResourceExt};

/// The label Kubernetes puts on each StatefulSet pod: the revision its template came from.
pub const REVISION: &str = "controller-revision-hash";

/// One pod as the roller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    pub name: String,
    pub ordinal: i32,
    pub revision: String,
    pub ready: bool,
    /// Its containers run (phase Running), ready or not.
    pub running: bool,
    pub terminating: bool,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Every pod runs the current template.
    Done,
    /// Pods still to restart, but not now (the reason says why).
    Wait { outdated: usize, why: String },
    /// Delete this pod; Kubernetes recreates it from the current template.
    Restart { pod: String, outdated: usize },
}

/// The next step of a rolling restart to `revision`. `last` names the pod to restart last (the
/// ensemble leader, the broker controller); `hold` is why restarting any pod would hurt now (a
/// broker cluster with under-replicated partitions, or brokers that cannot be asked).
pub fn plan(pods: &[PodView], revision: &str, last: Option<&str>, hold: Option<&str>) -> Step {
    let mut outdated: Vec<&PodView> = pods.iter().filter(|p| p.revision != revision).collect();
    if outdated.is_empty() {
        return Step::Done;
    }
    let n = outdated.len();
    if let Some(p) = pods.iter().find(|p| p.terminating) {
        return Step::Wait { outdated: n, why: format!("pod {} is terminating", p.name) };
    }
    let unready: Vec<&PodView> = pods.iter().filter(|p| !p.ready).collect();
    match unready.as_slice() {
        [] => {}
        // A pod that is down anyway and still on the old template (it may never come up with
        // it) is restarted first: that costs no availability.
        [p] if p.revision != revision => return Step::Restart { pod: p.name.clone(), outdated: n },
        _ => return Step::Wait { outdated: n, why: format!("waiting for pod {} to be ready", unready[0].name) },
    }
    if let Some(why) = hold {
        return Step::Wait { outdated: n, why: why.to_string() };
    }
    // Highest ordinal first (the StatefulSet's own order), the one named last at the end.
    outdated.sort_by_key(|p| (Some(p.name.as_str()) == last, -p.ordinal));
    Step::Restart { pod: outdated[0].name.clone(), outdated: n }
}

fn view(p: &Pod, set: &str) -> Option<PodView> {
    let name = p.name_any();
    let ordinal = name.strip_prefix(set)?.strip_prefix('-')?.parse().ok()?;
    let ready = p.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let running = p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
    Some(PodView { revision: p.labels().get(REVISION).cloned().unwrap_or_default(), name, ordinal, ready, running, terminating: p.metadata.deletion_timestamp.is_some() })
}

/// A label selector (`k=v,k2=v2`) matching every label given.
pub fn selector(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// The StatefulSet's pods (by its selector labels), as the roller sees them.
pub async fn pods(client: &Client, ns: &str, set: &str, labels: &std::collections::BTreeMap<String, String>) -> Result<Vec<PodView>, kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let selector = selector(labels);
    Ok(api.list(&ListParams::default().labels(&selector)).await?.items.iter().filter_map(|p| view(p, set)).collect())
}

/// The revision pods should run, once the StatefulSet controller has seen the current spec.
pub fn update_revision(ss: &StatefulSet) -> Option<String> {
    let st = ss.status.as_ref()?;
    if st.observed_generation? < ss.metadata.generation? {
        return None;
    }
    st.update_revision.clone()
}

/// Carries out a `Restart` step.
pub async fn restart(client: &Client, ns: &str, pod: &str) -> Result<(), kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    api.delete(pod, &DeleteParams::default()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ordinal: i32, revision: &str, ready: bool) -> PodView {
        PodView { name: format!("zk-{ordinal}"), ordinal, revision: revision.into(), ready, running: true, terminating: false }
    }

    #[test]
    fn restarts_followers_highest_first_and_the_leader_last() {
        let mut pods = vec![pod(0, "old", true), pod(1, "old", true), pod(2, "old", true)];
        let mut order = Vec::new();
        loop {
            match plan(&pods, "new", Some("zk-1"), None) {
                Step::Restart { pod, .. } => {
                    order.push(pod.clone());
                    let p = pods.iter_mut().find(|p| p.name == pod).unwrap();
                    p.revision = "new".into();
                }
                Step::Done => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(order, ["zk-2", "zk-0", "zk-1"]);
    }

    #[test]
    fn one_at_a_time_and_only_when_the_rest_is_ready() {
        let pods = vec![pod(0, "old", true), pod(1, "new", false), pod(2, "old", true)];
        assert!(matches!(plan(&pods, "new", None, None), Step::Wait { outdated: 2, .. }));
        let mut t = vec![pod(0, "old", true), pod(1, "new", true), pod(2, "old", true)];
        t[1].terminating = true;
        assert!(matches!(plan(&t, "new", None, None), Step::Wait { .. }));
        // an outdated pod that is down anyway goes first
        let pods = vec![pod(0, "old", false), pod(1, "old", true), pod(2, "old", true)];
        assert_eq!(plan(&pods, "new", Some("zk-0"), None), Step::Restart { pod: "zk-0".into(), outdated: 3 });
        // two down: wait
        let pods = vec![pod(0, "old", false), pod(1, "old", false), pod(2, "old", true)];
        assert!(matches!(plan(&pods, "new", None, None), Step::Wait { .. }));
        // unsafe (under-replicated partitions): wait
        let pods = vec![pod(0, "old", true)];
        assert_eq!(plan(&pods, "new", None, Some("2 partitions under-replicated")), Step::Wait { outdated: 1, why: "2 partitions under-replicated".into() });
        assert_eq!(plan(&[pod(0, "new", true)], "new", None, Some("x")), Step::Done);
    }
}
