//! `Topic`: a topic of a BrokerCluster, created, grown and reconfigured by the operator.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::Condition;

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "strom.io",
    version = "v1alpha1",
    kind = "Topic",
    namespaced,
    shortname = "kt",
    status = "TopicStatus",
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".spec.cluster"}"#,
    printcolumn = r#"{"name":"Partitions","type":"integer","jsonPath":".spec.partitions"}"#,
    printcolumn = r#"{"name":"Replication","type":"integer","jsonPath":".spec.replicationFactor"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Available\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TopicSpec {
    /// The BrokerCluster (same namespace) the topic lives in.
    pub cluster: String,
    /// The topic's name in Kafka (the resource's name when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[a-zA-Z0-9._-]{1,249}$') && self != '.' && self != '..'").message("a topic name is 1 to 249 of letters, digits, '.', '_' and '-', and not '.' or '..'"))]
    #[schemars(length(max = 249))]
    pub topic_name: Option<String>,
    /// Partitions can grow, never shrink (Kafka cannot remove partitions).
    #[x_kube(validation = kube::core::Rule::new("self >= 1").message("partitions must be at least 1"))]
    #[x_kube(validation = kube::core::Rule::new("self >= oldSelf").message("partitions cannot be reduced (Kafka cannot remove partitions)"))]
    pub partitions: i32,
    #[x_kube(validation = kube::core::Rule::new("self >= 1").message("replicationFactor must be at least 1"))]
    pub replication_factor: i32,
    /// Topic configs (retention.ms, cleanup.policy, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicStatus {
    #[serde(default)]
    pub observed_generation: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<PartitionStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartitionStatus {
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}
