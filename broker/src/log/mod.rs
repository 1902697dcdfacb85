//! Partition logs on disk: a directory per partition under `log.dirs`, named `<topic>-<partition>`,
//! holding segments in Kafka's on-disk format.

pub mod batch;
pub mod manager;
pub mod partition;
pub mod producers;
pub mod segment;

use std::collections::BTreeMap;

use crate::config::{check_cleanup_policy, LogDefaults};

/// Effective log settings of one topic: broker defaults overridden by `/config/topics/<t>`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    pub segment_bytes: u64,
    pub segment_ms: i64,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub cleanup_policy: String,
    pub flush_messages: i64,
    pub flush_ms: i64,
    pub index_interval_bytes: u64,
    pub max_message_bytes: i32,
    pub min_insync_replicas: i32,
    pub log_append_time: bool,
    pub compression_type: String,
}

/// Topic-level keys and the broker key that supplies their default (for DescribeConfigs).
pub const TOPIC_KEYS: &[(&str, &str)] = &[
    ("cleanup.policy", "log.cleanup.policy"),
    ("compression.type", "compression.type"),
    ("flush.messages", "log.flush.interval.messages"),
    ("flush.ms", "log.flush.interval.ms"),
    ("index.interval.bytes", "log.index.interval.bytes"),
    ("max.message.bytes", "message.max.bytes"),
    ("message.timestamp.type", "log.message.timestamp.type"),
    ("min.insync.replicas", "min.insync.replicas"),
    ("retention.bytes", "log.retention.bytes"),
    ("retention.ms", "log.retention.ms"),
    ("segment.bytes", "log.segment.bytes"),
    ("segment.ms", "log.roll.ms"),
];

impl LogConfig {
    pub fn resolve(d: &LogDefaults, overrides: &BTreeMap<String, String>) -> Result<LogConfig, String> {
        let num = |k: &str, default: i64| -> Result<i64, String> {
            match overrides.get(k) {
                None => Ok(default),
                Some(v) => v.trim().parse::<i64>().map_err(|_| format!("invalid value {v:?} for {k}: not a number")),
            }
        };
        for k in overrides.keys() {
            if !TOPIC_KEYS.iter().any(|(t, _)| t == k) {
                return Err(format!("unknown topic config {k}"));
            }
        }
        let cleanup_policy = overrides.get("cleanup.policy").cloned().unwrap_or_else(|| d.cleanup_policy.clone());
        check_cleanup_policy(&cleanup_policy)?;
        let ts_type = overrides.get("message.timestamp.type").cloned().unwrap_or_else(|| d.message_timestamp_type.clone());
        if ts_type != "CreateTime" && ts_type != "LogAppendTime" {
            return Err(format!("invalid value {ts_type:?} for message.timestamp.type: CreateTime or LogAppendTime"));
        }
        let compression_type = overrides.get("compression.type").cloned().unwrap_or_else(|| d.compression_type.clone());
        if compression_type != "producer" {
            return Err(format!("compression.type {compression_type:?} is not supported: batches are stored as produced (producer)"));
        }
        let c = LogConfig {
            segment_bytes: num("segment.bytes", d.segment_bytes as i64)? as u64,
            segment_ms: num("segment.ms", d.segment_ms)?,
            retention_ms: num("retention.ms", d.retention_ms)?,
            retention_bytes: num("retention.bytes", d.retention_bytes)?,
            cleanup_policy,
            flush_messages: num("flush.messages", d.flush_messages)?,
            flush_ms: num("flush.ms", d.flush_ms)?,
            index_interval_bytes: num("index.interval.bytes", d.index_interval_bytes as i64)?.max(1) as u64,
            max_message_bytes: num("max.message.bytes", d.max_message_bytes as i64)? as i32,
            min_insync_replicas: num("min.insync.replicas", d.min_insync_replicas as i64)? as i32,
            log_append_time: ts_type == "LogAppendTime",
            compression_type,
        };
        if c.segment_bytes < 14 || c.segment_bytes > i32::MAX as u64 {
            return Err("invalid value for segment.bytes: between 14 and 2147483647".into());
        }
        if c.segment_ms <= 0 {
            return Err("invalid value for segment.ms: must be positive".into());
        }
        if c.max_message_bytes < 0 {
            return Err("invalid value for max.message.bytes: must not be negative".into());
        }
        if c.min_insync_replicas < 1 {
            return Err("invalid value for min.insync.replicas: at least 1".into());
        }
        Ok(c)
    }

    pub fn compact(&self) -> bool {
        self.cleanup_policy.split(',').any(|p| p.trim() == "compact")
    }
    pub fn delete(&self) -> bool {
        self.cleanup_policy.split(',').any(|p| p.trim() == "delete")
    }

    /// The value of a topic-level key as DescribeConfigs shows it.
    pub fn value_of(&self, key: &str) -> String {
        match key {
            "cleanup.policy" => self.cleanup_policy.clone(),
            "compression.type" => self.compression_type.clone(),
            "flush.messages" => self.flush_messages.to_string(),
            "flush.ms" => self.flush_ms.to_string(),
            "index.interval.bytes" => self.index_interval_bytes.to_string(),
            "max.message.bytes" => self.max_message_bytes.to_string(),
            "message.timestamp.type" => if self.log_append_time { "LogAppendTime" } else { "CreateTime" }.into(),
            "min.insync.replicas" => self.min_insync_replicas.to_string(),
            "retention.bytes" => self.retention_bytes.to_string(),
            "retention.ms" => self.retention_ms.to_string(),
            "segment.bytes" => self.segment_bytes.to_string(),
            "segment.ms" => self.segment_ms.to_string(),
            _ => String::new(),
        }
    }
}

/// A topic and partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition { topic: topic.into(), partition }
    }
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.topic, self.partition)
    }
    /// Parses `<topic>-<partition>` (topic names may contain '-').
    pub fn from_dir_name(name: &str) -> Option<TopicPartition> {
        let (t, p) = name.rsplit_once('-')?;
        let p = p.parse::<i32>().ok()?;
        (!t.is_empty() && p >= 0).then(|| TopicPartition::new(t, p))
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}
