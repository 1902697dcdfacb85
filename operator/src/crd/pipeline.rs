//! `LogPipeline`: the seed's EFLFK path as one resource — shippers (Filebeat's role) reading log
//! files into a topic, processors (Logstash's role) consuming it into Elasticsearch indices.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Condition, PodSettings};

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "strom.io",
    version = "v1alpha1",
    kind = "LogPipeline",
    namespaced,
    shortname = "klp",
    status = "LogPipelineStatus",
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".spec.cluster"}"#,
    printcolumn = r#"{"name":"Topic","type":"string","jsonPath":".spec.topic.name"}"#,
    printcolumn = r#"{"name":"Shippers","type":"integer","jsonPath":".status.readyShippers"}"#,
    printcolumn = r#"{"name":"Processors","type":"integer","jsonPath":".status.readyProcessors"}"#,
    printcolumn = r#"{"name":"Lag","type":"integer","jsonPath":".status.consumerLag"}"#,
    printcolumn = r#"{"name":"Available","type":"string","jsonPath":".status.conditions[?(@.type==\"Available\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct LogPipelineSpec {
    /// The BrokerCluster (same namespace) carrying the records.
    pub cluster: String,
    /// The topic between shippers and processors (created as a Topic resource).
    pub topic: PipelineTopic,
    // Bounds on lists and strings keep the CEL rules within the API server's cost budget (it
    // refuses a CRD whose rules could cost too much on unbounded input).
    #[x_kube(validation = kube::core::Rule::new("size(self) >= 1").message("a pipeline needs at least one source"))]
    #[schemars(length(max = 32))]
    pub sources: Vec<Source>,
    pub processor: Processor,
    #[x_kube(validation = kube::core::Rule::new("size(self) >= 1").message("a pipeline needs at least one sink"))]
    #[schemars(length(max = 16))]
    pub sinks: Vec<Sink>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineTopic {
    pub name: String,
    #[serde(default = "three")]
    #[x_kube(validation = kube::core::Rule::new("self >= 1").message("partitions must be at least 1"))]
    pub partitions: i32,
    #[serde(default = "one")]
    #[x_kube(validation = kube::core::Rule::new("self >= 1").message("replicationFactor must be at least 1"))]
    pub replication_factor: i32,
}

fn one() -> i32 {
    1
}
fn three() -> i32 {
    3
}

/// Log files to ship, as a Filebeat input: paths (globs), tags, extra fields, multiline.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    pub name: String,
    #[x_kube(validation = kube::core::Rule::new("size(self) >= 1 && self.all(p, p.startsWith('/'))").message("paths must be absolute file paths or globs"))]
    #[schemars(length(max = 32), inner(length(max = 1024)))]
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// Lines not matching this pattern join the previous event (Filebeat's multiline pattern
    /// with negate: true, match: after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiline_pattern: Option<String>,
    /// Where the shipper runs: `DaemonSet` (on every node, reading hostPath logs) or `Sidecar`.
    #[serde(default = "daemonset")]
    #[x_kube(validation = kube::core::Rule::new("self == 'DaemonSet' || self == 'Sidecar'").message("mode must be DaemonSet or Sidecar"))]
    #[schemars(length(max = 16))]
    pub mode: String,
}

fn daemonset() -> String {
    "DaemonSet".into()
}

/// The consumer side, as a Logstash pipeline: a consumer group, a codec and parsing.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Processor {
    #[serde(default = "one")]
    pub replicas: i32,
    pub consumer_group: String,
    #[serde(default = "json")]
    pub codec: String,
    /// earliest or latest.
    #[serde(default = "latest")]
    #[x_kube(validation = kube::core::Rule::new("self == 'earliest' || self == 'latest'").message("autoOffsetReset must be earliest or latest"))]
    #[schemars(length(max = 16))]
    pub auto_offset_reset: String,
    /// Parsing applied to the message: `none`, `nginx` (access lines of sources tagged `access`
    /// and error lines of sources tagged `error`, as the seed tags them), `nginx-combined` or
    /// `nginx-error` (every event one way).
    #[serde(default = "none")]
    #[x_kube(validation = kube::core::Rule::new("self in ['none', 'nginx', 'nginx-combined', 'nginx-error']").message("parse must be none, nginx, nginx-combined or nginx-error"))]
    #[schemars(length(max = 32))]
    pub parse: String,
    #[serde(default, flatten)]
    pub pod: PodSettings,
}

fn json() -> String {
    "json".into()
}
fn latest() -> String {
    "latest".into()
}
fn none() -> String {
    "none".into()
}

/// Where events go: Elasticsearch hosts and an index pattern, for the events carrying a tag
/// (all events when `whenTag` is absent), as the seed's `if "access" in [tags]`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sink {
    #[x_kube(validation = kube::core::Rule::new("size(self) >= 1").message("give at least one Elasticsearch host"))]
    #[schemars(length(max = 16), inner(length(max = 512)))]
    pub hosts: Vec<String>,
    /// For example `nginx_access-%{+YYYY.MM.dd}`.
    pub index: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when_tag: Option<String>,
    /// A Secret with `username` and `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,
    /// A Secret with `ca.crt`: the PEM certificate of the CA that signed Elasticsearch's
    /// certificate (ECK's `<name>-es-http-certs-public` has it). The processors trust it for the
    /// `https://` hosts besides the public roots, and refuse a server it did not sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub tls_secret: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogPipelineStatus {
    #[serde(default)]
    pub observed_generation: i64,
    /// Shippers ready / wanted (one per node of the DaemonSet).
    #[serde(default)]
    pub ready_shippers: i32,
    #[serde(default)]
    pub desired_shippers: i32,
    #[serde(default)]
    pub ready_processors: i32,
    /// Records the processors' consumer group is behind the topic's end (unknown while the
    /// cluster does not answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_lag: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
