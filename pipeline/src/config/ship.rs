//! The `ship` section: which files to tail and where in Kafka to send their lines (Filebeat's job).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Duration;
use crate::condition::Condition;
use crate::event::InputType;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipConfig {
    pub inputs: Vec<InputConfig>,
    pub output: ShipOutput,
    /// Where the offsets registry lives (a JSON file, written atomically).
    pub registry: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// Unique among the inputs; keys the registry entries.
    pub id: String,
    /// Which `input.type` events claim: `filestream` (Filebeat 8's default) or `log`.
    #[serde(default = "default_input_type", rename = "type")]
    pub input_type: InputType,
    /// Files or globs (`/var/log/nginx/access*.log`).
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub fields: Map<String, Value>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub fields_under_root: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiline: Option<MultilineConfig>,
    /// Regexes: a line matching any of them is dropped (after multiline joining, as Filebeat does).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_lines: Vec<String>,
    /// Regexes: when given, only lines matching one of them are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_lines: Vec<String>,
    /// Close a file not written for this long (Filebeat: `close_inactive`, default 5m).
    #[serde(default = "default_close_inactive")]
    pub close_inactive: Duration,
    /// How often to look for new files (default 10s).
    #[serde(default = "default_scan_frequency")]
    pub scan_frequency: Duration,
    /// Identify files by a fingerprint of their first bytes as well as device and inode.
    #[serde(default, skip_serializing_if = "is_false")]
    pub fingerprint: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    pub pattern: String,
    #[serde(default)]
    pub negate: bool,
    #[serde(rename = "match")]
    pub match_: MultilineMatch,
    /// Lines beyond this many are dropped from the joined event (Filebeat's default: 500).
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
    /// Flush a pending event after this long without a new line (default 5s).
    #[serde(default = "default_multiline_timeout")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MultilineMatch {
    After,
    Before,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipOutput {
    pub kafka: KafkaOutputConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaOutputConfig {
    /// `host:port` bootstrap brokers.
    pub brokers: Vec<String>,
    /// A topic, or a format string such as `%{[fields][log_topic]}`; used when no route matches.
    pub topic: String,
    /// Topics chosen by condition, first match wins (Filebeat's `topics: [{topic, when}]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<TopicRoute>,
    #[serde(default)]
    pub acks: Acks,
    #[serde(default)]
    pub compression: Compression,
    #[serde(default)]
    pub partitioning: Partitioning,
    /// Larger events are dropped, as Filebeat does (default 1000000).
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicRoute {
    pub when: Condition,
    pub topic: String,
}

/// Filebeat's `required_acks`: 0 none, 1 leader, -1 all in-sync replicas.
///
/// `all` is the default (librdkafka's and the Java producer's): only then is the producer
/// idempotent, so that its retries after a broker failure add no duplicates. `leader` (Filebeat's
/// default) and `none` are honoured, with idempotence off and a warning saying so at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Acks {
    None,
    Leader,
    #[default]
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    #[default]
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Partitioning {
    #[serde(default)]
    pub strategy: PartitionStrategy,
    /// For `hash`: the fields whose values key the record (empty: Filebeat's default, the event's key
    /// or random).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hash_fields: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PartitionStrategy {
    #[default]
    Hash,
    RoundRobin,
    Random,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn default_input_type() -> InputType {
    InputType::Filestream
}

fn default_close_inactive() -> Duration {
    Duration::from_secs(300)
}

fn default_scan_frequency() -> Duration {
    Duration::from_secs(10)
}

fn default_max_lines() -> usize {
    500
}

fn default_multiline_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_max_message_bytes() -> usize {
    1_000_000
}
