//! The Topic reconciler against a mocked API server and a real coordinator and broker running in
//! this process: the Kafka topic is created, grown and deleted (finalizer), and the status lists
//! its partitions.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use kube::Client;
use serde_json::{json, Value};
use strom_operator::controller::{reconcile_topic, Context, TOPIC_FINALIZER};
use strom_operator::crd::topic::Topic;

mod common;

use common::{next, reply, Handle};


fn topic(partitions: i32, extra_meta: Value) -> Value {
    let mut t = json!({"apiVersion": "strom.io/v1alpha1", "kind": "Topic",
        "metadata": {"name": "lzq", "namespace": "logs", "uid": "u-3", "generation": 1},
        "spec": {"cluster": "kafka", "partitions": partitions, "replicationFactor": 1, "config": {"retention.ms": "3600000"}}});
    if let Value::Object(m) = extra_meta {
        for (k, v) in m {
            t["metadata"][k] = v;
        }
    }
    t
}

/// Serves one reconcile: the cluster lookup (with `bootstrap` in its status), the finalizer
/// patch if any, then the status patch or the finalizer removal. Returns (method, path, body)
/// of the requests after the cluster lookup.
async fn serve(mut h: Handle, owner: Value, bootstrap: String) -> Vec<(String, String, Value)> {
    let (method, path, _, send) = next(&mut h).await;
    assert_eq!((method.as_str(), path.as_str()), ("GET", "/apis/strom.io/v1alpha1/namespaces/logs/brokerclusters/kafka"));
    reply(send, &json!({"apiVersion": "strom.io/v1alpha1", "kind": "BrokerCluster", "metadata": {"name": "kafka", "namespace": "logs"},
        "spec": {"replicas": 1, "coordinator": {"ensemble": "zk"}, "storage": {"size": "1Gi"}}, "status": {"bootstrapServers": bootstrap}}));
    let mut seen = Vec::new();
    loop {
        let (method, path, body, send) = next(&mut h).await;
        let mut o = owner.clone();
        if path.ends_with("/status") {
            o["status"] = body["status"].clone();
            reply(send, &o);
            seen.push((method, path, body));
            return seen;
        }
        o["metadata"]["finalizers"] = body["metadata"]["finalizers"].clone();
        reply(send, &o);
        let last = body["metadata"]["finalizers"].as_array().is_some_and(|f| f.is_empty());
        seen.push((method, path, body));
        if last {
            return seen;
        }
    }
}

async fn reconcile(t: Value, bootstrap: &str) -> Vec<(String, String, Value)> {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let ctx = Arc::new(Context { client: Client::new(svc, "default") });
    let server = tokio::spawn(serve(handle, t.clone(), bootstrap.to_string()));
    let obj: Topic = serde_json::from_value(t).unwrap();
    reconcile_topic(Arc::new(obj), ctx).await.unwrap();
    server.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_is_created_grown_and_deleted_in_its_cluster() {
    let dir = std::env::temp_dir().join(format!("strom-operator-topic-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (bootstrap, _brokers) = common::stack(&dir, 1).await;

    // created, with the finalizer added first
    let seen = reconcile(topic(3, json!({})), &bootstrap).await;
    assert_eq!(seen[0].1, "/apis/strom.io/v1alpha1/namespaces/logs/topics/lzq");
    assert_eq!(seen[0].2["metadata"]["finalizers"], json!([TOPIC_FINALIZER]));
    let status = &seen[1].2["status"];
    assert_eq!(status["partitions"].as_array().map_or(0, |p| p.len()), 3, "{status}");
    assert!(status["partitions"].as_array().unwrap().iter().all(|p| p["leader"] == 0 && p["isr"] == json!([0])));
    assert_eq!(status["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Available").unwrap()["status"], "True");
    let parts = strom_operator::kafka::describe(&bootstrap, "lzq").await.unwrap().unwrap();
    assert_eq!(parts.len(), 3);

    // grown to 5 partitions (the finalizer is there already: no metadata patch)
    let seen = reconcile(topic(5, json!({"finalizers": [TOPIC_FINALIZER]})), &bootstrap).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].2["status"]["partitions"].as_array().map_or(0, |p| p.len()), 5, "{}", seen[0].2);
    assert_eq!(strom_operator::kafka::describe(&bootstrap, "lzq").await.unwrap().unwrap().len(), 5);

    // deleted: the Kafka topic goes, then the finalizer
    let seen = reconcile(topic(5, json!({"finalizers": [TOPIC_FINALIZER], "deletionTimestamp": "2026-11-27T00:00:00Z"})), &bootstrap).await;
    assert_eq!(seen.last().unwrap().2["metadata"]["finalizers"], json!([]));
    let mut gone = false;
    for _ in 0..50 {
        if strom_operator::kafka::describe(&bootstrap, "lzq").await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the Kafka topic is still there");
    let _ = std::fs::remove_dir_all(&dir);
}
