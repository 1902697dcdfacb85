//! The reconcilers against a mocked API server (kube-rs' controller-rs pattern): every request
//! the reconcile makes is checked in order and answered.

use std::sync::Arc;

use http::{Request, Response};
use kube::client::Body;
use kube::Client;
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
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Arc::new(Context { client: Client::new(svc, "default") }), handle)
}

/// Answers a status patch of `owner` with the object as the server would return it.
fn reply_status(send: tower_test::mock::SendResponse<Response<Body>>, owner: &Value, patch: &Value) {
    let mut o = owner.clone();
    o["status"] = patch["status"].clone();
    reply(send, &o);
}

/// Answers the applies of a rendering (echoing each object, the StatefulSet with `ready`
/// replicas) and returns the applied objects and the status patch.
async fn serve_apply(mut h: Handle, ready: i32, owner: Value) -> (Vec<(String, Value)>, Value) {
    let mut applied = Vec::new();
    loop {
        let (method, path, mut body, send) = next(&mut h).await;
        if method == "GET" && path.contains("/statefulsets/") {
            // a new cluster: no StatefulSet yet
            send.send_response(Response::builder().status(404).body(Body::from(serde_json::to_vec(&json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})).unwrap())).unwrap());
            continue;
        }
        assert_eq!(method, "PATCH", "{path}");
        if path.ends_with("/status") {
            reply_status(send, &owner, &body);
            return (applied, body);
        }
        if path.contains("/statefulsets/") {
            body["status"] = json!({"replicas": ready, "readyReplicas": ready});
        }
        applied.push((path, body.clone()));
        reply(send, &body);
    }
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

#[tokio::test]
async fn a_scale_up_renders_the_new_members() {
    let (ctx, handle) = setup();
    let e = ensemble(5, json!({}));
    let s = tokio::spawn(serve_apply(handle, 3, serde_json::to_value(&e).unwrap()));
    reconcile_ensemble(Arc::new(e), ctx).await.unwrap();
    let (applied, _) = s.await.unwrap();
    assert_eq!(applied[3].1["spec"]["replicas"], 5);
    assert!(applied[0].1["data"]["zoo.cfg"].as_str().unwrap().contains("server.5=zk-4."));
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
