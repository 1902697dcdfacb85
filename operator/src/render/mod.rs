//! Pure rendering: a resource (its spec, name and namespace) into the configuration files and
//! Kubernetes objects that run it. No client, no I/O: the controllers apply what this returns,
//! and `stromctl up` uses the same config rendering to run the stack on one machine.

pub mod broker;
pub mod ensemble;
pub mod local;
pub mod pipeline;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use sha2::{Digest, Sha256};

/// The image of the data plane when a resource names none.
pub const DEFAULT_IMAGE: &str = concat!("strom/strom:", env!("CARGO_PKG_VERSION"));
pub const MANAGED_BY: &str = "strom-operator";
/// Pod template annotation holding the hash of the rendered config: a config change changes the
/// template, so the StatefulSet rolls its pods.
pub const CONFIG_HASH: &str = "strom.io/config-hash";

/// What one resource becomes.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub config_map: ConfigMap,
    pub services: Vec<Service>,
    pub stateful_set: StatefulSet,
    pub pdb: PodDisruptionBudget,
}

/// Who the objects belong to.
#[derive(Debug, Clone)]
pub struct Owner {
    pub name: String,
    pub namespace: String,
    /// Set when the resource came from the API server (it has a uid): children get an owner
    /// reference so that deleting the resource deletes them.
    pub reference: Option<OwnerReference>,
}

impl Owner {
    pub fn from<K: kube::Resource<DynamicType = ()>>(r: &K) -> Owner {
        Owner { name: r.meta().name.clone().unwrap_or_default(), namespace: r.meta().namespace.clone().unwrap_or_else(|| "default".into()), reference: r.controller_owner_ref(&()) }
    }

    pub(crate) fn meta(&self, name: String, labels: &BTreeMap<String, String>) -> ObjectMeta {
        ObjectMeta { name: Some(name), namespace: Some(self.namespace.clone()), labels: Some(labels.clone()), owner_references: self.reference.clone().map(|r| vec![r]), ..Default::default() }
    }
}

/// The labels of every object of one resource (`component`: coordinator, broker, ...).
pub fn labels(component: &str, instance: &str) -> BTreeMap<String, String> {
    [
        ("app.kubernetes.io/name", format!("strom-{component}")),
        ("app.kubernetes.io/instance", instance.to_string()),
        ("app.kubernetes.io/component", component.to_string()),
        ("app.kubernetes.io/managed-by", MANAGED_BY.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Hex SHA-256 of config files (sorted by name).
pub fn config_hash(files: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in files {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A `key=value` properties file, keys sorted, with a header line.
pub fn properties(header: &str, entries: &BTreeMap<String, String>) -> String {
    let mut out = format!("# {header}\n");
    for (k, v) in entries {
        out.push_str(&format!("{k}={v}\n"));
    }
    out
}

/// Where a pod's volume and config files are mounted.
pub const DATA: &str = "/data";
pub const CONFIG_DIR: &str = "/etc/strom";

/// The headless Service giving each pod of a resource a stable DNS name.
pub fn headless_name(name: &str) -> String {
    format!("{name}-headless")
}

/// The cluster-internal DNS name of pod `ordinal` of a StatefulSet behind a headless Service.
pub fn pod_dns(set: &str, ordinal: i32, headless: &str, namespace: &str) -> String {
    format!("{set}-{ordinal}.{headless}.{namespace}.svc.cluster.local")
}

#[cfg(test)]
mod parse_tests {
    use crate::crd::broker::BrokerClusterSpec;
    use crate::crd::ensemble::CoordinatorEnsembleSpec;

    #[test]
    fn the_servers_read_what_is_rendered_for_them() {
        let zk: CoordinatorEnsembleSpec = serde_json::from_value(serde_json::json!({"replicas": 5, "storage": {"size": "1Gi"}, "config": {"tickTime": 1000}})).unwrap();
        let cfg = strom_coordinator::config::Config::parse("zoo.cfg", &super::ensemble::zoo_cfg("zk", "logs", &zk)).expect("strom-coordinator reads the rendered zoo.cfg");
        assert_eq!(cfg.servers.len(), 5);
        assert_eq!(cfg.tick_time, 1000);
        assert_eq!(cfg.servers[2].host, "zk-2.zk-headless.logs.svc.cluster.local");
        let kafka: BrokerClusterSpec = serde_json::from_value(serde_json::json!({"replicas": 3, "coordinator": {"ensemble": "zk"}, "storage": {"size": "1Gi"}})).unwrap();
        let text = super::broker::server_properties("kafka", "logs", &kafka, &super::ensemble::connect_string("zk", "logs", &zk));
        // The broker takes broker.id from the ordinal of its hostname, as in a StatefulSet pod.
        std::env::set_var("HOSTNAME", "kafka-2");
        let b = strom_broker::config::BrokerConfig::parse(&text, "server.properties", &[]).expect("strom-broker reads the rendered server.properties");
        assert_eq!(b.broker_id, 2);
        assert_eq!(b.zookeeper_connect, "zk-client.logs.svc.cluster.local:2181/logs-kafka");
        assert_eq!(b.advertised_listeners[0].host, "kafka-2.kafka-headless.logs.svc.cluster.local");
    }
}
