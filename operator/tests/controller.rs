//! The reconcilers against a mocked API server (kube-rs' controller-rs pattern): every request
//! the reconcile makes is checked in order and answered.

use std::sync::Arc;

use http::Response;
use kube::client::Body;
use serde_json::{json, Value};
use strom_operator::controller::{reconcile_brokers, reconcile_ensemble, Context};
use strom_operator::crd::broker::BrokerCluster;
use strom_operator::crd::ensemble::CoordinatorEnsemble;

mod common;

use common::{next, reply, Handle};

fn ensemble(replicas: i32, extra: Value) -> CoordinatorEnsemble {
    let mut v = json!({"apiVersion": "strom.io/v1alpha1", "kind": "CoordinatorEnsemble",
        "metadata": {"name": "zk", "namespace": "logs", "uid": "u-1", "generation": 2},
        "spec": {"replicas": replicas, "storage": {"size": "1Gi"}}});
    merge(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}


fn setup() -> (Arc<Context>, Handle) {
    common::context(common::FakeProbe::default())
}

/// Answers a status patch of `owner` with the object as the server would return it.
fn reply_status(send: tower_test::mock::SendResponse<Response<Body>>, owner: &Value, patch: &Value) {
    let mut o = owner.clone();
    o["status"] = patch["status"].clone();
    reply(send, &o);
}

/// Answers the applies of a rendering (echoing each object, the StatefulSet with `ready`
/// replicas) and returns the applied objects and the status patch.
async fn serve_apply(h: Handle, ready: i32, owner: Value) -> (Vec<(String, Value)>, Value) {
    let (seen, status) = serve(h, owner, json!({"replicas": ready, "readyReplicas": ready}), vec![]).await;
    (seen.into_iter().filter(|(m, _, _)| m == "PATCH").map(|(_, p, b)| (p, b)).collect(), status)
}

/// Serves one reconcile: a missing StatefulSet on GET (a new cluster), each apply echoed (the
/// StatefulSet with `ss_status` and generation 1), `pods` on a pod list, deletes and Events
/// echoed. Returns every request but the status patch, and the status patch.
async fn serve(h: Handle, owner: Value, ss_status: Value, pods: Vec<Value>) -> (Vec<(String, String, Value)>, Value) {
    serve_existing(h, owner, ss_status, pods, None).await
}

fn not_found(send: tower_test::mock::SendResponse<Response<Body>>) {
    send.send_response(Response::builder().status(404).body(Body::from(serde_json::to_vec(&json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})).unwrap())).unwrap());
}

/// As `serve`, with a StatefulSet of `existing` replicas already there when given.
async fn serve_existing(mut h: Handle, owner: Value, ss_status: Value, pods: Vec<Value>, existing: Option<i32>) -> (Vec<(String, String, Value)>, Value) {
    let mut seen = Vec::new();
    loop {
        let (method, path, mut body, send) = next(&mut h).await;
        if method == "GET" && path.contains("/statefulsets/") {
            match existing {
                Some(n) => reply(send, &json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": path.rsplit('/').next().unwrap(), "namespace": "logs"},
                    "spec": {"replicas": n, "serviceName": "x", "selector": {}, "template": {}}})),
                None => not_found(send),
            }
            continue;
        }
        if method == "GET" && path.contains("/secrets/") {
            // the ensemble's admin Secret, made earlier (password "pw")
            reply(send, &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": path.rsplit('/').next().unwrap()}, "data": {"password": "cHc="}}));
            continue;
        }
        if method == "GET" && path.starts_with("/api/v1/nodes/") {
            // nodes n-a and n-b are in zones a and b; node n-x has no zone label
            let name = path.rsplit('/').next().unwrap().to_string();
            let labels = match name.strip_prefix("n-") {
                Some("x") | None => json!({}),
                Some(z) => json!({"topology.kubernetes.io/zone": format!("zone-{z}")}),
            };
            reply(send, &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}));
            continue;
        }
        if method == "GET" && path.ends_with("/pods") {
            reply(send, &json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": pods}));
            seen.push((method, path, body));
            continue;
        }
        if method == "DELETE" || common::is_event(&method, &path) {
            reply(send, &json!({"apiVersion": "v1", "kind": "Status", "status": "Success", "metadata": {}}));
            seen.push((method, path, body));
            continue;
        }
        assert_eq!(method, "PATCH", "{path}");
        if path.ends_with("/status") {
            reply_status(send, &owner, &body);
            return (seen, body);
        }
        if path.contains("/statefulsets/") {
            body["metadata"]["generation"] = json!(1);
            body["status"] = ss_status.clone();
        }
        seen.push((method, path, body.clone()));
        reply(send, &body);
    }
}

/// A StatefulSet pod as the API server lists it.
fn pod(name: &str, revision: &str, ready: bool) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "logs", "labels": {"controller-revision-hash": revision}},
        "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
}

fn condition<'a>(status: &'a Value, t: &str) -> &'a Value {
    status["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == t).unwrap_or_else(|| panic!("no {t} condition in {status}"))
}

#[tokio::test]
async fn an_ensemble_becomes_config_services_statefulset_and_pdb_then_status() {
    let (ctx, handle) = setup();
    let e = ensemble(3, json!({}));
    let server = tokio::spawn(serve_apply(handle, 1, serde_json::to_value(&e).unwrap()));
    reconcile_ensemble(Arc::new(e), ctx).await.unwrap();
    let (applied, status) = server.await.unwrap();
    let paths: Vec<&str> = applied.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, [
        "/api/v1/namespaces/logs/configmaps/zk",
        "/api/v1/namespaces/logs/services/zk-headless",
        "/api/v1/namespaces/logs/services/zk-client",
        "/apis/apps/v1/namespaces/logs/statefulsets/zk",
        "/apis/policy/v1/namespaces/logs/poddisruptionbudgets/zk",
    ]);
    // server-side apply objects carry their kind and an owner reference to the ensemble
    for (_, obj) in &applied {
        assert!(obj["kind"].is_string() && obj["apiVersion"].is_string());
        assert_eq!(obj["metadata"]["ownerReferences"][0]["uid"], "u-1");
        assert_eq!(obj["metadata"]["ownerReferences"][0]["kind"], "CoordinatorEnsemble");
    }
    assert!(applied[0].1["data"]["zoo.cfg"].as_str().unwrap().contains("server.3=zk-2.zk-headless.logs.svc.cluster.local"));
    // 1 of 3 ready: progressing, not yet available
    assert_eq!(status["status"]["observedGeneration"], 2);
    assert_eq!(status["status"]["readyReplicas"], 1);
    assert_eq!(status["status"]["connectString"], "zk-client.logs.svc.cluster.local:2181");
    assert_eq!(condition(&status, "Available")["status"], "False");
    assert_eq!(condition(&status, "Progressing")["status"], "True");
}

#[tokio::test]
async fn an_available_ensemble_without_a_leader_is_asked_again_soon() {
    use kube::runtime::controller::Action;
    use std::time::Duration;
    // every pod ready, but no server answers as leader yet (the quorum forms after the pods are
    // ready): the members' modes are asked again in 10 s, not at the 60 s resync
    let e = ensemble(3, json!({}));
    let (ctx, handle) = setup();
    let server = tokio::spawn(serve_apply(handle, 3, serde_json::to_value(&e).unwrap()));
    let action = reconcile_ensemble(Arc::new(e.clone()), ctx).await.unwrap();
    let (_, status) = server.await.unwrap();
    assert_eq!(condition(&status, "Available")["status"], "True");
    assert_eq!(status["status"]["members"][0]["mode"], "unknown");
    assert_eq!(action, Action::requeue(Duration::from_secs(10)));
    // once a leader answers, the next look is the resync's
    let probe = common::FakeProbe { modes: [("zk-0.".to_string(), "follower".to_string()), ("zk-1.".to_string(), "leader".to_string()), ("zk-2.".to_string(), "follower".to_string())].into(), ..Default::default() };
    let (ctx, handle) = common::context(probe);
    let server = tokio::spawn(serve_apply(handle, 3, serde_json::to_value(&e).unwrap()));
    let action = reconcile_ensemble(Arc::new(e), ctx).await.unwrap();
    let (_, status) = server.await.unwrap();
    assert_eq!(status["status"]["leader"], "zk-1");
    assert_eq!(action, Action::requeue(Duration::from_secs(60)));
}

#[tokio::test]
async fn a_config_change_rolls_the_pods_through_the_template_hash() {
    let hash = |applied: &[(String, Value)]| applied.iter().find(|(p, _)| p.contains("statefulsets")).unwrap().1["spec"]["template"]["metadata"]["annotations"]["strom.io/config-hash"].clone();
    let (ctx, handle) = setup();
    let e = ensemble(3, json!({}));
    let s = tokio::spawn(serve_apply(handle, 3, serde_json::to_value(&e).unwrap()));
    reconcile_ensemble(Arc::new(e), ctx).await.unwrap();
    let (before, status) = s.await.unwrap();
    assert_eq!(condition(&status, "Available")["status"], "True");
    let (ctx, handle) = setup();
    let e = ensemble(3, json!({"spec": {"config": {"tickTime": 3000}}}));
    let s = tokio::spawn(serve_apply(handle, 3, serde_json::to_value(&e).unwrap()));
    reconcile_ensemble(Arc::new(e), ctx).await.unwrap();
    let (after, _) = s.await.unwrap();
    assert_ne!(hash(&before), hash(&after));
    assert!(after[0].1["data"]["zoo.cfg"].as_str().unwrap().lines().any(|l| l == "tickTime=3000"));
}

/// One ensemble reconcile with a StatefulSet of `running` pods (those in `pods` run), the
/// ensemble's voters 1..=`voters`: the StatefulSet's replicas, its zoo.cfg, the reconfigs asked.
async fn scale_step(replicas: i32, running: i32, pods: &[&str], voters: i64) -> (Value, String, Vec<common::Reconfig>, Value) {
    let config: String = (1..=voters).map(|i| format!("server.{i}=zk-{}.zk-headless.logs.svc.cluster.local:2888:3888:participant;0.0.0.0:2181\n", i - 1)).collect::<String>() + "version=100000004";
    let probe = common::FakeProbe { config: Some(config), ..Default::default() };
    let reconfigs = probe.reconfigs.clone();
    let (ctx, handle) = common::context(probe);
    let e = ensemble(replicas, json!({}));
    let pods: Vec<Value> = pods.iter().map(|n| {
        let mut p = pod(n, "rev", true);
        p["status"]["phase"] = json!("Running");
        p
    }).collect();
    let s = tokio::spawn(serve_existing(handle, serde_json::to_value(&e).unwrap(), json!({"replicas": running, "readyReplicas": running}), pods, Some(running)));
    reconcile_ensemble(Arc::new(e), ctx).await.unwrap();
    let (seen, status) = s.await.unwrap();
    let ss = seen.iter().find(|(_, p, _)| p.contains("/statefulsets/")).unwrap().2["spec"]["replicas"].clone();
    let cfg = seen.iter().find(|(_, p, _)| p.contains("/configmaps/")).unwrap().2["data"]["zoo.cfg"].as_str().unwrap().to_string();
    let asked = reconfigs.lock().unwrap().clone();
    (ss, cfg, asked, status)
}

#[tokio::test]
async fn an_ensemble_grows_and_shrinks_one_server_at_a_time_by_reconfig() {
    // 3 -> 5: one more pod first (zoo.cfg lists it), no reconfig until it runs
    let (ss, cfg, asked, status) = scale_step(5, 3, &["zk-0", "zk-1", "zk-2"], 3).await;
    assert_eq!(ss, 4);
    assert!(cfg.contains("server.4=zk-3.") && !cfg.contains("server.5="), "{cfg}");
    assert!(cfg.lines().any(|l| l.starts_with("DigestAuthenticationProvider.superDigest=super:")), "{cfg}");
    assert!(asked.is_empty(), "{asked:?}");
    assert!(condition(&status, "Progressing")["message"].as_str().unwrap().contains("waiting for pod zk-3 to run"), "{status}");
    // zk-3 runs: reconfig adds server 4, as the super user
    let (ss, _, asked, _) = scale_step(5, 4, &["zk-0", "zk-1", "zk-2", "zk-3"], 3).await;
    assert_eq!(ss, 4);
    assert_eq!(asked, [("pw".to_string(), vec!["server.4=zk-3.zk-headless.logs.svc.cluster.local:2888:3888:participant;2181".to_string()], vec![])]);
    // server 4 votes: the fifth pod, then its reconfig
    let (ss, cfg, asked, _) = scale_step(5, 4, &["zk-0", "zk-1", "zk-2", "zk-3"], 4).await;
    assert_eq!(ss, 5);
    assert!(cfg.contains("server.5=zk-4."));
    assert!(asked.is_empty());
    let (_, _, asked, _) = scale_step(5, 5, &["zk-0", "zk-1", "zk-2", "zk-3", "zk-4"], 4).await;
    assert_eq!(asked[0].1, ["server.5=zk-4.zk-headless.logs.svc.cluster.local:2888:3888:participant;2181"]);
    // five voters: steady, nothing asked, no rolling restart (the pod template did not change)
    let (ss, _, asked, status) = scale_step(5, 5, &["zk-0", "zk-1", "zk-2", "zk-3", "zk-4"], 5).await;
    assert_eq!((ss, asked.len()), (json!(5), 0));
    assert_eq!(condition(&status, "Progressing")["status"], "False");
    // 5 -> 3: reconfig removes server 5 while its pod still runs, then the pod goes
    let (ss, _, asked, _) = scale_step(3, 5, &["zk-0", "zk-1", "zk-2", "zk-3", "zk-4"], 5).await;
    assert_eq!((ss, asked[0].2.clone()), (json!(5), vec![5]));
    let (ss, cfg, asked, _) = scale_step(3, 5, &["zk-0", "zk-1", "zk-2", "zk-3", "zk-4"], 4).await;
    assert_eq!((ss, asked[0].2.clone()), (json!(4), vec![4]));
    assert!(!cfg.contains("server.5="));
    let (ss, cfg, asked, _) = scale_step(3, 4, &["zk-0", "zk-1", "zk-2", "zk-3"], 3).await;
    assert_eq!((ss, asked.len()), (json!(3), 0));
    assert!(cfg.contains("server.3=") && !cfg.contains("server.4="));
}

#[tokio::test]
async fn the_admin_secret_is_made_once_with_a_random_password() {
    let (ctx, mut handle) = setup();
    let e = ensemble(3, json!({}));
    let owner = serde_json::to_value(&e).unwrap();
    let s = tokio::spawn(async move {
        let (method, path, _, send) = next(&mut handle).await;
        assert_eq!((method.as_str(), path.as_str()), ("GET", "/api/v1/namespaces/logs/secrets/zk-admin"));
        not_found(send);
        let (method, path, body, send) = next(&mut handle).await;
        assert_eq!((method.as_str(), path.as_str()), ("POST", "/api/v1/namespaces/logs/secrets"));
        reply(send, &body);
        let (applied, _) = serve_apply(handle, 3, owner).await;
        (body, applied)
    });
    reconcile_ensemble(Arc::new(e), ctx).await.unwrap();
    let (secret, applied) = s.await.unwrap();
    let pw = secret["stringData"]["password"].as_str().unwrap().to_string();
    assert_eq!(pw.len(), 32);
    assert_eq!(secret["metadata"]["ownerReferences"][0]["uid"], "u-1");
    let cfg = applied[0].1["data"]["zoo.cfg"].as_str().unwrap();
    assert!(cfg.lines().any(|l| l == format!("DigestAuthenticationProvider.superDigest={}", strom_operator::probe::super_digest(&pw))), "{cfg}");
}

#[tokio::test]
async fn a_paused_resource_only_reports_it() {
    let (ctx, mut handle) = setup();
    let e = ensemble(3, json!({"metadata": {"annotations": {"strom.io/pause-reconciliation": "true"}}}));
    let owner = serde_json::to_value(&e).unwrap();
    let s = tokio::spawn(async move {
        let (method, path, body, send) = next(&mut handle).await;
        reply_status(send, &owner, &body);
        (method, path, body)
    });
    reconcile_ensemble(Arc::new(e), ctx).await.unwrap();
    let (method, path, body) = s.await.unwrap();
    assert_eq!((method.as_str(), path.as_str()), ("PATCH", "/apis/strom.io/v1alpha1/namespaces/logs/coordinatorensembles/zk/status"));
    assert_eq!(condition(&body, "ReconciliationPaused")["status"], "True");
}

#[tokio::test]
async fn an_invalid_spec_is_degraded_and_nothing_is_applied() {
    let (ctx, mut handle) = setup();
    let e = ensemble(4, json!({}));
    let owner = serde_json::to_value(&e).unwrap();
    let s = tokio::spawn(async move {
        let (_, path, body, send) = next(&mut handle).await;
        reply_status(send, &owner, &body);
        (path, body)
    });
    reconcile_ensemble(Arc::new(e), ctx).await.unwrap();
    let (path, body) = s.await.unwrap();
    assert!(path.ends_with("/coordinatorensembles/zk/status"), "{path}");
    let d = condition(&body, "Degraded");
    assert_eq!((d["status"].as_str(), d["reason"].as_str()), (Some("True"), Some("InvalidSpec")));
    assert!(d["message"].as_str().unwrap().contains("1, 3, 5 or 7"));
}

#[tokio::test]
async fn a_broker_cluster_uses_its_ensembles_connect_string() {
    let (ctx, mut handle) = setup();
    let b: BrokerCluster = serde_json::from_value(json!({"apiVersion": "strom.io/v1alpha1", "kind": "BrokerCluster",
        "metadata": {"name": "kafka", "namespace": "logs", "uid": "u-2", "generation": 1},
        "spec": {"replicas": 3, "coordinator": {"ensemble": "zk"}, "storage": {"size": "1Gi"}}})).unwrap();
    let owner = serde_json::to_value(&b).unwrap();
    let s = tokio::spawn(async move {
        let (method, path, _, send) = next(&mut handle).await;
        assert_eq!((method.as_str(), path.as_str()), ("GET", "/apis/strom.io/v1alpha1/namespaces/logs/coordinatorensembles/zk"));
        let mut e = serde_json::to_value(ensemble(3, json!({}))).unwrap();
        e["spec"]["ports"] = json!({"client": 2182, "quorum": 2888, "election": 3888, "admin": 8080});
        reply(send, &e);
        serve_apply(handle, 3, owner).await
    });
    reconcile_brokers(Arc::new(b), ctx).await.unwrap();
    let (applied, status) = s.await.unwrap();
    let props = applied[0].1["data"]["server.properties"].as_str().unwrap().to_string();
    assert!(props.lines().any(|l| l == "zookeeper.connect=zk-client.logs.svc.cluster.local:2182/logs-kafka"), "{props}");
    assert_eq!(status["status"]["bootstrapServers"], "kafka-bootstrap.logs.svc.cluster.local:9092");
    assert_eq!(condition(&status, "Available")["status"], "True");
}

#[tokio::test]
async fn a_broker_cluster_without_its_ensemble_is_degraded() {
    let (ctx, mut handle) = setup();
    let b: BrokerCluster = serde_json::from_value(json!({"apiVersion": "strom.io/v1alpha1", "kind": "BrokerCluster",
        "metadata": {"name": "kafka", "namespace": "logs", "uid": "u-2", "generation": 1},
        "spec": {"replicas": 3, "coordinator": {"ensemble": "missing"}, "storage": {"size": "1Gi"}}})).unwrap();
    let owner = serde_json::to_value(&b).unwrap();
    let s = tokio::spawn(async move {
        let (_, _, _, send) = next(&mut handle).await;
        send.send_response(Response::builder().status(404).body(Body::from(serde_json::to_vec(&json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"})).unwrap())).unwrap());
        let (_, path, body, send) = next(&mut handle).await;
        reply_status(send, &owner, &body);
        (path, body)
    });
    reconcile_brokers(Arc::new(b), ctx).await.unwrap();
    let (path, body) = s.await.unwrap();
    assert!(path.ends_with("/brokerclusters/kafka/status"));
    assert_eq!(condition(&body, "Degraded")["reason"], "CoordinatorNotFound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_down_is_refused_while_the_brokers_going_hold_replicas() {
    let dir = std::env::temp_dir().join(format!("strom-operator-scale-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (bootstrap, _brokers) = common::stack(&dir, 3).await;
    // a topic with a partition on every broker (once every broker sees the three)
    for _ in 0..50 {
        let mut all = true;
        for b in bootstrap.split(',') {
            all &= strom_operator::kafka::brokers(b).await.map(|(ids, _)| ids.len() == 3).unwrap_or(false);
        }
        if all {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    strom_operator::kafka::create(&bootstrap, "spread", 3, 1, &Default::default()).await.unwrap();
    for _ in 0..50 {
        if strom_operator::kafka::brokers_with_replicas(&bootstrap).await.unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(strom_operator::kafka::brokers_with_replicas(&bootstrap).await.unwrap().contains(&2));
    let reconcile_to = |replicas: i32| {
        let bootstrap = bootstrap.clone();
        async move {
            let (ctx, mut handle) = setup();
            let b: BrokerCluster = serde_json::from_value(json!({"apiVersion": "strom.io/v1alpha1", "kind": "BrokerCluster",
                "metadata": {"name": "kafka", "namespace": "logs", "uid": "u-2", "generation": 2},
                "spec": {"replicas": replicas, "coordinator": {"connect": "zk:2181"}, "storage": {"size": "1Gi"}},
                "status": {"bootstrapServers": bootstrap}})).unwrap();
            let owner = serde_json::to_value(&b).unwrap();
            let s = tokio::spawn(async move {
                let (method, path, _, send) = next(&mut handle).await;
                assert_eq!((method.as_str(), path.as_str()), ("GET", "/apis/apps/v1/namespaces/logs/statefulsets/kafka"));
                reply(send, &json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "kafka", "namespace": "logs"},
                    "spec": {"replicas": 3, "serviceName": "kafka-headless", "selector": {}, "template": {}}}));
                serve_apply(handle, 3, owner).await
            });
            reconcile_brokers(Arc::new(b), ctx).await.unwrap();
            s.await.unwrap()
        }
    };
    // 3 -> 2 while broker 2 holds a replica: the StatefulSet stays at 3, and the status says why
    let (applied, status) = reconcile_to(2).await;
    let ss = &applied.iter().find(|(p, _)| p.contains("statefulsets")).unwrap().1;
    assert_eq!(ss["spec"]["replicas"], 3);
    let d = condition(&status, "Degraded");
    assert_eq!((d["status"].as_str(), d["reason"].as_str()), (Some("True"), Some("ScaleDownBlocked")));
    assert!(d["message"].as_str().unwrap().contains("[2]"), "{d}");
    // once nothing is on broker 2 (the topic deleted here; `stromctl brokers drain 2` in practice)
    strom_operator::kafka::delete(&bootstrap, "spread").await.unwrap();
    for _ in 0..50 {
        if !strom_operator::kafka::brokers_with_replicas(&bootstrap).await.unwrap().contains(&2) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (applied, status) = reconcile_to(2).await;
    let ss = &applied.iter().find(|(p, _)| p.contains("statefulsets")).unwrap().1;
    assert_eq!(ss["spec"]["replicas"], 2);
    assert_eq!(condition(&status, "Degraded")["status"], "False");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs reconciles of `obj` until the rolling restart is done (or 6 rounds), each against pods
/// as they are after the previous round's deletion; returns the pods deleted in order and the
/// last status patch.
async fn roll_until_done<F, Fut>(probe: common::FakeProbe, owner: Value, names: &[&str], mut ready: impl FnMut(&str, &str) -> bool, reconcile: F) -> (Vec<String>, Vec<Value>)
where
    F: Fn(Arc<Context>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut revisions: Vec<(String, String)> = names.iter().map(|n| (n.to_string(), "rev-old".to_string())).collect();
    let mut deleted = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let (ctx, handle) = common::context(probe.clone());
        let pods: Vec<Value> = revisions.iter().map(|(n, r)| pod(n, r, ready(n, r))).collect();
        let ss_status = json!({"replicas": 3, "readyReplicas": 3, "observedGeneration": 1, "updateRevision": "rev-new"});
        let s = tokio::spawn(serve(handle, owner.clone(), ss_status, pods));
        reconcile(ctx).await;
        let (seen, status) = s.await.unwrap();
        statuses.push(status);
        let gone: Vec<String> = seen.iter().filter(|(m, _, _)| m == "DELETE").map(|(_, p, _)| p.rsplit('/').next().unwrap().to_string()).collect();
        assert!(gone.len() <= 1, "one pod at a time: {gone:?}");
        let events: Vec<&Value> = seen.iter().filter(|(m, p, _)| common::is_event(m, p)).map(|(_, _, b)| b).collect();
        assert_eq!(events.len(), gone.len(), "an Event per restart");
        match gone.first() {
            Some(p) => {
                assert_eq!(events[0]["reason"], "RollingRestart");
                assert!(events[0]["note"].as_str().unwrap().contains(p.as_str()), "{}", events[0]);
                revisions.iter_mut().find(|(n, _)| n == p).unwrap().1 = "rev-new".into();
                deleted.push(p.clone());
            }
            None => break,
        }
    }
    (deleted, statuses)
}

#[tokio::test]
async fn a_changed_template_restarts_one_server_at_a_time_the_leader_last() {
    let modes = [("zk-0.", "follower"), ("zk-1.", "leader"), ("zk-2.", "follower")].iter().map(|(a, m)| (a.to_string(), m.to_string())).collect();
    let probe = common::FakeProbe { modes, ..Default::default() };
    let e = ensemble(3, json!({"metadata": {"generation": 1}}));
    let owner = serde_json::to_value(&e).unwrap();
    let e = Arc::new(e);
    let (deleted, statuses) = roll_until_done(probe, owner, &["zk-0", "zk-1", "zk-2"], |_, _| true, |ctx| {
        let e = e.clone();
        async move {
            reconcile_ensemble(e, ctx).await.unwrap();
        }
    })
    .await;
    assert_eq!(deleted, ["zk-2", "zk-0", "zk-1"]);
    // the status names the leader and each member's mode, and says a restart is rolling
    let first = &statuses[0];
    assert_eq!(first["status"]["leader"], "zk-1");
    assert_eq!(first["status"]["members"], json!([{"pod": "zk-0", "mode": "follower"}, {"pod": "zk-1", "mode": "leader"}, {"pod": "zk-2", "mode": "follower"}]));
    let p = condition(first, "Progressing");
    assert_eq!((p["status"].as_str(), p["reason"].as_str()), (Some("True"), Some("RollingRestart")));
    // once every pod runs the new template: done
    let last = statuses.last().unwrap();
    assert_eq!(condition(last, "Progressing")["status"], "False");
    assert_eq!(condition(last, "Available")["status"], "True");
}

#[tokio::test]
async fn no_restart_while_another_pod_is_not_ready() {
    let e = ensemble(3, json!({"metadata": {"generation": 1}}));
    let owner = serde_json::to_value(&e).unwrap();
    let e = Arc::new(e);
    // zk-0 already restarted but not ready yet: nothing is deleted, the status says why
    let (deleted, statuses) = roll_until_done(common::FakeProbe::default(), owner, &["zk-0", "zk-1", "zk-2"], |n, _| n != "zk-1", |ctx| {
        let e = e.clone();
        async move {
            reconcile_ensemble(e, ctx).await.unwrap();
        }
    })
    .await;
    // zk-1 is down on the old template: it goes first (costs nothing), then the others wait for it
    assert_eq!(deleted, ["zk-1"]);
    assert!(condition(statuses.last().unwrap(), "Progressing")["message"].as_str().unwrap().contains("waiting for pod zk-1 to be ready"), "{}", statuses.last().unwrap());
}

fn brokers_resource() -> BrokerCluster {
    serde_json::from_value(json!({"apiVersion": "strom.io/v1alpha1", "kind": "BrokerCluster",
        "metadata": {"name": "kafka", "namespace": "logs", "uid": "u-2", "generation": 1},
        "spec": {"replicas": 3, "coordinator": {"connect": "zk:2181"}, "storage": {"size": "1Gi"}}}))
    .unwrap()
}

#[tokio::test]
async fn brokers_restart_the_controller_last_and_never_while_partitions_are_under_replicated() {
    let b = Arc::new(brokers_resource());
    let owner = serde_json::to_value(&*b).unwrap();
    let run = |ctx: Arc<Context>| {
        let b = b.clone();
        async move {
            reconcile_brokers(b, ctx).await.unwrap();
        }
    };
    let healthy = common::FakeProbe { health: Some(strom_operator::probe::BrokerHealth { controller: 1, under_replicated: 0 }), ..Default::default() };
    let (deleted, statuses) = roll_until_done(healthy, owner.clone(), &["kafka-0", "kafka-1", "kafka-2"], |_, _| true, run).await;
    assert_eq!(deleted, ["kafka-2", "kafka-0", "kafka-1"]);
    assert_eq!(statuses[0]["status"]["controller"], 1);
    let urp = common::FakeProbe { health: Some(strom_operator::probe::BrokerHealth { controller: 1, under_replicated: 2 }), ..Default::default() };
    let (deleted, statuses) = roll_until_done(urp, owner.clone(), &["kafka-0", "kafka-1", "kafka-2"], |_, _| true, run).await;
    assert!(deleted.is_empty(), "{deleted:?}");
    assert!(condition(&statuses[0], "Progressing")["message"].as_str().unwrap().contains("under-replicated"));
    // no broker answering: no restart either (its health is unknown)
    let (deleted, _) = roll_until_done(common::FakeProbe::default(), owner, &["kafka-0", "kafka-1", "kafka-2"], |_, _| true, run).await;
    assert!(deleted.is_empty(), "{deleted:?}");
}

#[tokio::test]
async fn rack_awareness_copies_each_nodes_zone_onto_its_broker_pod() {
    let mut b = serde_json::to_value(brokers_resource()).unwrap();
    b["spec"]["rackLabel"] = json!("topology.kubernetes.io/zone");
    let b: BrokerCluster = serde_json::from_value(b).unwrap();
    let owner = serde_json::to_value(&b).unwrap();
    let on = |name: &str, node: Option<&str>, rack: Option<&str>| {
        let mut p = pod(name, "rev", false);
        if let Some(n) = node {
            p["spec"] = json!({"nodeName": n, "containers": []});
        }
        if let Some(r) = rack {
            p["metadata"]["annotations"] = json!({"strom.io/rack": r});
        }
        p
    };
    // kafka-0 on n-a (zone-a), kafka-1 already annotated zone-b on n-b, kafka-2 not scheduled yet
    let pods = vec![on("kafka-0", Some("n-a"), None), on("kafka-1", Some("n-b"), Some("zone-b")), on("kafka-2", None, None)];
    let (ctx, handle) = setup();
    let s = tokio::spawn(serve(handle, owner.clone(), json!({"replicas": 3, "readyReplicas": 0}), pods));
    reconcile_brokers(Arc::new(b.clone()), ctx).await.unwrap();
    let (seen, status) = s.await.unwrap();
    let patched: Vec<(&str, &Value)> = seen.iter().filter(|(m, p, _)| m == "PATCH" && p.contains("/pods/")).map(|(_, p, b)| (p.as_str(), b)).collect();
    assert_eq!(patched, [("/api/v1/namespaces/logs/pods/kafka-0", &json!({"metadata": {"annotations": {"strom.io/rack": "zone-a"}}}))]);
    assert!(!condition(&status, "Progressing")["message"].as_str().unwrap().contains("rack"));
    // a node without the label: the pod waits, and the status says which and why
    let (ctx, handle) = setup();
    let s = tokio::spawn(serve(handle, owner, json!({"replicas": 3, "readyReplicas": 0}), vec![on("kafka-0", Some("n-x"), None)]));
    reconcile_brokers(Arc::new(b), ctx).await.unwrap();
    let (seen, status) = s.await.unwrap();
    assert!(!seen.iter().any(|(m, p, _)| m == "PATCH" && p.contains("/pods/")));
    let msg = condition(&status, "Progressing")["message"].as_str().unwrap().to_string();
    assert!(msg.contains("kafka-0 (node n-x has no label topology.kubernetes.io/zone)"), "{msg}");
}

#[tokio::test]
async fn errors_back_off_per_resource_and_a_success_resets_it() {
    use kube::runtime::controller::Action;
    use std::time::Duration;
    use strom_operator::controller::{error_policy, measured, Error};
    let (ctx, _h) = setup();
    let e = Arc::new(ensemble(3, json!({})));
    let other = Arc::new(ensemble(3, json!({"metadata": {"name": "zk2"}})));
    let err = Error::Reference("the cluster is not there".into());
    assert_eq!(error_policy(e.clone(), &err, ctx.clone()), Action::requeue(Duration::from_secs(5)));
    assert_eq!(error_policy(e.clone(), &err, ctx.clone()), Action::requeue(Duration::from_secs(10)));
    assert_eq!(error_policy(e.clone(), &err, ctx.clone()), Action::requeue(Duration::from_secs(20)));
    // each resource has its own count
    assert_eq!(error_policy(other, &err, ctx.clone()), Action::requeue(Duration::from_secs(5)));
    // a reconcile that succeeds starts the count again
    measured("CoordinatorEnsemble", ctx.clone(), "logs/zk".into(), async { Ok(Action::await_change()) }).await.unwrap();
    assert_eq!(error_policy(e, &err, ctx), Action::requeue(Duration::from_secs(5)));
}
