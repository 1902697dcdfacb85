//! From an event to a Kafka record, pure: topic (routes and format strings), key (partitioning) and the
//! `max_message_bytes` check.

use crate::config::{KafkaOutputConfig, PartitionStrategy};
use crate::event::{Event, FieldPath};
use crate::route;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    /// `None`: the producer's partitioner picks (spread over partitions).
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Send(Record),
    /// The JSON is larger than `max_message_bytes`: counted and logged, not sent.
    TooLarge { bytes: usize },
    /// The topic format rendered empty (e.g. a missing field with no literal part): not sendable.
    NoTopic,
}

/// The output with its hash fields parsed once.
#[derive(Debug, Clone)]
pub struct Output {
    pub config: KafkaOutputConfig,
    hash_fields: Vec<FieldPath>,
}

impl Output {
    pub fn new(config: KafkaOutputConfig) -> Self {
        // Validation has checked the references; an unparsable one is skipped rather than fatal.
        let hash_fields = config.partitioning.hash_fields.iter().filter_map(|r| FieldPath::parse_reference(r).ok()).collect();
        Output { config, hash_fields }
    }

    pub fn record(&self, event: &Event) -> Outcome {
        let payload = event.to_json().into_bytes();
        if payload.len() > self.config.max_message_bytes {
            return Outcome::TooLarge { bytes: payload.len() };
        }
        let Some(topic) = route::topic(&self.config, event) else {
            return Outcome::NoTopic;
        };
        Outcome::Send(Record { topic, key: self.key(event), payload })
    }

    /// `hash`: the hash fields' values (strings as they are, others as JSON) joined, when any is set;
    /// `round_robin` and `random`: no key.
    fn key(&self, event: &Event) -> Option<Vec<u8>> {
        if self.config.partitioning.strategy != PartitionStrategy::Hash || self.hash_fields.is_empty() {
            return None;
        }
        let parts: Vec<String> = self
            .hash_fields
            .iter()
            .filter_map(|f| event.get(f))
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect();
        (!parts.is_empty()).then(|| parts.join("\u{0}").into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn output(yaml: &str) -> Output {
        Output::new(serde_yaml::from_str(yaml).unwrap())
    }

    fn event() -> Event {
        Event::from_map(json!({"message": "hi", "host": {"name": "web-1"}, "fields": {"t": "nginx"}}).as_object().unwrap().clone())
    }

    #[test]
    fn hash_fields_key_the_record_and_round_robin_does_not() {
        let o = output("{brokers: ['a:9092'], topic: 'logs-%{[fields][t]}', partitioning: {strategy: hash, hash_fields: ['[host][name]']}}");
        let Outcome::Send(r) = o.record(&event()) else { panic!() };
        assert_eq!(r.topic, "logs-nginx");
        assert_eq!(r.key.as_deref(), Some(&b"web-1"[..]));
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&r.payload).unwrap()["message"], "hi");
        let rr = output("{brokers: ['a:9092'], topic: logs, partitioning: {strategy: round_robin, hash_fields: ['[host][name]']}}");
        let Outcome::Send(r) = rr.record(&event()) else { panic!() };
        assert_eq!(r.key, None);
        let missing = output("{brokers: ['a:9092'], topic: logs, partitioning: {hash_fields: ['[nope]']}}");
        let Outcome::Send(r) = missing.record(&event()) else { panic!() };
        assert_eq!(r.key, None);
    }

    #[test]
    fn oversized_events_are_refused_with_their_size() {
        let o = output("{brokers: ['a:9092'], topic: logs, max_message_bytes: 20}");
        let size = event().to_json().len();
        assert_eq!(o.record(&event()), Outcome::TooLarge { bytes: size });
    }
}
