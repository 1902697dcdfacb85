//! The part of filebeat.yml we understand, after dotted keys are expanded (`output.kafka.hosts` and
//! `output: {kafka: {hosts}}` are the same to libbeat). `deny_unknown_fields` everywhere: a key we do
//! not know is reported, never dropped.

use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilebeatYml {
    pub filebeat: FilebeatSection,
    pub output: OutputSection,
    /// Added to every event's tags (libbeat's global `tags`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// `path.data`: where Filebeat keeps its registry.
    #[serde(default)]
    pub path: Option<PathSection>,
    /// Logging and Kibana/template setup do not change events; read and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    pub logging: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    #[allow(dead_code)]
    pub setup: Option<serde::de::IgnoredAny>,
}

/// Only `data` matters to us; the other paths are accepted and ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct PathSection {
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub home: Option<String>,
    #[serde(default)]
    pub logs: Option<String>,
    #[serde(default)]
    pub config: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilebeatSection {
    pub inputs: Vec<FbInput>,
    #[serde(default)]
    pub registry: Option<RegistrySection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySection {
    pub path: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FbInput {
    #[serde(rename = "type")]
    pub input_type: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    pub paths: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub fields: Map<String, Value>,
    #[serde(default)]
    pub fields_under_root: bool,
    #[serde(default)]
    pub exclude_lines: Vec<String>,
    #[serde(default)]
    pub include_lines: Vec<String>,
    /// `log` input style.
    #[serde(default)]
    pub multiline: Option<FbMultiline>,
    /// `filestream` style: `parsers: [{multiline: {...}}]`.
    #[serde(default)]
    pub parsers: Vec<FbParser>,
    /// `log`: `close_inactive: 5m`.
    #[serde(default)]
    pub close_inactive: Option<String>,
    /// `filestream`: `close.on_state_change.inactive: 5m`.
    #[serde(default)]
    pub close: Option<FbClose>,
    /// `log`: `scan_frequency: 10s`.
    #[serde(default)]
    pub scan_frequency: Option<String>,
    /// `filestream`: `prospector.scanner.check_interval`, `prospector.scanner.fingerprint.enabled`.
    #[serde(default)]
    pub prospector: Option<FbProspector>,
    /// `filestream`: `file_identity.fingerprint: ~` or `file_identity.native: ~`.
    #[serde(default)]
    pub file_identity: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FbMultiline {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    pub pattern: String,
    #[serde(default)]
    pub negate: bool,
    #[serde(rename = "match")]
    pub match_: String,
    #[serde(default)]
    pub max_lines: Option<usize>,
    #[serde(default)]
    pub timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FbParser {
    pub multiline: FbMultiline,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FbClose {
    pub on_state_change: FbOnStateChange,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FbOnStateChange {
    pub inactive: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FbProspector {
    pub scanner: FbScanner,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FbScanner {
    #[serde(default)]
    pub check_interval: Option<String>,
    #[serde(default)]
    pub fingerprint: Option<FbEnabled>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FbEnabled {
    pub enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    pub kafka: FbKafka,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FbKafka {
    #[serde(default)]
    pub enabled: Option<bool>,
    pub hosts: Vec<String>,
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub topics: Vec<FbTopic>,
    #[serde(default)]
    pub required_acks: Option<i64>,
    #[serde(default)]
    pub compression: Option<String>,
    #[serde(default)]
    pub partition: Option<FbPartition>,
    #[serde(default)]
    pub max_message_bytes: Option<usize>,
    /// The Kafka protocol version to speak; our client negotiates, so it is read and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    pub version: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FbTopic {
    pub topic: String,
    pub when: FbWhen,
}

/// One condition of one field; `and`/`or`/`not`/`range`/`network` are not supported.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FbWhen {
    #[serde(default)]
    pub contains: Option<Map<String, Value>>,
    #[serde(default)]
    pub equals: Option<Map<String, Value>>,
    #[serde(default)]
    pub regexp: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FbPartition {
    #[serde(default)]
    pub round_robin: Option<Map<String, Value>>,
    #[serde(default)]
    pub random: Option<Map<String, Value>>,
    #[serde(default)]
    pub hash: Option<FbHash>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FbHash {
    #[serde(default)]
    pub hash: Vec<String>,
    #[serde(default)]
    pub random: Option<bool>,
}
