//! A Kafka record → an event, as Logstash's kafka input does (pure).
//!
//! Codec `json`: the value decoded as a JSON object; anything else (invalid JSON, an array, a
//! number) keeps the text in `message` and is tagged `_jsonparsefailure`. Codec `plain`: the text
//! in `message`. `@timestamp` is kept when it is a valid time; when missing it is now; when
//! present but unreadable it moves to `_@timestamp`, becomes now, and the event is tagged
//! `_timestampparsefailure` (Logstash's event rules). Then the input's `type` (when the event
//! has none) and `tags`, and with `decorate_events` `[@metadata][kafka]`.

use jiff::Timestamp;
use serde_json::{json, Map, Value};

use crate::config::{Codec, KafkaInputConfig};
use crate::event::Event;

/// The record, as the consumer hands it over.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// Milliseconds since the epoch, when the record carries a time.
    pub timestamp_ms: Option<i64>,
}

pub fn decode(r: &Record<'_>, input: &KafkaInputConfig, now: Timestamp) -> Event {
    let text = String::from_utf8_lossy(r.value.unwrap_or_default()).into_owned();
    let mut event = match input.codec {
        Codec::Json => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => Event::from_map(map),
            _ => {
                let mut e = message(text);
                e.add_tag("_jsonparsefailure");
                e
            }
        },
        Codec::Plain => message(text),
    };
    match event.as_map().get("@timestamp").cloned() {
        None => event.set_timestamp(now),
        Some(_) if event.timestamp().is_some() => {}
        Some(bad) => {
            let _ = event.set_ref("[_@timestamp]", bad);
            event.set_timestamp(now);
            event.add_tag("_timestampparsefailure");
        }
    }
    if let Some(t) = &input.event_type {
        if event.get_ref("[type]").is_none() {
            let _ = event.set_ref("[type]", Value::String(t.clone()));
        }
    }
    for t in &input.tags {
        event.add_tag(t);
    }
    if input.decorate_events {
        let kafka = json!({
            "topic": r.topic,
            "partition": r.partition,
            "offset": r.offset,
            "key": r.key.map(|k| String::from_utf8_lossy(k).into_owned()),
            "timestamp": r.timestamp_ms,
            "consumer_group": input.group_id,
        });
        let _ = event.set_ref("[@metadata][kafka]", kafka);
    }
    event
}

fn message(text: String) -> Event {
    let mut m = Map::new();
    m.insert("message".into(), Value::String(text));
    Event::from_map(m)
}

/// The document an output writes: the event without `@metadata` (Logstash never sends it).
pub fn document(event: &Event) -> Map<String, Value> {
    let mut m = event.as_map().clone();
    m.remove("@metadata");
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(codec: &str, extra: Value) -> KafkaInputConfig {
        let mut v = json!({"brokers": ["b:9092"], "topics": ["nginx"], "codec": codec});
        if let (Value::Object(a), Value::Object(b)) = (&mut v, extra) {
            a.extend(b);
        }
        serde_json::from_value(v).unwrap()
    }

    fn record(value: &[u8]) -> Record<'_> {
        Record { topic: "nginx", partition: 2, offset: 41, key: Some(b"k"), value: Some(value), timestamp_ms: Some(1_700_000_000_000) }
    }

    fn now() -> Timestamp {
        "2026-11-27T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn json_records_become_events_and_bad_ones_are_tagged() {
        let e = decode(&record(br#"{"message":"GET /","tags":["access"],"@timestamp":"2026-01-02T03:04:05.678Z"}"#), &input("json", json!({})), now());
        assert_eq!(e.get_ref("[message]"), Some(&json!("GET /")));
        assert_eq!(e.as_map()["@timestamp"], "2026-01-02T03:04:05.678Z");
        assert!(e.has_tag("access"));
        for bad in [&b"not json"[..], b"[1,2]", b"42", b"\xff\xfe"] {
            let e = decode(&record(bad), &input("json", json!({})), now());
            assert!(e.has_tag("_jsonparsefailure"), "{e:?}");
            assert_eq!(e.get_ref("[message]").unwrap(), &json!(String::from_utf8_lossy(bad)));
            assert_eq!(e.as_map()["@timestamp"], "2026-11-27T12:00:00.000Z");
        }
    }

    #[test]
    fn an_unreadable_timestamp_is_kept_aside_and_tagged() {
        let e = decode(&record(br#"{"@timestamp":"yesterday"}"#), &input("json", json!({})), now());
        assert!(e.has_tag("_timestampparsefailure"));
        assert_eq!(e.get_ref("[_@timestamp]"), Some(&json!("yesterday")));
        assert_eq!(e.as_map()["@timestamp"], "2026-11-27T12:00:00.000Z");
    }

    #[test]
    fn plain_codec_type_tags_and_metadata() {
        let e = decode(&record(b"{\"a\":1}"), &input("plain", json!({"type": "nginx", "tags": ["kafka"], "decorate_events": true, "group_id": "g"})), now());
        assert_eq!(e.get_ref("[message]"), Some(&json!("{\"a\":1}")));
        assert_eq!(e.get_ref("[type]"), Some(&json!("nginx")));
        assert!(e.has_tag("kafka"));
        assert_eq!(e.get_ref("[@metadata][kafka][offset]"), Some(&json!(41)));
        assert_eq!(e.get_ref("[@metadata][kafka][consumer_group]"), Some(&json!("g")));
        assert!(!document(&e).contains_key("@metadata"), "never sent to outputs");
    }
}
