//! The `process` section: read Kafka, transform, write Elasticsearch and friends (Logstash's job).
//!
//! Filters run in order; a step with `when` runs only when its condition holds, and a `branches` step
//! evaluates its arms' conditions once, in order, and runs the first arm that matches (Logstash's
//! `if / else if / else`). Outputs are a flat list: every output whose `when` holds gets the event.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::filter_step::RawFilterStep;
use super::output_step::RawOutputStep;
use crate::condition::Condition;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessConfig {
    pub input: ProcessInput,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<FilterStep>,
    pub outputs: Vec<OutputStep>,
    /// Events no output can take (ES 400/404) go here, with the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<DeadLetter>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessInput {
    pub kafka: KafkaInputConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaInputConfig {
    pub brokers: Vec<String>,
    pub topics: Vec<String>,
    /// Logstash's default group is `logstash`.
    #[serde(default = "default_group_id")]
    pub group_id: String,
    #[serde(default)]
    pub auto_offset_reset: OffsetReset,
    #[serde(default)]
    pub codec: Codec,
    #[serde(default = "default_consumer_threads")]
    pub consumer_threads: usize,
    /// Adds `[@metadata][kafka]` {topic, partition, offset, key, timestamp, consumer_group}.
    #[serde(default)]
    pub decorate_events: bool,
    /// Sets the `type` field on events that have none (Logstash's input option `type`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OffsetReset {
    Earliest,
    #[default]
    Latest,
}

/// How a Kafka record's value becomes an event. `json`: decode, and on failure keep the text in
/// `message` with tag `_jsonparsefailure`, as Logstash's json codec does; `plain`: the text in `message`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    #[default]
    Json,
    Plain,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawFilterStep", into = "RawFilterStep")]
pub struct FilterStep {
    pub when: Option<Condition>,
    pub filter: Filter,
    /// Applied when the filter succeeds (Logstash's common filter options).
    pub on_success: Decorations,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decorations {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_tag: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_tag: Vec<String>,
    /// Field reference → format string (`%{...}` interpolated).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub add_field: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_field: Vec<String>,
}

impl Decorations {
    pub fn is_empty(&self) -> bool {
        self.add_tag.is_empty() && self.remove_tag.is_empty() && self.add_field.is_empty() && self.remove_field.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Json(JsonFilter),
    NginxCombined(ParseFilter),
    NginxError(ParseFilter),
    Date(DateFilter),
    /// Only the decorations (Logstash `mutate` with add_tag/remove_field/...), plus renames.
    Mutate(MutateFilter),
    Branches(Vec<FilterArm>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterArm {
    /// Absent only on the last arm (the `else`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    pub filters: Vec<FilterStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonFilter {
    #[serde(default = "default_message")]
    pub source: String,
    /// Where the decoded object goes; absent: merged into the event's root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default = "default_json_failure")]
    pub tag_on_failure: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParseFilter {
    #[serde(default = "default_message")]
    pub source: String,
    #[serde(default = "default_grok_failure")]
    pub tag_on_failure: Vec<String>,
}

impl Default for ParseFilter {
    fn default() -> Self {
        ParseFilter { source: default_message(), tag_on_failure: default_grok_failure() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateFilter {
    pub field: String,
    /// Joda-style patterns, or ISO8601, UNIX, UNIX_MS; the first that parses wins.
    pub formats: Vec<String>,
    /// For times without an offset: an IANA name (`Asia/Shanghai`) or `+08:00`; default UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default = "default_timestamp")]
    pub target: String,
    #[serde(default = "default_date_failure")]
    pub tag_on_failure: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MutateFilter {
    /// Old field reference → new field reference.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rename: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawOutputStep", into = "RawOutputStep")]
pub struct OutputStep {
    pub when: Option<Condition>,
    pub output: Output,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Elasticsearch(EsOutput),
    Kafka(KafkaSinkOutput),
    Stdout(StdoutOutput),
    File(FileOutput),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EsOutput {
    /// `http(s)://host:port` or `host:port`.
    pub hosts: Vec<String>,
    /// Logstash's default (without ILM) is `logstash-%{+yyyy.MM.dd}`.
    #[serde(default = "default_index")]
    pub index: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A file holding the password (a mounted Secret), instead of `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// A file holding the user name (a mounted Secret's `username`), instead of `user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub action: BulkAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    /// Retries of 429/5xx answers wait this long at first, doubling up to `retry_max_interval`
    /// (Logstash's options of the same names; 2s and 64s by default).
    #[serde(default = "default_retry_initial")]
    pub retry_initial_interval: super::Duration,
    #[serde(default = "default_retry_max")]
    pub retry_max_interval: super::Duration,
}

fn default_retry_initial() -> super::Duration {
    super::Duration::from_secs(2)
}

fn default_retry_max() -> super::Duration {
    super::Duration::from_secs(64)
}

/// HTTPS to Elasticsearch (`https://` hosts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// A PEM file with the CA certificate that signed the servers' certificates, trusted besides
    /// the built-in public roots. A server whose certificate it did not sign is refused: the
    /// processor logs why (e.g. `invalid peer certificate: UnknownIssuer`) and retries, committing
    /// nothing, until the certificate or this file is fixed.
    pub ca: PathBuf,
}

/// `index` for daily indices, `create` for data streams (which accept only create).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BulkAction {
    #[default]
    Index,
    Create,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkOutput {
    pub brokers: Vec<String>,
    /// A topic or a format string.
    pub topic: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StdoutOutput {
    #[serde(default)]
    pub codec: LineCodec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOutput {
    /// A path or a format string.
    pub path: String,
    #[serde(default)]
    pub codec: LineCodec,
}

/// `json_lines`: one JSON object per line; `rubydebug`: Logstash's pretty form (we print pretty JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LineCodec {
    #[default]
    JsonLines,
    Rubydebug,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetter {
    pub topic: String,
    /// Default: the input's brokers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brokers: Option<Vec<String>>,
}

fn default_group_id() -> String {
    "logstash".into()
}

fn default_consumer_threads() -> usize {
    1
}

pub(crate) fn default_message() -> String {
    "message".into()
}

fn default_timestamp() -> String {
    "@timestamp".into()
}

pub(crate) fn default_json_failure() -> Vec<String> {
    vec!["_jsonparsefailure".into()]
}

pub(crate) fn default_grok_failure() -> Vec<String> {
    vec!["_grokparsefailure".into()]
}

pub(crate) fn default_date_failure() -> Vec<String> {
    vec!["_dateparsefailure".into()]
}

pub(crate) fn default_index() -> String {
    "logstash-%{+yyyy.MM.dd}".into()
}
