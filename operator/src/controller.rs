//! Controllers: each reconcile reads a resource, renders it (`render`), applies the objects with
//! server-side apply under one field manager, and writes the status (observedGeneration,
//! conditions). I/O only; what to write comes from the pure rendering.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;

use crate::crd::broker::BrokerCluster;
use crate::crd::common::Condition;
use crate::crd::ensemble::CoordinatorEnsemble;
use crate::crd::pipeline::LogPipeline;
use crate::crd::topic::Topic;
use crate::metrics::Metrics;
use crate::probe::Probe;
use crate::render::{self, Owner, Rendered};
use crate::rolling::{self, Step};
use crate::scaling::{self, Plan};

/// The one field manager of everything the operator writes.
pub const MANAGER: &str = "strom-operator";
/// `strom.io/pause-reconciliation: "true"` stops reconciling a resource (its objects stay).
pub const PAUSE: &str = "strom.io/pause-reconciliation";

pub struct Context {
    pub client: Client,
    /// Asks the running servers (coordinator modes, broker controller and health).
    pub probe: Arc<dyn Probe>,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Failed reconciles in a row per resource (`Kind/namespace/name`), for the backoff.
    pub failures: std::sync::Mutex<std::collections::HashMap<String, u32>>,
}

impl Context {
    pub fn new(client: Client, probe: Arc<dyn Probe>, metrics: Arc<Metrics>) -> Context {
        let instance = std::env::var("POD_NAME").ok().or_else(|| std::env::var("HOSTNAME").ok());
        let recorder = Recorder::new(client.clone(), Reporter { controller: MANAGER.into(), instance });
        Context { client, probe, recorder, metrics, failures: Default::default() }
    }

    /// A Kubernetes Event on `obj` (shown by `kubectl describe`) and the action counted in the
    /// metrics. An event that cannot be written is logged; it never fails the reconcile.
    async fn event<K>(&self, obj: &K, warning: bool, reason: &str, action: &str, note: String)
    where
        K: Resource<DynamicType = ()>,
    {
        self.metrics.action(&K::kind(&()), action);
        let ev = Event { type_: if warning { EventType::Warning } else { EventType::Normal }, reason: reason.into(), note: Some(note), action: action.into(), secondary: None };
        if let Err(e) = self.recorder.publish(&ev, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, reason, "cannot record an event");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Reference(String),
}

fn apply_params() -> PatchParams {
    PatchParams::apply(MANAGER).force()
}

async fn apply<K>(client: &Client, ns: &str, obj: &K) -> Result<K, Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()> + Clone + Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let name = obj.meta().name.clone().unwrap_or_default();
    Ok(api.patch(&name, &apply_params(), &Patch::Apply(obj)).await?)
}

/// Applies every object of a rendering; returns the StatefulSet as the server has it.
async fn apply_all(client: &Client, ns: &str, r: &Rendered) -> Result<StatefulSet, Error> {
    apply::<ConfigMap>(client, ns, &r.config_map).await?;
    for s in &r.services {
        apply::<Service>(client, ns, s).await?;
    }
    let ss = apply::<StatefulSet>(client, ns, &r.stateful_set).await?;
    apply::<PodDisruptionBudget>(client, ns, &r.pdb).await?;
    Ok(ss)
}

/// RFC 3339 UTC time of now (for condition transition times).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Conditions for a reconcile outcome, keeping each one's transition time while its status
/// stays the same.
pub fn conditions(previous: &[Condition], generation: i64, now: &str, set: &[(&str, bool, &str, &str)]) -> Vec<Condition> {
    set.iter()
        .map(|(t, ok, reason, message)| {
            let status = if *ok { "True" } else { "False" }.to_string();
            let since = previous.iter().find(|c| c.type_ == *t && c.status == status).and_then(|c| c.last_transition_time.clone()).unwrap_or_else(|| now.to_string());
            Condition { type_: t.to_string(), status, reason: reason.to_string(), message: message.to_string(), last_transition_time: Some(since), observed_generation: generation }
        })
        .collect()
}

async fn patch_status<K>(client: &Client, obj: &K, status: serde_json::Value) -> Result<(), Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), &obj.namespace().unwrap_or_else(|| "default".into()));
    let body = serde_json::json!({"apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status});
    api.patch_status(&obj.name_any(), &apply_params(), &Patch::Apply(&body)).await?;
    Ok(())
}

fn paused<K: Resource>(obj: &K) -> bool {
    obj.meta().annotations.as_ref().and_then(|a| a.get(PAUSE)).is_some_and(|v| v == "true")
}

/// With the pause annotation set: reports it in the status and does nothing else.
async fn report_paused<K>(client: &Client, obj: &K, previous: &[Condition], generation: i64, now: &str) -> Result<Option<Action>, Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    if !paused(obj) {
        return Ok(None);
    }
    let c = conditions(previous, generation, now, &[("ReconciliationPaused", true, "Paused", "the pause-reconciliation annotation is set")]);
    patch_status(client, obj, serde_json::json!({"conditions": c})).await?;
    Ok(Some(Action::await_change()))
}

/// A spec that cannot work: Degraded and not Available, with the reason; retried later.
#[allow(clippy::too_many_arguments)]
async fn report_degraded<K>(client: &Client, obj: &K, previous: &[Condition], generation: i64, now: &str, reason: &str, why: &str, retry: Duration) -> Result<Action, Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let c = conditions(previous, generation, now, &[("Degraded", true, reason, why), ("Available", false, reason, why)]);
    patch_status(client, obj, serde_json::json!({"observedGeneration": generation, "conditions": c})).await?;
    Ok(Action::requeue(retry))
}

/// The conditions after the objects were applied: Available once every replica is ready.
/// `rolling`: the progress of a rolling restart under way.
fn applied_conditions(previous: &[Condition], generation: i64, now: &str, ready: i32, wanted: i32, what: &str, rolling: Option<&str>) -> (bool, Vec<Condition>) {
    let available = ready == wanted;
    let msg = format!("{ready}/{wanted} {what} ready");
    let (progressing, why, progress) = match rolling {
        Some(r) => (true, "RollingRestart", format!("{msg}; {r}")),
        None if available => (false, "Reconciled", msg.clone()),
        None => (true, "WaitingForPods", msg.clone()),
    };
    let c = conditions(
        previous,
        generation,
        now,
        &[
            ("Available", available, if available { "AllReady" } else { "Starting" }, &msg),
            ("Progressing", progressing, why, &progress),
            ("Degraded", false, "Reconciled", ""),
            ("ReconciliationPaused", false, "NotPaused", ""),
        ],
    );
    (available, c)
}

/// Why an ensemble spec cannot work (the CRD's rules say the same; this guards resources
/// created before a rule existed, or with validation off).
pub fn ensemble_problem(e: &CoordinatorEnsemble) -> Option<String> {
    let r = e.spec.replicas;
    if !(1..=7).contains(&r) || r % 2 == 0 {
        return Some(format!("replicas is {r}: an ensemble has 1, 3, 5 or 7 servers"));
    }
    None
}

pub async fn reconcile_ensemble(e: Arc<CoordinatorEnsemble>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = e.namespace().unwrap_or_else(|| "default".into());
    let generation = e.metadata.generation.unwrap_or(0);
    let previous = e.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    let now = now_rfc3339();
    if let Some(a) = report_paused(&ctx.client, &*e, &previous, generation, &now).await? {
        return Ok(a);
    }
    if let Some(why) = ensemble_problem(&e) {
        return report_degraded(&ctx.client, &*e, &previous, generation, &now, "InvalidSpec", &why, Duration::from_secs(300)).await;
    }
    let owner = Owner::from(&*e);
    let password = admin_password(&ctx.client, &ns, &owner).await?;
    let connect = render::ensemble::connect_string(&owner.name, &ns, &e.spec);
    let sets: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &ns);
    let running = sets.get_opt(&owner.name).await?.and_then(|s| s.spec.and_then(|s| s.replicas));
    // The servers are asked at once (membership and each one's mode), each question bounded
    // well under a second, so that a reconcile never waits long for a server that is down.
    let (config, members) = tokio::join!(
        async {
            match running {
                Some(_) => Some(ctx.probe.ensemble_config(connect.clone()).await),
                None => None,
            }
        },
        ensemble_members(&ctx, &owner, running.unwrap_or(e.spec.replicas), e.spec.ports.client)
    );
    let plan = match (running, config) {
        // a new ensemble: every server at once (they form the ensemble together)
        (None, _) | (_, None) => Plan::Steady { pods: e.spec.replicas },
        (Some(running), Some(Ok(text))) => scaling::plan(&scaling::voters(&text), e.spec.replicas, running),
        (Some(running), Some(Err(_))) if running == e.spec.replicas => Plan::Steady { pods: running },
        (Some(running), Some(Err(why))) => Plan::Unexpected { pods: running, why: format!("waiting to read the ensemble's membership before scaling it: {why}") },
    };
    let pods = match &plan {
        Plan::Steady { pods } | Plan::Grow { pods, .. } | Plan::Shrink { pods, .. } | Plan::Unexpected { pods, .. } => *pods,
    };
    let r = render::ensemble::render_for(&owner, &e.spec, pods, Some(&crate::probe::super_digest(&password)));
    let ss = apply_all(&ctx.client, &ns, &r).await?;
    let ready = ss.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0);
    let leader = members.iter().find(|m| m.mode == "leader").map(|m| m.pod.clone());
    // A reconfig goes through the servers that answered just now (a new pod's name may not
    // resolve yet, a leaving one may be gone), all of them when none did.
    let serving: Vec<String> = members.iter().enumerate().filter(|(_, m)| m.mode == "leader" || m.mode == "follower").map(|(i, _)| server_addr(&owner, i as i32, e.spec.ports.client)).collect();
    let reconfig_via = if serving.is_empty() { connect.clone() } else { serving.join(",") };
    let scaling = scale(&ctx, &e, &ns, &owner, &r, &plan, &reconfig_via, &password).await?;
    // a restart waits for the membership to settle
    let rolling = match scaling {
        Some(s) => Some(s),
        None => roll(&ctx, &*e, &ns, &ss, &r, leader.as_deref(), None).await?,
    };
    let (available, c) = applied_conditions(&previous, generation, &now, ready, e.spec.replicas, "servers", rolling.as_deref());
    let status = serde_json::json!({
        "observedGeneration": generation,
        "readyReplicas": ready,
        "leader": leader,
        "members": members,
        "connectString": render::ensemble::connect_string(&owner.name, &ns, &e.spec),
        "conditions": c,
    });
    patch_status(&ctx.client, &*e, status).await?;
    // Available with no leader seen (the pods are ready before the servers form a quorum, or
    // the servers cannot be asked): asked again soon, so the members' modes follow.
    let settled = available && members.iter().any(|m| m.mode == "leader" || m.mode == "standalone");
    Ok(Action::requeue(Duration::from_secs(if rolling.is_some() { 5 } else if settled { 60 } else { 10 })))
}

/// The client address of the ensemble's server in pod `ordinal` (its pod DNS name).
fn server_addr(owner: &Owner, ordinal: i32, client_port: i32) -> String {
    format!("{}:{client_port}", render::pod_dns(&owner.name, ordinal, &render::headless_name(&owner.name), &owner.namespace))
}

/// Each server's mode, asked of the server itself.
async fn ensemble_members(ctx: &Context, owner: &Owner, pods: i32, client_port: i32) -> Vec<crate::crd::ensemble::Member> {
    let asks = (0..pods).map(|i| ctx.probe.coordinator_mode(server_addr(owner, i, client_port)));
    let modes = futures::future::join_all(asks).await;
    modes.into_iter().enumerate().map(|(i, m)| crate::crd::ensemble::Member { pod: format!("{}-{i}", owner.name), mode: m.unwrap_or_else(|| "unknown".into()) }).collect()
}

/// The password of the ensemble's super user (who may reconfig), from the Secret
/// `<name>-admin`, made with a random password the first time.
async fn admin_password(client: &Client, ns: &str, owner: &Owner) -> Result<String, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let name = format!("{}-admin", owner.name);
    if let Some(s) = api.get_opt(&name).await? {
        if let Some(pw) = s.data.as_ref().and_then(|d| d.get("password")).and_then(|b| String::from_utf8(b.0.clone()).ok()).filter(|p| !p.is_empty()) {
            return Ok(pw);
        }
        return Err(Error::Reference(format!("Secret {ns}/{name} has no password")));
    }
    use rand::distr::{Alphanumeric, SampleString};
    let pw = Alphanumeric.sample_string(&mut rand::rng(), 32);
    let lbl = render::labels("coordinator", &owner.name);
    let secret = Secret { metadata: owner.meta(name, &lbl), string_data: Some([("username".to_string(), "super".to_string()), ("password".to_string(), pw.clone())].into()), ..Default::default() };
    api.create(&PostParams::default(), &secret).await?;
    Ok(pw)
}

/// Carries out a scaling step of `plan` (see `scaling`): `Some(progress)` while the ensemble
/// is not yet the wanted size.
#[allow(clippy::too_many_arguments)]
async fn scale(ctx: &Context, e: &CoordinatorEnsemble, ns: &str, owner: &Owner, r: &Rendered, plan: &Plan, connect: &str, password: &str) -> Result<Option<String>, Error> {
    let (joining, leaving, what) = match plan {
        Plan::Steady { .. } => return Ok(None),
        Plan::Unexpected { why, .. } => return Ok(Some(why.clone())),
        Plan::Grow { add, .. } => {
            let ordinal = (*add - 1) as i32;
            let labels = r.stateful_set.spec.as_ref().and_then(|s| s.selector.match_labels.clone()).unwrap_or_default();
            let pods = rolling::pods(&ctx.client, ns, &owner.name, &labels).await?;
            if !pods.iter().any(|p| p.ordinal == ordinal && p.running && !p.terminating) {
                return Ok(Some(format!("scaling to {} servers: waiting for pod {}-{ordinal} to run before adding server {add}", e.spec.replicas, owner.name)));
            }
            (vec![render::ensemble::pod_server_line(&owner.name, ns, &e.spec, ordinal)], vec![], format!("added server {add} (pod {}-{ordinal})", owner.name))
        }
        Plan::Shrink { remove, .. } => (vec![], vec![*remove], format!("removed server {remove} (pod {}-{})", owner.name, remove - 1)),
    };
    match ctx.probe.reconfigure(connect.to_string(), password.to_string(), joining, leaving).await {
        Ok(_) => {
            ctx.event(e, false, "Scaled", "Reconfig", format!("{what} by reconfig, on the way to {} servers", e.spec.replicas)).await;
            Ok(Some(format!("scaling to {} servers: {what}", e.spec.replicas)))
        }
        Err(why) => {
            ctx.event(e, true, "ReconfigFailed", "Reconfig", why.clone()).await;
            Ok(Some(format!("scaling to {} servers: reconfig failed, retrying: {why}", e.spec.replicas)))
        }
    }
}

/// One step of a rolling restart of the StatefulSet's pods onto its current template (see
/// `rolling`): `Some(progress)` while pods remain to restart.
async fn roll<K>(ctx: &Context, obj: &K, ns: &str, ss: &StatefulSet, r: &Rendered, last: Option<&str>, hold: Option<&str>) -> Result<Option<String>, Error>
where
    K: Resource<DynamicType = ()>,
{
    let Some(revision) = rolling::update_revision(ss) else { return Ok(None) };
    let labels = r.stateful_set.spec.as_ref().and_then(|s| s.selector.match_labels.clone()).unwrap_or_default();
    let pods = rolling::pods(&ctx.client, ns, &ss.name_any(), &labels).await?;
    Ok(match rolling::plan(&pods, &revision, last, hold) {
        Step::Done => None,
        Step::Wait { outdated, why } => Some(format!("rolling restart: {outdated} pod(s) to restart; {why}")),
        Step::Restart { pod, outdated } => {
            rolling::restart(&ctx.client, ns, &pod).await?;
            let why = format!("restarting pod {pod} onto the new pod template ({outdated} pod(s) to restart)");
            ctx.event(obj, false, "RollingRestart", "RestartPod", why.clone()).await;
            Some(format!("rolling restart: {why}"))
        }
    })
}

/// The coordinator connect string a broker cluster uses.
async fn coordinator_connect(client: &Client, ns: &str, b: &BrokerCluster) -> Result<String, Error> {
    match (&b.spec.coordinator.ensemble, &b.spec.coordinator.connect) {
        (Some(e), _) => {
            let api: Api<CoordinatorEnsemble> = Api::namespaced(client.clone(), ns);
            let ens = api.get_opt(e).await?.ok_or_else(|| Error::Reference(format!("CoordinatorEnsemble {ns}/{e} does not exist")))?;
            Ok(render::ensemble::connect_string(e, ns, &ens.spec))
        }
        (None, Some(c)) => Ok(c.clone()),
        (None, None) => Err(Error::Reference("coordinator names neither an ensemble nor a connect string".into())),
    }
}

pub async fn reconcile_brokers(b: Arc<BrokerCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = b.namespace().unwrap_or_else(|| "default".into());
    let generation = b.metadata.generation.unwrap_or(0);
    let previous = b.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    let now = now_rfc3339();
    if let Some(a) = report_paused(&ctx.client, &*b, &previous, generation, &now).await? {
        return Ok(a);
    }
    let connect = match coordinator_connect(&ctx.client, &ns, &b).await {
        Ok(c) => c,
        Err(Error::Reference(why)) => return report_degraded(&ctx.client, &*b, &previous, generation, &now, "CoordinatorNotFound", &why, Duration::from_secs(15)).await,
        Err(e) => return Err(e),
    };
    let owner = Owner::from(&*b);
    // Scale-down is refused while the brokers that would go still hold replicas (as Strimzi
    // does): the StatefulSet keeps its size until they are drained (`stromctl brokers drain`).
    let sets: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &ns);
    let current = sets.get_opt(&owner.name).await?.and_then(|s| s.spec.and_then(|s| s.replicas)).unwrap_or(0);
    let mut spec = b.spec.clone();
    let mut blocked = None;
    if current > spec.replicas {
        let bootstrap = b.status.as_ref().and_then(|s| s.bootstrap_servers.clone()).unwrap_or_else(|| render::broker::bootstrap_servers(&owner.name, &ns, &b.spec));
        // Brokers that cannot be asked may hold replicas: refused too, with the reason.
        let why = match crate::kafka::brokers_with_replicas(&bootstrap).await {
            Ok(hosting) => {
                let held: Vec<i32> = (spec.replicas..current).filter(|id| hosting.contains(id)).collect();
                (!held.is_empty()).then(|| format!("brokers {held:?} still hold partition replicas; move them first (stromctl brokers drain <id>)"))
            }
            Err(e) => Some(format!("cannot ask the brokers which of them hold partition replicas ({e}); retrying")),
        };
        if let Some(why) = why {
            blocked = Some(format!("scale-down from {current} to {} refused: {why}", spec.replicas));
            spec.replicas = current;
        }
    }
    let r = render::broker::render(&owner, &spec, &connect);
    let ss = apply_all(&ctx.client, &ns, &r).await?;
    let ready = ss.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0);
    let bootstrap = render::broker::bootstrap_servers(&owner.name, &ns, &b.spec);
    let health = ctx.probe.broker_health(bootstrap.clone()).await;
    let controller = health.as_ref().ok().map(|h| h.controller).filter(|c| *c >= 0);
    // A broker is restarted only while no partition is under-replicated, the controller last.
    let hold = match &health {
        Ok(h) if h.under_replicated == 0 => None,
        Ok(h) => Some(format!("{} partition(s) under-replicated", h.under_replicated)),
        Err(e) => Some(format!("cannot ask the brokers for under-replicated partitions: {e}")),
    };
    let last = controller.map(|c| format!("{}-{c}", owner.name));
    let racks = match &b.spec.rack_label {
        Some(label) => assign_racks(&ctx, &ns, &r, label).await?,
        None => None,
    };
    let rolling = roll(&ctx, &*b, &ns, &ss, &r, last.as_deref(), hold.as_deref()).await?;
    let progress = match (racks, rolling) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    };
    let (available, mut c) = applied_conditions(&previous, generation, &now, ready, spec.replicas, "brokers", progress.as_deref());
    if let Some(why) = &blocked {
        c.retain(|x| x.type_ != "Degraded");
        c.extend(conditions(&previous, generation, &now, &[("Degraded", true, "ScaleDownBlocked", why)]));
        let was_blocked = previous.iter().any(|x| x.type_ == "Degraded" && x.reason == "ScaleDownBlocked" && x.status == "True");
        if !was_blocked {
            ctx.event(&*b, true, "ScaleDownBlocked", "RefuseScaleDown", why.clone()).await;
        }
    }
    let status = serde_json::json!({
        "observedGeneration": generation,
        "readyReplicas": ready,
        "controller": controller,
        "bootstrapServers": bootstrap,
        "conditions": c,
    });
    patch_status(&ctx.client, &*b, status).await?;
    Ok(Action::requeue(Duration::from_secs(if progress.is_some() { 5 } else if available { 60 } else { 10 })))
}

/// Rack awareness: copies the `label` of each broker pod's node into the pod's `strom.io/rack`
/// annotation, which the broker reads at start (a pod cannot see its node's labels). `Some`
/// names the pods still waiting (their node lacks the label).
async fn assign_racks(ctx: &Context, ns: &str, r: &Rendered, label: &str) -> Result<Option<String>, Error> {
    let selector = rolling::selector(&r.stateful_set.spec.as_ref().and_then(|s| s.selector.match_labels.clone()).unwrap_or_default());
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    let mut waiting = Vec::new();
    // A node's label read once, however many brokers it runs.
    let mut racks: std::collections::BTreeMap<String, Option<String>> = Default::default();
    for p in pods.list(&ListParams::default().labels(&selector)).await? {
        let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.clone()) else { continue };
        let have = p.annotations().get(render::broker::RACK_ANNOTATION).cloned();
        let rack = match racks.get(&node) {
            Some(r) => r.clone(),
            None => {
                let r = nodes.get_opt(&node).await?.and_then(|n| n.labels().get(label).cloned());
                racks.insert(node.clone(), r.clone());
                r
            }
        };
        match rack {
            Some(rack) if have.as_deref() != Some(rack.as_str()) => {
                let patch = serde_json::json!({"metadata": {"annotations": {render::broker::RACK_ANNOTATION: rack}}});
                pods.patch(&p.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
            }
            Some(_) => {}
            None => waiting.push(format!("{} (node {node} has no label {label})", p.name_any())),
        }
    }
    Ok((!waiting.is_empty()).then(|| format!("waiting for a rack: {}", waiting.join(", "))))
}

/// Runs one reconcile, counting it and its duration in the metrics.
pub async fn measured<F>(kind: &'static str, ctx: Arc<Context>, key: String, reconcile: F) -> Result<Action, Error>
where
    F: std::future::Future<Output = Result<Action, Error>>,
{
    let start = std::time::Instant::now();
    let r = reconcile.await;
    let took = start.elapsed();
    ctx.metrics.reconciled(kind, r.is_ok(), took);
    if took > std::time::Duration::from_secs(1) {
        tracing::info!(kind, resource = %key, took_ms = took.as_millis() as u64, ok = r.is_ok(), "a reconcile took over a second");
    }
    if r.is_ok() {
        ctx.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(&format!("{kind}/{key}"));
    }
    r
}

/// The wait before retrying a resource whose reconcile failed `failures` times in a row:
/// 5 s doubling to at most 5 minutes.
pub fn retry_after(failures: u32) -> Duration {
    Duration::from_secs(5u64.saturating_mul(1 << failures.saturating_sub(1).min(6)).min(300))
}

/// Errors: logged, retried with exponential backoff per resource (never a crash loop); a
/// successful reconcile (`measured`) resets the count.
pub fn error_policy<K: Resource<DynamicType = ()>>(obj: Arc<K>, e: &Error, ctx: Arc<Context>) -> Action {
    let key = format!("{}/{}/{}", K::kind(&()), obj.meta().namespace.as_deref().unwrap_or_default(), obj.meta().name.as_deref().unwrap_or_default());
    let failures = {
        let mut f = ctx.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = f.entry(key.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let wait = retry_after(failures);
    tracing::warn!(error = %e, resource = %key, failures, retry_in_s = wait.as_secs(), "reconcile failed; retrying");
    Action::requeue(wait)
}

/// Finalizer on Topics: the Kafka topic is deleted before the resource goes.
pub const TOPIC_FINALIZER: &str = "strom.io/topic";

/// Topic → the Kafka topic in its cluster: created with its partitions, replication factor and
/// configs, grown when `partitions` grows, deleted (finalizer) when the resource is deleted;
/// status lists each partition's leader, replicas and ISR.
pub async fn reconcile_topic(t: Arc<Topic>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = t.namespace().unwrap_or_else(|| "default".into());
    let name = t.name_any();
    let topic = t.spec.topic_name.clone().unwrap_or_else(|| name.clone());
    let generation = t.metadata.generation.unwrap_or(0);
    let previous = t.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    let now = now_rfc3339();
    let api: Api<Topic> = Api::namespaced(ctx.client.clone(), &ns);
    let finalizers = t.metadata.finalizers.clone().unwrap_or_default();
    let has_finalizer = finalizers.iter().any(|f| f == TOPIC_FINALIZER);
    let clusters: Api<BrokerCluster> = Api::namespaced(ctx.client.clone(), &ns);
    let cluster = clusters.get_opt(&t.spec.cluster).await?;
    let bootstrap = cluster.as_ref().map(|c| c.status.as_ref().and_then(|s| s.bootstrap_servers.clone()).unwrap_or_else(|| render::broker::bootstrap_servers(&t.spec.cluster, &ns, &c.spec)));
    if t.metadata.deletion_timestamp.is_some() {
        if has_finalizer {
            if let Some(b) = &bootstrap {
                crate::kafka::delete(b, &topic).await.map_err(Error::Reference)?;
                ctx.metrics.action("Topic", "DeleteTopic");
            }
            let rest: Vec<String> = finalizers.into_iter().filter(|f| f != TOPIC_FINALIZER).collect();
            api.patch(&name, &PatchParams::default(), &Patch::Merge(serde_json::json!({"metadata": {"finalizers": rest}}))).await?;
        }
        return Ok(Action::await_change());
    }
    if let Some(a) = report_paused(&ctx.client, &*t, &previous, generation, &now).await? {
        return Ok(a);
    }
    let Some(bootstrap) = bootstrap else {
        let why = format!("BrokerCluster {ns}/{} does not exist", t.spec.cluster);
        return report_degraded(&ctx.client, &*t, &previous, generation, &now, "ClusterNotFound", &why, Duration::from_secs(15)).await;
    };
    if !has_finalizer {
        let mut all = finalizers.clone();
        all.push(TOPIC_FINALIZER.into());
        api.patch(&name, &PatchParams::default(), &Patch::Merge(serde_json::json!({"metadata": {"finalizers": all}}))).await?;
    }
    let outcome = match crate::kafka::describe(&bootstrap, &topic).await {
        Ok(None) => crate::kafka::create(&bootstrap, &topic, t.spec.partitions, t.spec.replication_factor, &t.spec.config).await.map(|()| Some(format!("created topic {topic} with {} partition(s), replication factor {}", t.spec.partitions, t.spec.replication_factor))),
        Ok(Some(parts)) => topic_changes(&bootstrap, &topic, parts.len() as i32, &t.spec).await,
        Err(e) => Err(e),
    };
    match &outcome {
        Ok(Some(done)) => ctx.event(&*t, false, "TopicUpdated", "UpdateTopic", done.clone()).await,
        Err(why) => ctx.event(&*t, true, "KafkaRefused", "UpdateTopic", why.clone()).await,
        Ok(None) => {}
    }
    if let Err(why) = outcome {
        return report_degraded(&ctx.client, &*t, &previous, generation, &now, "KafkaRefused", &why, Duration::from_secs(30)).await;
    }
    let parts = crate::kafka::describe(&bootstrap, &topic).await.map_err(Error::Reference)?.unwrap_or_default();
    let led = parts.iter().filter(|p| p.leader >= 0).count();
    let (available, c) = applied_conditions(&previous, generation, &now, led as i32, t.spec.partitions, "partitions with a leader", None);
    patch_status(&ctx.client, &*t, serde_json::json!({"observedGeneration": generation, "partitions": parts, "conditions": c})).await?;
    Ok(Action::requeue(Duration::from_secs(if available { 120 } else { 5 })))
}

/// Brings an existing topic to its spec: more partitions (Kafka cannot remove any), and its
/// config overrides set to exactly the spec's. What was done, if anything.
async fn topic_changes(bootstrap: &str, topic: &str, partitions: i32, spec: &crate::crd::topic::TopicSpec) -> Result<Option<String>, String> {
    let mut done = Vec::new();
    if partitions < spec.partitions {
        crate::kafka::grow(bootstrap, topic, spec.partitions).await?;
        done.push(format!("grew topic {topic} from {partitions} to {} partitions", spec.partitions));
    }
    let configs = crate::kafka::topic_configs(bootstrap, topic).await?;
    if configs != spec.config {
        crate::kafka::set_topic_configs(bootstrap, topic, &spec.config).await?;
        let changed: Vec<&String> = configs.keys().chain(spec.config.keys()).filter(|k| configs.get(*k) != spec.config.get(*k)).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        done.push(format!("set the configs of topic {topic} ({})", changed.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")));
    }
    Ok((!done.is_empty()).then(|| done.join("; ")))
}

/// LogPipeline → its Topic and dead-letter Topic (reconciled by the Topic controller), the
/// shipper's and processor's ConfigMaps, the shippers' DaemonSet (when a source runs on the
/// nodes) and the processors' Deployment; status counts the ready shippers and processors.
pub async fn reconcile_pipeline(p: Arc<LogPipeline>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = p.namespace().unwrap_or_else(|| "default".into());
    let generation = p.metadata.generation.unwrap_or(0);
    let previous = p.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default();
    let now = now_rfc3339();
    if let Some(a) = report_paused(&ctx.client, &*p, &previous, generation, &now).await? {
        return Ok(a);
    }
    let clusters: Api<BrokerCluster> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(cluster) = clusters.get_opt(&p.spec.cluster).await? else {
        let why = format!("BrokerCluster {ns}/{} does not exist", p.spec.cluster);
        return report_degraded(&ctx.client, &*p, &previous, generation, &now, "ClusterNotFound", &why, Duration::from_secs(15)).await;
    };
    let bootstrap = cluster.status.as_ref().and_then(|s| s.bootstrap_servers.clone()).unwrap_or_else(|| render::broker::bootstrap_servers(&p.spec.cluster, &ns, &cluster.spec));
    let owner = Owner::from(&*p);
    let r = render::pipeline::render(&owner, &p.spec, &bootstrap);
    apply::<Topic>(&ctx.client, &ns, &r.topic).await?;
    apply::<Topic>(&ctx.client, &ns, &r.dead_letter_topic).await?;
    apply::<ConfigMap>(&ctx.client, &ns, &r.shipper_config).await?;
    apply::<ConfigMap>(&ctx.client, &ns, &r.processor_config).await?;
    let (ready_shippers, desired_shippers) = match &r.shipper {
        Some(ds) => {
            let ds = apply::<DaemonSet>(&ctx.client, &ns, ds).await?;
            ds.status.map_or((0, 0), |s| (s.number_ready, s.desired_number_scheduled))
        }
        None => (0, 0),
    };
    let dep = apply::<Deployment>(&ctx.client, &ns, &r.processor).await?;
    let ready_processors = dep.status.and_then(|s| s.ready_replicas).unwrap_or(0);
    let lag = ctx.probe.group_lag(bootstrap.clone(), p.spec.processor.consumer_group.clone(), p.spec.topic.name.clone()).await.ok();
    let shippers_ok = r.shipper.is_none() || ready_shippers >= desired_shippers;
    let (available, mut c) = applied_conditions(&previous, generation, &now, ready_processors, p.spec.processor.replicas, "processors", None);
    if !shippers_ok {
        let msg = format!("{ready_shippers}/{desired_shippers} shippers ready");
        c = conditions(&previous, generation, &now, &[("Available", false, "Starting", &msg), ("Progressing", true, "WaitingForPods", &msg), ("Degraded", false, "Reconciled", ""), ("ReconciliationPaused", false, "NotPaused", "")]);
    }
    let status = serde_json::json!({
        "observedGeneration": generation,
        "readyShippers": ready_shippers,
        "desiredShippers": desired_shippers,
        "readyProcessors": ready_processors,
        "consumerLag": lag,
        "conditions": c,
    });
    patch_status(&ctx.client, &*p, status).await?;
    Ok(Action::requeue(Duration::from_secs(if available && shippers_ok { 60 } else { 10 })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_reconciles_back_off_exponentially_to_five_minutes() {
        let waits: Vec<u64> = (1..=9).map(|n| retry_after(n).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    }
}
