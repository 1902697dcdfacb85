//! `CoordinatorEnsemble`: a ZooKeeper-compatible ensemble of strom-coordinator servers.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Condition, PodSettings, Storage};

/// A coordinator ensemble: `replicas` servers (odd, 1 to 7), each with its own volume; the
/// servers form one ensemble as ZooKeeper's do (server.N lines, myid from the pod ordinal + 1).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "strom.io",
    version = "v1alpha1",
    kind = "CoordinatorEnsemble",
    namespaced,
    shortname = "zke",
    status = "CoordinatorEnsembleStatus",
    printcolumn = r#"{"name":"Replicas","type":"integer","jsonPath":".spec.replicas"}"#,
    printcolumn = r#"{"name":"Ready","type":"integer","jsonPath":".status.readyReplicas"}"#,
    printcolumn = r#"{"name":"Leader","type":"string","jsonPath":".status.leader"}"#,
    printcolumn = r#"{"name":"Available","type":"string","jsonPath":".status.conditions[?(@.type==\"Available\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CoordinatorEnsembleSpec {
    /// Number of servers: 1, 3, 5 or 7 (an ensemble needs a majority; an even size adds no
    /// tolerance).
    /// Scaling (3 <-> 5 <-> 7) adds or removes one server at a time by dynamic reconfiguration,
    /// without restarting the others; a single server runs standalone and is not scaled.
    #[x_kube(validation = kube::core::Rule::new("self >= 1 && self <= 7 && self % 2 == 1").message("replicas must be 1, 3, 5 or 7: an ensemble serves while a majority lives, and an even size tolerates no more failures than the odd size below it"))]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf || (self > 1 && oldSelf > 1)").message("an ensemble of one server runs standalone and cannot be scaled to or from 1 server: create a new ensemble instead"))]
    pub replicas: i32,
    pub storage: Storage,
    #[serde(default)]
    pub ports: EnsemblePorts,
    /// Typed zoo.cfg settings.
    #[serde(default)]
    pub config: EnsembleConfig,
    /// Other zoo.cfg keys, passed through as written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_config: BTreeMap<String, String>,
    #[serde(default, flatten)]
    pub pod: PodSettings,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnsemblePorts {
    #[serde(default = "client_port")]
    pub client: i32,
    #[serde(default = "quorum_port")]
    pub quorum: i32,
    #[serde(default = "election_port")]
    pub election: i32,
    #[serde(default = "admin_port")]
    pub admin: i32,
}

fn client_port() -> i32 {
    2181
}
fn quorum_port() -> i32 {
    2888
}
fn election_port() -> i32 {
    3888
}
fn admin_port() -> i32 {
    8080
}

impl Default for EnsemblePorts {
    fn default() -> Self {
        EnsemblePorts { client: client_port(), quorum: quorum_port(), election: election_port(), admin: admin_port() }
    }
}

/// The zoo.cfg keys users set most, with ZooKeeper's defaults.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnsembleConfig {
    #[serde(default = "tick_time")]
    #[x_kube(validation = kube::core::Rule::new("self > 0").message("tickTime must be positive (milliseconds)"))]
    pub tick_time: i32,
    #[serde(default = "init_limit")]
    pub init_limit: i32,
    #[serde(default = "sync_limit")]
    pub sync_limit: i32,
    #[serde(default = "max_client_cnxns")]
    pub max_client_cnxns: i32,
    #[serde(default = "snap_count")]
    pub snap_count: i64,
    /// Autopurge: snapshots kept and the purge interval in hours (0: never).
    #[serde(default = "snap_retain")]
    pub autopurge_snap_retain_count: i32,
    #[serde(default = "purge_interval")]
    pub autopurge_purge_interval: i32,
}

fn tick_time() -> i32 {
    2000
}
fn init_limit() -> i32 {
    10
}
fn sync_limit() -> i32 {
    5
}
fn max_client_cnxns() -> i32 {
    60
}
fn snap_count() -> i64 {
    100_000
}
fn snap_retain() -> i32 {
    3
}
fn purge_interval() -> i32 {
    24
}

impl Default for EnsembleConfig {
    fn default() -> Self {
        EnsembleConfig {
            tick_time: tick_time(),
            init_limit: init_limit(),
            sync_limit: sync_limit(),
            max_client_cnxns: max_client_cnxns(),
            snap_count: snap_count(),
            autopurge_snap_retain_count: snap_retain(),
            autopurge_purge_interval: purge_interval(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CoordinatorEnsembleStatus {
    #[serde(default)]
    pub observed_generation: i64,
    #[serde(default)]
    pub ready_replicas: i32,
    /// The pod leading the ensemble.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// Each member and its mode (leader, follower, looking).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Member>,
    /// The connect string clients use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_string: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub pod: String,
    pub mode: String,
}
