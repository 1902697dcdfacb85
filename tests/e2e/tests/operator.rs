//! The chart and strom-operator against a real API server, controller-manager, scheduler and
//! (fake) nodes. One test at a time (`--test-threads=1`): each has its namespace and its own
//! operator process(es) on a Lease of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use strom_e2e::*;
use strom_operator::crd::broker::BrokerCluster;
use strom_operator::crd::common::Condition;
use strom_operator::crd::ensemble::CoordinatorEnsemble;
use strom_operator::crd::pipeline::LogPipeline;

fn seed() -> String {
    std::fs::read_to_string(repo().join("examples/k8s/seed.yaml")).expect("examples/k8s/seed.yaml")
}

fn condition<'a>(cs: &'a [Condition], t: &str) -> Option<&'a Condition> {
    cs.iter().find(|c| c.type_ == t)
}

fn ensemble_conditions(e: &CoordinatorEnsemble) -> Vec<Condition> {
    e.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default()
}

fn broker_conditions(b: &BrokerCluster) -> Vec<Condition> {
    b.status.as_ref().map(|s| s.conditions.clone()).unwrap_or_default()
}

/// Waits until the object's condition `t` has `status`; returns it.
async fn wait_condition<K, F>(api: &Api<K>, name: &str, t: &str, status: &str, secs: u64, conditions: F) -> Condition
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    F: Fn(&K) -> Vec<Condition>,
{
    wait_message(api, name, t, status, "", secs, conditions).await
}

/// Waits until the object's condition `t` has `status` and a message containing `needle`.
async fn wait_message<K, F>(api: &Api<K>, name: &str, t: &str, status: &str, needle: &str, secs: u64, conditions: F) -> Condition
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    F: Fn(&K) -> Vec<Condition>,
{
    eventually(&format!("{name}: condition {t}={status} saying {needle:?}"), secs, || async {
        let o = api.get(name).await.map_err(|e| e.to_string())?;
        let cs = conditions(&o);
        match condition(&cs, t) {
            Some(c) if c.status == status && c.message.contains(needle) => Ok(c.clone()),
            _ => Err(format!("{cs:?}")),
        }
    })
    .await
}

async fn ready_pods(client: &Client, ns: &str, set: &str) -> Result<BTreeMap<String, (String, bool)>, String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let list = pods.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
    Ok(list
        .items
        .iter()
        .filter(|p| p.name_any().rsplit_once('-').is_some_and(|(s, o)| s == set && o.parse::<u32>().is_ok()))
        .map(|p| {
            let ready = p.metadata.deletion_timestamp.is_none() && p.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            (p.name_any(), (p.uid().unwrap_or_default(), ready))
        })
        .collect())
}

async fn wait_ready_pods(client: &Client, ns: &str, set: &str, n: usize, secs: u64) {
    eventually(&format!("{ns}/{set}: {n} pods ready"), secs, || async {
        let p = ready_pods(client, ns, set).await?;
        if p.len() == n && p.values().all(|(_, r)| *r) { Ok(()) } else { Err(format!("{p:?}")) }
    })
    .await;
}

#[tokio::test]
async fn chart_installs_crds_rbac_and_the_operator_deployment() {
    let client = admin().await;
    install_chart().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in ["coordinatorensembles.strom.io", "brokerclusters.strom.io", "topics.strom.io", "logpipelines.strom.io"] {
        let crd = crds.get(name).await.unwrap_or_else(|e| panic!("CRD {name}: {e}"));
        let established = crd.status.and_then(|s| s.conditions).unwrap_or_default().iter().any(|c| c.type_ == "Established" && c.status == "True");
        assert!(established, "CRD {name} not established");
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), OPERATOR_NAMESPACE);
    let d = deployments.get(SERVICE_ACCOUNT).await.expect("the operator Deployment");
    assert_eq!(d.spec.as_ref().and_then(|s| s.template.spec.as_ref()).and_then(|s| s.service_account_name.clone()).as_deref(), Some(SERVICE_ACCOUNT));
    let wanted = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    assert_eq!(d.status.and_then(|s| s.available_replicas).unwrap_or(0), wanted, "helm --wait returned with the Deployment available");
    // The ServiceAccount may do what the operator needs and no more: kubectl auth can-i as it.
    let sa = format!("system:serviceaccount:{OPERATOR_NAMESPACE}:{SERVICE_ACCOUNT}");
    for (verb, what, want) in [
        ("create", "statefulsets.apps", "yes"),
        ("patch", "coordinatorensembles.strom.io/status", "yes"),
        ("delete", "pods", "yes"),
        ("create", "poddisruptionbudgets.policy", "yes"),
        ("get", "nodes", "yes"),
        ("create", "clusterroles.rbac.authorization.k8s.io", "no"),
        ("delete", "namespaces", "no"),
    ] {
        let got = match kubectl(&["auth", "can-i", verb, what, "--as", &sa, "-A"], None) {
            Ok(s) => s,
            Err(e) => e,
        };
        assert!(got.trim_end().ends_with(want), "can the operator {verb} {what}? want {want}, got {got}");
    }
}

#[tokio::test]
async fn invalid_resources_are_refused_by_the_api_server_with_the_rule_messages() {
    let client = admin().await;
    install_chart().await;
    let ns = namespace(&client, "e2e-invalid").await;
    let cases = [
        ("apiVersion: strom.io/v1alpha1\nkind: CoordinatorEnsemble\nmetadata: {name: even}\nspec: {replicas: 4, storage: {size: 1Gi}}\n", "replicas must be 1, 3, 5 or 7"),
        (
            "apiVersion: strom.io/v1alpha1\nkind: BrokerCluster\nmetadata: {name: rf}\nspec: {replicas: 2, coordinator: {ensemble: zk}, storage: {size: 1Gi}, config: {defaultReplicationFactor: 3}}\n",
            "config.defaultReplicationFactor cannot exceed replicas",
        ),
        ("apiVersion: strom.io/v1alpha1\nkind: Topic\nmetadata: {name: zero}\nspec: {cluster: kafka, partitions: 0, replicationFactor: 1}\n", "partitions must be at least 1"),
        ("apiVersion: strom.io/v1alpha1\nkind: BrokerCluster\nmetadata: {name: both}\nspec: {replicas: 1, coordinator: {ensemble: zk, connect: 'h:2181'}, storage: {size: 1Gi}}\n", "give exactly one of coordinator.ensemble and coordinator.connect"),
        ("apiVersion: strom.io/v1alpha1\nkind: CoordinatorEnsemble\nmetadata: {name: disk}\nspec: {replicas: 3, storage: {size: lots}}\n", "storage size must be a quantity"),
    ];
    for (yaml, message) in cases {
        let got = kubectl(&["apply", "-n", &ns, "-f", "-"], Some(yaml));
        let err = got.expect_err(&format!("the API server accepted:\n{yaml}"));
        assert!(err.contains(message), "want {message:?} in: {err}");
    }
    // Transition rules: partitions never shrink, an ensemble never goes to or from one server.
    kubectl(&["apply", "-n", &ns, "-f", "-"], Some("apiVersion: strom.io/v1alpha1\nkind: Topic\nmetadata: {name: t}\nspec: {cluster: kafka, partitions: 3, replicationFactor: 1}\n")).expect("valid topic");
    let err = kubectl(&["patch", "-n", &ns, "topic", "t", "--type", "merge", "-p", r#"{"spec":{"partitions":2}}"#], None).expect_err("partitions reduced");
    assert!(err.contains("partitions cannot be reduced"), "{err}");
    kubectl(&["apply", "-n", &ns, "-f", "-"], Some("apiVersion: strom.io/v1alpha1\nkind: CoordinatorEnsemble\nmetadata: {name: e}\nspec: {replicas: 3, storage: {size: 1Gi}}\n")).expect("valid ensemble");
    let err = kubectl(&["patch", "-n", &ns, "coordinatorensemble", "e", "--type", "merge", "-p", r#"{"spec":{"replicas":1}}"#], None).expect_err("3 -> 1 accepted");
    assert!(err.contains("cannot be scaled to or from 1 server"), "{err}");
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn the_seed_example_becomes_wired_children_available_and_garbage_collected() {
    let client = admin().await;
    let op = Operator::start(&client, "e2e-seed").await;
    op.wait_leading().await;
    let ns = namespace(&client, "e2e-seed").await;
    kubectl(&["apply", "-n", &ns, "-f", "-"], Some(&seed())).expect("kubectl apply examples/k8s/seed.yaml");
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let svcs: Api<Service> = Api::namespaced(client.clone(), &ns);
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), &ns);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    wait_ready_pods(&client, &ns, "zk", 3, 90).await;
    wait_ready_pods(&client, &ns, "kafka", 3, 90).await;

    // Ensemble: one zoo.cfg lists server.N = pod N-1's stable DNS name (myid = ordinal + 1),
    // read by strom-coordinator's own config reader; pods get the hostname/subdomain that make
    // those names resolve.
    let zoo = cms.get("zk").await.expect("ConfigMap zk").data.expect("data")["zoo.cfg"].clone();
    let cfg = strom_coordinator::config::Config::parse("zoo.cfg", &zoo).expect("strom-coordinator reads the zoo.cfg");
    assert_eq!(cfg.servers.len(), 3, "{zoo}");
    for (i, s) in cfg.servers.iter().enumerate() {
        assert_eq!(s.id as usize, i + 1, "{zoo}");
        assert_eq!(s.host, format!("zk-{i}.zk-headless.{ns}.svc.cluster.local"), "{zoo}");
        let p = pods.get(&format!("zk-{i}")).await.expect("pod");
        let spec = p.spec.expect("pod spec");
        assert_eq!((spec.hostname.as_deref(), spec.subdomain.as_deref()), (Some(format!("zk-{i}").as_str()), Some("zk-headless")), "the StatefulSet names pod {i} for its DNS record");
    }
    let headless = svcs.get("zk-headless").await.expect("headless Service").spec.expect("spec");
    assert_eq!(headless.cluster_ip.as_deref(), Some("None"));
    assert_eq!(headless.publish_not_ready_addresses, Some(true), "peers must find each other before they are ready");
    svcs.get("zk-client").await.expect("client Service");
    assert_eq!(pdbs.get("zk").await.expect("PDB zk").spec.and_then(|s| s.max_unavailable).map(|v| serde_json::to_value(v).unwrap()), Some(serde_json::json!(1)));

    // Brokers: broker.id from the ordinal of the hostname, advertised on the pod's DNS name,
    // the cluster in its own chroot of the ensemble.
    let props = cms.get("kafka").await.expect("ConfigMap kafka").data.expect("data")["server.properties"].clone();
    std::env::set_var("HOSTNAME", "kafka-1");
    let b = strom_broker::config::BrokerConfig::parse(&props, "server.properties", &[]).expect("strom-broker reads server.properties");
    assert_eq!(b.broker_id, 1);
    assert_eq!(b.advertised_listeners[0].host, format!("kafka-1.kafka-headless.{ns}.svc.cluster.local"));
    assert_eq!(b.zookeeper_connect, format!("zk-client.{ns}.svc.cluster.local:2181/{ns}-kafka"));
    assert!(pdbs.get("kafka").await.is_ok(), "PDB kafka");
    assert_eq!(sets.get("kafka").await.expect("sts").spec.expect("spec").pod_management_policy.as_deref(), Some("Parallel"));

    // Available once every pod is ready (the fake nodes report them so).
    let ensembles: Api<CoordinatorEnsemble> = Api::namespaced(client.clone(), &ns);
    let brokers: Api<BrokerCluster> = Api::namespaced(client.clone(), &ns);
    wait_condition(&ensembles, "zk", "Available", "True", 60, ensemble_conditions).await;
    wait_condition(&brokers, "kafka", "Available", "True", 60, broker_conditions).await;
    let e = ensembles.get("zk").await.expect("zk");
    assert_eq!(e.status.as_ref().map(|s| s.ready_replicas), Some(3));
    assert_eq!(e.status.as_ref().and_then(|s| s.connect_string.clone()), Some(format!("zk-client.{ns}.svc.cluster.local:2181")));

    // The pipeline: a shipper on every node, the processor Deployment, their configs.
    let daemonsets: Api<DaemonSet> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let pipelines: Api<LogPipeline> = Api::namespaced(client.clone(), &ns);
    let nodes = kubectl(&["get", "nodes", "-o", "name"], None).expect("nodes").lines().count() as i32;
    eventually("shipper DaemonSet on every node", 60, || async {
        let ds = daemonsets.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        let ready: Vec<i32> = ds.items.iter().map(|d| d.status.as_ref().map(|s| s.number_ready).unwrap_or(0)).collect();
        if ready == vec![nodes] { Ok(()) } else { Err(format!("ready shippers {ready:?}, nodes {nodes}")) }
    })
    .await;
    eventually("processor Deployment ready", 60, || async {
        let ds = deployments.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        let ready: Vec<i32> = ds.items.iter().map(|d| d.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0)).collect();
        if ready == vec![1] { Ok(()) } else { Err(format!("{ready:?}")) }
    })
    .await;
    eventually("LogPipeline status counts the shippers", 60, || async {
        let p = pipelines.get("nginx").await.map_err(|e| e.to_string())?;
        let s = serde_json::to_value(&p.status).map_err(|e| e.to_string())?;
        if s["readyShippers"] == serde_json::json!(nodes) && s["readyProcessors"] == serde_json::json!(1) { Ok(()) } else { Err(s.to_string()) }
    })
    .await;

    // Every child carries an owner reference: deleting the resources leaves nothing (the
    // controller-manager's garbage collector does it).
    for o in [sets.get("zk").await.expect("zk").metadata, cms.get("kafka").await.expect("cm").metadata, svcs.get("zk-client").await.expect("svc").metadata] {
        let refs = o.owner_references.unwrap_or_default();
        assert!(refs.iter().any(|r| r.controller == Some(true) && r.api_version == "strom.io/v1alpha1"), "{:?} has no controller reference", o.name);
    }
    kubectl(&["delete", "-n", &ns, "-f", "-", "--wait=false"], Some(&seed())).expect("kubectl delete");
    eventually("every child garbage-collected", 120, || async {
        let left = [
            sets.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items.len(),
            cms.list(&ListParams::default().labels("app.kubernetes.io/managed-by=strom-operator")).await.map_err(|e| e.to_string())?.items.len(),
            svcs.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items.len(),
            pdbs.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items.len(),
            daemonsets.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items.len(),
            deployments.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items.len(),
            pods.list(&ListParams::default()).await.map_err(|e| e.to_string())?.items.len(),
        ];
        if left.iter().all(|n| *n == 0) { Ok(()) } else { Err(format!("left (sts, cm, svc, pdb, ds, deploy, pods): {left:?}")) }
    })
    .await;
    assert!(!op.logs().contains("panicked"), "{}", op.logs());
    delete_namespace(&client, &ns).await;
}

const ENSEMBLE: &str = "apiVersion: strom.io/v1alpha1\nkind: CoordinatorEnsemble\nmetadata: {name: zk}\nspec: {replicas: 3, storage: {size: 1Gi}, config: {tickTime: 2000}}\n";
const BROKERS: &str = "apiVersion: strom.io/v1alpha1\nkind: BrokerCluster\nmetadata: {name: kafka}\nspec: {replicas: 3, coordinator: {ensemble: zk}, storage: {size: 1Gi}}\n";

async fn replicas(sets: &Api<StatefulSet>, name: &str) -> i32 {
    sets.get(name).await.ok().and_then(|s| s.spec).and_then(|s| s.replicas).unwrap_or(-1)
}

#[tokio::test]
async fn scaling_brokers_up_and_refusing_what_cannot_be_checked() {
    let client = admin().await;
    let op = Operator::start(&client, "e2e-scale").await;
    op.wait_leading().await;
    let ns = namespace(&client, "e2e-scale").await;
    kubectl(&["apply", "-n", &ns, "-f", "-"], Some(&format!("{ENSEMBLE}---\n{BROKERS}"))).expect("apply");
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    let brokers: Api<BrokerCluster> = Api::namespaced(client.clone(), &ns);
    let ensembles: Api<CoordinatorEnsemble> = Api::namespaced(client.clone(), &ns);
    wait_ready_pods(&client, &ns, "kafka", 3, 90).await;
    wait_condition(&brokers, "kafka", "Available", "True", 60, broker_conditions).await;

    // 3 -> 4 brokers: a new pod with the next id; the cluster is Available again at 4.
    kubectl(&["patch", "-n", &ns, "brokercluster", "kafka", "--type", "merge", "-p", r#"{"spec":{"replicas":4}}"#], None).expect("scale up");
    wait_ready_pods(&client, &ns, "kafka", 4, 90).await;
    eventually("broker cluster Available at 4", 60, || async {
        let b = brokers.get("kafka").await.map_err(|e| e.to_string())?;
        let ready = b.status.as_ref().map(|s| s.ready_replicas).unwrap_or(0);
        let avail = condition(&broker_conditions(&b), "Available").is_some_and(|c| c.status == "True");
        if ready == 4 && avail { Ok(()) } else { Err(format!("{:?}", b.status)) }
    })
    .await;

    // 4 -> 3: the operator must know that broker 3 holds no replica before removing it; no
    // broker answers on fake nodes, so it refuses and says why, and the pod stays.
    kubectl(&["patch", "-n", &ns, "brokercluster", "kafka", "--type", "merge", "-p", r#"{"spec":{"replicas":3}}"#], None).expect("scale down");
    let c = wait_condition(&brokers, "kafka", "Degraded", "True", 60, broker_conditions).await;
    assert_eq!(c.reason, "ScaleDownBlocked", "{c:?}");
    assert!(c.message.contains("scale-down from 4 to 3 refused") && c.message.contains("cannot ask the brokers"), "{c:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(replicas(&sets, "kafka").await, 4, "the StatefulSet keeps broker 3");

    // Ensemble 3 -> 5: servers join one at a time by reconfig, which needs the running ensemble's
    // membership; without it the operator waits and says so instead of adding pods blindly.
    kubectl(&["patch", "-n", &ns, "coordinatorensemble", "zk", "--type", "merge", "-p", r#"{"spec":{"replicas":5}}"#], None).expect("scale ensemble");
    wait_message(&ensembles, "zk", "Progressing", "True", "waiting to read the ensemble's membership", 60, ensemble_conditions).await;
    assert_eq!(replicas(&sets, "zk").await, 3);
    assert!(!op.logs().contains("panicked"), "{}", op.logs());
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn a_config_change_restarts_one_pod_at_a_time_highest_ordinal_first() {
    let client = admin().await;
    let op = Operator::start(&client, "e2e-roll").await;
    op.wait_leading().await;
    let ns = namespace(&client, "e2e-roll").await;
    kubectl(&["apply", "-n", &ns, "-f", "-"], Some(ENSEMBLE)).expect("apply");
    wait_ready_pods(&client, &ns, "zk", 3, 90).await;
    let ensembles: Api<CoordinatorEnsemble> = Api::namespaced(client.clone(), &ns);
    wait_condition(&ensembles, "zk", "Available", "True", 60, ensemble_conditions).await;
    let before = ready_pods(&client, &ns, "zk").await.expect("pods");

    kubectl(&["patch", "-n", &ns, "coordinatorensemble", "zk", "--type", "merge", "-p", r#"{"spec":{"config":{"tickTime":1500}}}"#], None).expect("change tickTime");
    // Watch the pods: record the order in which each is replaced and how many are down at once.
    let mut order = Vec::new();
    let mut most_down = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while order.len() < 3 {
        assert!(std::time::Instant::now() < deadline, "rolling restart incomplete: replaced {order:?}\n{}", op.logs());
        let now = ready_pods(&client, &ns, "zk").await.expect("pods");
        let down = (0..3).filter(|i| !now.get(&format!("zk-{i}")).is_some_and(|(_, r)| *r)).count();
        most_down = most_down.max(down);
        for (name, (uid, _)) in &now {
            if before.get(name).is_some_and(|(old, _)| old != uid) && !order.contains(name) {
                order.push(name.clone());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(order, vec!["zk-2", "zk-1", "zk-0"]);
    assert!(most_down <= 1, "{most_down} servers down at once");
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    let cm: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    assert!(cm.get("zk").await.expect("cm").data.expect("data")["zoo.cfg"].contains("tickTime=1500"));
    eventually("every pod on the new revision", 60, || async {
        let st = sets.get("zk").await.map_err(|e| e.to_string())?.status.unwrap_or_default();
        if st.updated_replicas == Some(3) { Ok(()) } else { Err(format!("{st:?}")) }
    })
    .await;
    wait_condition(&ensembles, "zk", "Available", "True", 60, ensemble_conditions).await;
    delete_namespace(&client, &ns).await;
}

/// resourceVersions of every object in the namespace (and the custom resources).
async fn versions(ns: &str) -> BTreeMap<String, String> {
    objects(ns).await.into_iter().map(|(k, o)| (k, o["metadata"]["resourceVersion"].as_str().unwrap_or("").to_string())).collect()
}

/// Every object in the namespace (and the custom resources), by kind/name.
async fn objects(ns: &str) -> BTreeMap<String, serde_json::Value> {
    let out = kubectl(&["get", "-n", ns, "statefulsets,services,configmaps,poddisruptionbudgets,secrets,coordinatorensembles,brokerclusters", "-o", "json"], None).expect("kubectl get");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| (format!("{}/{}", o["kind"].as_str().unwrap_or(""), o["metadata"]["name"].as_str().unwrap_or("")), o.clone()))
        .collect()
}

/// The objects whose resourceVersion differs, each before and after (for a failure message).
fn rewritten(before: &BTreeMap<String, serde_json::Value>, after: &BTreeMap<String, serde_json::Value>) -> Vec<String> {
    let rv = |o: Option<&serde_json::Value>| o.map(|o| o["metadata"]["resourceVersion"].clone());
    before
        .keys()
        .chain(after.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|k| rv(before.get(*k)) != rv(after.get(*k)))
        .map(|k| {
            let show = |o: Option<&serde_json::Value>| o.map(|o| serde_json::json!({"spec": o["spec"], "data": o["data"], "status": o["status"], "managedFields": o["metadata"]["managedFields"]}).to_string()).unwrap_or_else(|| "(absent)".into());
            format!("{k}\n  before: {}\n  after:  {}", show(before.get(k)), show(after.get(k)))
        })
        .collect()
}

/// Waits until no object in the namespace changes for `quiet` seconds (at most `within`).
async fn settled(ns: &str, quiet: u64, within: u64) -> BTreeMap<String, serde_json::Value> {
    let start = std::time::Instant::now();
    let mut last = objects(ns).await;
    let mut since = std::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = objects(ns).await;
        if rewritten(&last, &now).is_empty() {
            if since.elapsed() >= Duration::from_secs(quiet) {
                return now;
            }
        } else {
            last = now;
            since = std::time::Instant::now();
        }
        assert!(start.elapsed() < Duration::from_secs(within), "objects still changing after {within} s: {:?}", rewritten(&last, &objects(ns).await));
    }
}

#[tokio::test]
async fn pause_annotation_stops_changes_and_a_restarted_operator_writes_nothing() {
    let client = admin().await;
    let mut op = Operator::start(&client, "e2e-pause").await;
    op.wait_leading().await;
    let ns = namespace(&client, "e2e-pause").await;
    kubectl(&["apply", "-n", &ns, "-f", "-"], Some(&format!("{ENSEMBLE}---\n{BROKERS}"))).expect("apply");
    let ensembles: Api<CoordinatorEnsemble> = Api::namespaced(client.clone(), &ns);
    let brokers: Api<BrokerCluster> = Api::namespaced(client.clone(), &ns);
    wait_condition(&ensembles, "zk", "Available", "True", 90, ensemble_conditions).await;
    wait_condition(&brokers, "kafka", "Available", "True", 90, broker_conditions).await;

    // Settled (nothing written for 5 s): a new operator process reconciles everything again and
    // changes nothing.
    let before = settled(&ns, 5, 60).await;
    op.stop();
    let op2 = Operator::start(&client, "e2e-pause-2").await;
    op2.wait_leading().await;
    eventually("the new operator reconciled both resources", 60, || async {
        let n = op2.counter("strom_operator_reconciliations_total{kind=\"CoordinatorEnsemble\",outcome=\"ok\"}").await + op2.counter("strom_operator_reconciliations_total{kind=\"BrokerCluster\",outcome=\"ok\"}").await;
        if n >= 2.0 { Ok(()) } else { Err(op2.logs()) }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let changed = rewritten(&before, &objects(&ns).await);
    assert!(changed.is_empty(), "a restarted operator rewrote objects of a settled cluster:\n{}", changed.join("\n"));

    // Paused: a spec change is not applied, the status says why; unpaused: applied.
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    kubectl(&["annotate", "-n", &ns, "coordinatorensemble", "zk", "strom.io/pause-reconciliation=true"], None).expect("annotate");
    let c = wait_condition(&ensembles, "zk", "ReconciliationPaused", "True", 30, ensemble_conditions).await;
    assert_eq!(c.reason, "Paused");
    let sts_before = sets.get("zk").await.expect("sts").resource_version();
    kubectl(&["patch", "-n", &ns, "coordinatorensemble", "zk", "--type", "merge", "-p", r#"{"spec":{"config":{"tickTime":1000}}}"#], None).expect("patch");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(cms.get("zk").await.expect("cm").data.expect("data")["zoo.cfg"].contains("tickTime=2000"), "a paused ensemble's config changed");
    assert_eq!(sets.get("zk").await.expect("sts").resource_version(), sts_before);
    kubectl(&["annotate", "-n", &ns, "coordinatorensemble", "zk", "strom.io/pause-reconciliation-"], None).expect("unannotate");
    eventually("the change applied after unpausing", 30, || async {
        let z = cms.get("zk").await.map_err(|e| e.to_string())?.data.unwrap_or_default().get("zoo.cfg").cloned().unwrap_or_default();
        if z.contains("tickTime=1000") { Ok(()) } else { Err(z) }
    })
    .await;
    wait_condition(&ensembles, "zk", "ReconciliationPaused", "False", 30, ensemble_conditions).await;
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn an_operator_killed_mid_reconcile_converges_after_restart() {
    let client = admin().await;
    let mut op = Operator::start(&client, "e2e-kill").await;
    op.wait_leading().await;
    let ns = namespace(&client, "e2e-kill").await;
    kubectl(&["apply", "-n", &ns, "-f", "-"], Some(&format!("{ENSEMBLE}---\n{BROKERS}"))).expect("apply");
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    // SIGKILL as soon as the first child exists, before the reconcile could finish its status.
    eventually("a first child object", 30, || async { sets.get("zk").await.map(|_| ()).map_err(|e| e.to_string()) }).await;
    op.kill();
    let killed_with = versions(&ns).await;
    let op2 = Operator::start(&client, "e2e-kill").await;
    // The dead holder's lease runs out first (15 s), then the new operator finishes the job.
    op2.wait_leading().await;
    let ensembles: Api<CoordinatorEnsemble> = Api::namespaced(client.clone(), &ns);
    let brokers: Api<BrokerCluster> = Api::namespaced(client.clone(), &ns);
    wait_condition(&ensembles, "zk", "Available", "True", 90, ensemble_conditions).await;
    wait_condition(&brokers, "kafka", "Available", "True", 90, broker_conditions).await;
    let after: BTreeSet<String> = versions(&ns).await.into_keys().collect();
    for want in ["StatefulSet/zk", "StatefulSet/kafka", "ConfigMap/zk", "ConfigMap/kafka", "PodDisruptionBudget/zk", "PodDisruptionBudget/kafka", "Service/zk-client", "Secret/zk-admin"] {
        assert!(after.contains(want), "{want} missing after recovery: {after:?} (at the kill: {killed_with:?})");
    }
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn two_operators_never_both_act() {
    let client = admin().await;
    let mut a = Operator::start(&client, "e2e-lease").await;
    a.wait_leading().await;
    let b = Operator::start(&client, "e2e-lease").await;
    let ns = namespace(&client, "e2e-lease").await;
    kubectl(&["apply", "-n", &ns, "-f", "-"], Some(ENSEMBLE)).expect("apply");
    let ensembles: Api<CoordinatorEnsemble> = Api::namespaced(client.clone(), &ns);
    wait_condition(&ensembles, "zk", "Available", "True", 90, ensemble_conditions).await;
    assert!(a.reconciliations().await > 0.0);
    assert_eq!(b.reconciliations().await, 0.0, "the standby reconciled:\n{}", b.logs());
    assert!(http_get(b.metrics, "/metrics").await.expect("metrics").lines().any(|l| l == "strom_operator_leader 0"));
    let leases: Api<Lease> = Api::namespaced(client.clone(), OPERATOR_NAMESPACE);
    let holder = leases.get("e2e-lease").await.expect("lease").spec.and_then(|s| s.holder_identity).unwrap_or_default();
    assert!(holder.starts_with(&format!("e2e-{}", a.metrics.port())), "holder {holder}");

    // The leader dies: the standby takes over once the lease expires and carries on the work.
    a.kill();
    b.wait_leading().await;
    kubectl(&["patch", "-n", &ns, "coordinatorensemble", "zk", "--type", "merge", "-p", r#"{"spec":{"config":{"syncLimit":4}}}"#], None).expect("patch");
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    eventually("the new leader applies a change", 60, || async {
        let z = cms.get("zk").await.map_err(|e| e.to_string())?.data.unwrap_or_default().get("zoo.cfg").cloned().unwrap_or_default();
        if z.contains("syncLimit=4") { Ok(()) } else { Err(z) }
    })
    .await;
    assert!(b.reconciliations().await > 0.0);
    delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn the_operator_token_gets_the_charts_rbac_and_no_more() {
    // The operator gets exactly the chart's RBAC: a resource kind the chart grants nothing on
    // (here: ClusterRoles) is refused to the token the operator runs with.
    let client = admin().await;
    install_chart().await;
    let cfg = service_account_kubeconfig(&client).await;
    let out = std::process::Command::new(kubectl_path()).args(["--kubeconfig", cfg.to_str().expect("path"), "get", "clusterroles"]).output().expect("kubectl");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Forbidden") || String::from_utf8_lossy(&out.stderr).contains("forbidden"), "{}", String::from_utf8_lossy(&out.stderr));
    let ok = std::process::Command::new(kubectl_path()).args(["--kubeconfig", cfg.to_str().expect("path"), "get", "coordinatorensembles", "-A"]).output().expect("kubectl");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
}
