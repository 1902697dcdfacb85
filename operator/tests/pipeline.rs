//! The LogPipeline reconciler against a mocked API server: the Topics, ConfigMaps, DaemonSet and
//! Deployment applied in order with owner references, configs strom-pipeline reads, and status.

use std::sync::Arc;

use serde_json::{json, Value};
use strom_operator::controller::reconcile_pipeline;
use strom_operator::crd::pipeline::LogPipeline;

mod common;

use common::{next, reply};

fn pipeline() -> Value {
    json!({"apiVersion": "strom.io/v1alpha1", "kind": "LogPipeline",
        "metadata": {"name": "nginx", "namespace": "logs", "uid": "u-9", "generation": 3},
        "spec": {"cluster": "kafka", "topic": {"name": "nginx", "partitions": 3, "replicationFactor": 2},
            "sources": [{"name": "access", "paths": ["/var/log/nginx/access.log"], "tags": ["access"]},
                        {"name": "error", "paths": ["/var/log/nginx/error.log"], "tags": ["error"], "multilinePattern": "^\\d{4}/"}],
            "processor": {"replicas": 2, "consumerGroup": "logstash", "parse": "nginx", "autoOffsetReset": "earliest"},
            "sinks": [{"hosts": ["http://es-0:9200"], "index": "nginx_access-%{+YYYY.MM.dd}", "whenTag": "access"},
                      {"hosts": ["http://es-0:9200"], "index": "nginx_error-%{+YYYY.MM.dd}", "whenTag": "error", "credentialsSecret": "es"}]}})
}

#[tokio::test]
async fn a_pipeline_becomes_topics_configs_shippers_and_processors() {
    let (ctx, mut h) = common::context(common::FakeProbe { lag: Some(42), ..Default::default() });
    let owner = pipeline();
    let o = owner.clone();
    let server = tokio::spawn(async move {
        let (method, path, _, send) = next(&mut h).await;
        assert_eq!((method.as_str(), path.as_str()), ("GET", "/apis/strom.io/v1alpha1/namespaces/logs/brokerclusters/kafka"));
        reply(send, &json!({"apiVersion": "strom.io/v1alpha1", "kind": "BrokerCluster", "metadata": {"name": "kafka", "namespace": "logs"},
            "spec": {"replicas": 3, "coordinator": {"ensemble": "zk"}, "storage": {"size": "1Gi"}},
            "status": {"bootstrapServers": "kafka-bootstrap.logs.svc.cluster.local:9092"}}));
        let mut applied = Vec::new();
        loop {
            let (method, path, mut body, send) = next(&mut h).await;
            assert_eq!(method, "PATCH", "{path}");
            if path.ends_with("/status") {
                let mut r = o.clone();
                r["status"] = body["status"].clone();
                reply(send, &r);
                return (applied, body);
            }
            if path.contains("/daemonsets/") {
                body["status"] = json!({"numberReady": 3, "desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberMisscheduled": 0});
            }
            if path.contains("/deployments/") {
                body["status"] = json!({"readyReplicas": 2});
            }
            applied.push((path, body.clone()));
            reply(send, &body);
        }
    });
    reconcile_pipeline(Arc::new(serde_json::from_value::<LogPipeline>(owner).unwrap()), ctx).await.unwrap();
    let (applied, status) = server.await.unwrap();
    let paths: Vec<&str> = applied.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, [
        "/apis/strom.io/v1alpha1/namespaces/logs/topics/nginx-nginx",
        "/apis/strom.io/v1alpha1/namespaces/logs/topics/nginx-nginx-dead-letter",
        "/api/v1/namespaces/logs/configmaps/nginx-shipper",
        "/api/v1/namespaces/logs/configmaps/nginx-processor",
        "/apis/apps/v1/namespaces/logs/daemonsets/nginx-shipper",
        "/apis/apps/v1/namespaces/logs/deployments/nginx-processor",
    ]);
    for (_, obj) in &applied {
        assert_eq!(obj["metadata"]["ownerReferences"][0]["uid"], "u-9", "{obj}");
    }
    assert_eq!((applied[0].1["spec"]["partitions"].as_i64(), applied[0].1["spec"]["replicationFactor"].as_i64()), (Some(3), Some(2)));
    // the configs are strom-pipeline's, and it reads them
    let ship = strom_pipeline::config::PipelineConfig::from_yaml(applied[2].1["data"]["shipper.yml"].as_str().unwrap(), "shipper.yml").unwrap();
    ship.validate().unwrap();
    let ship = ship.ship.unwrap();
    assert!(ship.inputs[1].multiline.is_some());
    assert_eq!(ship.output.kafka.brokers, ["kafka-bootstrap.logs.svc.cluster.local:9092"]);
    let process = strom_pipeline::config::PipelineConfig::from_yaml(applied[3].1["data"]["processor.yml"].as_str().unwrap(), "processor.yml").unwrap();
    process.validate().unwrap();
    let process = process.process.unwrap();
    assert_eq!(process.dead_letter.unwrap().topic, "nginx-dead-letter");
    assert_eq!(applied[5].1["spec"]["replicas"], 2);
    let cmd = applied[5].1["spec"]["template"]["spec"]["containers"][0]["command"].clone();
    assert_eq!(cmd, json!(["strom-pipeline", "process", "--config", "/etc/strom/processor.yml", "--metrics-addr", "0.0.0.0:9600"]));
    assert_eq!(status["status"]["readyShippers"], 3);
    assert_eq!(status["status"]["readyProcessors"], 2);
    assert_eq!(status["status"]["consumerLag"], 42);
    let available = status["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Available").unwrap();
    assert_eq!(available["status"], "True", "{status}");
}
