//! `BrokerCluster`: Kafka-compatible strom-brokers on a coordinator ensemble.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Condition, PodSettings, Storage};

/// A broker cluster: `replicas` brokers (broker.id = pod ordinal), each with its own volume,
/// keeping their metadata in a coordinator ensemble under a chroot of their own.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "strom.io",
    version = "v1alpha1",
    kind = "BrokerCluster",
    namespaced,
    shortname = "kbc",
    status = "BrokerClusterStatus",
    printcolumn = r#"{"name":"Replicas","type":"integer","jsonPath":".spec.replicas"}"#,
    printcolumn = r#"{"name":"Ready","type":"integer","jsonPath":".status.readyReplicas"}"#,
    printcolumn = r#"{"name":"Controller","type":"integer","jsonPath":".status.controller"}"#,
    printcolumn = r#"{"name":"Bootstrap","type":"string","jsonPath":".status.bootstrapServers","priority":1}"#,
    printcolumn = r#"{"name":"Available","type":"string","jsonPath":".status.conditions[?(@.type==\"Available\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = kube::core::Rule::new("self.config.defaultReplicationFactor <= self.replicas").message("config.defaultReplicationFactor cannot exceed replicas: topics could not be created"))]
#[x_kube(validation = kube::core::Rule::new("self.config.minInsyncReplicas <= self.config.defaultReplicationFactor").message("config.minInsyncReplicas above config.defaultReplicationFactor makes every acks=all write fail"))]
#[serde(rename_all = "camelCase")]
pub struct BrokerClusterSpec {
    #[x_kube(validation = kube::core::Rule::new("self >= 1").message("replicas must be at least 1"))]
    pub replicas: i32,
    pub coordinator: CoordinatorRef,
    pub storage: Storage,
    /// Client listener port.
    #[serde(default = "client_port")]
    pub port: i32,
    #[serde(default)]
    pub config: BrokerConfig,
    /// Other server.properties keys, passed through as written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_config: BTreeMap<String, String>,
    /// broker.rack from this node label of each broker's node (rack awareness).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack_label: Option<String>,
    #[serde(default, flatten)]
    pub pod: PodSettings,
}

fn client_port() -> i32 {
    9092
}

/// Where the cluster keeps its metadata: a CoordinatorEnsemble of this namespace, or an
/// external connect string.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = kube::core::Rule::new("has(self.ensemble) != has(self.connect)").message("give exactly one of coordinator.ensemble and coordinator.connect"))]
#[serde(rename_all = "camelCase")]
pub struct CoordinatorRef {
    /// A CoordinatorEnsemble's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<String>,
    /// An external `host:port,...` connect string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<String>,
    /// The chroot under which this cluster's znodes live (`/<namespace>-<name>` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self.startsWith('/') && !self.endsWith('/')").message("chroot must start with / and not end with /"))]
    #[schemars(length(max = 255))]
    pub chroot: Option<String>,
}

/// The server.properties keys users set most, with Kafka's defaults.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerConfig {
    #[serde(default = "one")]
    #[x_kube(validation = kube::core::Rule::new("self >= 1").message("numPartitions must be at least 1"))]
    pub num_partitions: i32,
    #[serde(default = "one")]
    #[x_kube(validation = kube::core::Rule::new("self >= 1").message("defaultReplicationFactor must be at least 1"))]
    pub default_replication_factor: i32,
    #[serde(default = "one")]
    pub min_insync_replicas: i32,
    /// offsets.topic.replication.factor (at most the broker count when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offsets_topic_replication_factor: Option<i32>,
    #[serde(default = "retention_hours")]
    pub log_retention_hours: i64,
    #[serde(default = "segment_bytes")]
    pub log_segment_bytes: i64,
    #[serde(default = "yes")]
    pub auto_create_topics_enable: bool,
    #[serde(default = "yes")]
    pub delete_topic_enable: bool,
}

fn one() -> i32 {
    1
}
fn yes() -> bool {
    true
}
fn retention_hours() -> i64 {
    168
}
fn segment_bytes() -> i64 {
    1 << 30
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            num_partitions: 1,
            default_replication_factor: 1,
            min_insync_replicas: 1,
            offsets_topic_replication_factor: None,
            log_retention_hours: retention_hours(),
            log_segment_bytes: segment_bytes(),
            auto_create_topics_enable: true,
            delete_topic_enable: true,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerClusterStatus {
    #[serde(default)]
    pub observed_generation: i64,
    #[serde(default)]
    pub ready_replicas: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_servers: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
