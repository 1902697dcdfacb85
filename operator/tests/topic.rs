//! The Topic reconciler against a mocked API server and a real coordinator and broker running in
//! this process: the Kafka topic is created, grown and deleted (finalizer), and the status lists
//! its partitions.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use strom_operator::controller::{reconcile_topic, TOPIC_FINALIZER};
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
        if common::is_event(&method, &path) {
            reply(send, &body);
            seen.push((method, path, body));
            continue;
        }
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

/// The notes of the Events recorded.
fn events(seen: &[(String, String, Value)]) -> Vec<String> {
    seen.iter().filter(|(m, p, _)| common::is_event(m, p)).map(|(_, _, b)| b["note"].as_str().unwrap_or_default().to_string()).collect()
}

fn status_of(seen: &[(String, String, Value)]) -> &Value {
    &seen.iter().find(|(_, p, _)| p.ends_with("/status")).expect("a status patch").2
}

async fn reconcile(t: Value, bootstrap: &str) -> Vec<(String, String, Value)> {
    let (ctx, handle) = common::context(common::FakeProbe::default());
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

    // created, with the finalizer added first, and an Event saying so
    let seen = reconcile(topic(3, json!({})), &bootstrap).await;
    assert_eq!(seen[0].1, "/apis/strom.io/v1alpha1/namespaces/logs/topics/lzq");
    assert_eq!(seen[0].2["metadata"]["finalizers"], json!([TOPIC_FINALIZER]));
    assert_eq!(events(&seen), ["created topic lzq with 3 partition(s), replication factor 1"]);
    let status = &status_of(&seen)["status"];
    assert_eq!(status["partitions"].as_array().map_or(0, |p| p.len()), 3, "{status}");
    assert!(status["partitions"].as_array().unwrap().iter().all(|p| p["leader"] == 0 && p["isr"] == json!([0])));
    assert_eq!(status["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Available").unwrap()["status"], "True");
    let parts = strom_operator::kafka::describe(&bootstrap, "lzq").await.unwrap().unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(strom_operator::kafka::topic_configs(&bootstrap, "lzq").await.unwrap(), [("retention.ms".to_string(), "3600000".to_string())].into());

    // unchanged: nothing to do, no event (the finalizer is there already: no metadata patch)
    let fin = json!({"finalizers": [TOPIC_FINALIZER]});
    let seen = reconcile(topic(3, fin.clone()), &bootstrap).await;
    assert_eq!(seen.len(), 1, "{seen:?}");

    // grown to 5 partitions
    let seen = reconcile(topic(5, fin.clone()), &bootstrap).await;
    assert_eq!(events(&seen), ["grew topic lzq from 3 to 5 partitions"]);
    assert_eq!(status_of(&seen)["status"]["partitions"].as_array().map_or(0, |p| p.len()), 5, "{seen:?}");
    assert_eq!(strom_operator::kafka::describe(&bootstrap, "lzq").await.unwrap().unwrap().len(), 5);

    // configs changed: the topic's overrides become exactly the spec's (retention.ms changed,
    // cleanup.policy added); removing a key resets it to the broker default
    let mut t = topic(5, fin.clone());
    t["spec"]["config"] = json!({"retention.ms": "7200000", "cleanup.policy": "compact"});
    let seen = reconcile(t, &bootstrap).await;
    assert_eq!(events(&seen), ["set the configs of topic lzq (cleanup.policy, retention.ms)"]);
    let want: std::collections::BTreeMap<String, String> = [("cleanup.policy".to_string(), "compact".to_string()), ("retention.ms".to_string(), "7200000".to_string())].into();
    assert_eq!(strom_operator::kafka::topic_configs(&bootstrap, "lzq").await.unwrap(), want);
    let mut t = topic(5, fin.clone());
    t["spec"]["config"] = json!({"cleanup.policy": "compact"});
    let seen = reconcile(t, &bootstrap).await;
    assert_eq!(events(&seen), ["set the configs of topic lzq (retention.ms)"]);
    assert_eq!(strom_operator::kafka::topic_configs(&bootstrap, "lzq").await.unwrap(), [("cleanup.policy".to_string(), "compact".to_string())].into());

    // deleted: the Kafka topic goes, then the finalizer
    let mut t = topic(5, json!({"finalizers": [TOPIC_FINALIZER], "deletionTimestamp": "2026-11-27T00:00:00Z"}));
    t["spec"]["config"] = json!({"cleanup.policy": "compact"});
    let seen = reconcile(t, &bootstrap).await;
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
