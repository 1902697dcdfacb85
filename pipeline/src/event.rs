//! The event: one JSON object, shaped as Filebeat writes it to Kafka and as Logstash sees it.
//!
//! Pure: no I/O. Fields are nested objects (`{"log": {"file": {"path": ..}, "offset": ..}}`), never
//! dotted keys, because that is what Filebeat's JSON codec emits and what Logstash conditions such as
//! `[log][file][path]` read. Two ways to name a field:
//! - a Logstash field reference, `[log][file][path]`, or a bare top-level name, `message`
//!   (a bare name is one key: `a.b` is the key "a.b", as in Logstash);
//! - a dotted path, `log.file.path`, as Filebeat and ECS documents write them.

use std::fmt;

use jiff::Timestamp;
use serde_json::{Map, Value};

/// The `ecs.version` Filebeat 8.x writes.
pub const ECS_VERSION: &str = "8.0.0";

/// The Filebeat release whose event shape we reproduce (`agent.version`).
pub const FILEBEAT_COMPAT_VERSION: &str = "8.15.0";

/// A path to a field: the keys from the root.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath(Vec<String>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("failed to parse field reference `{reference}`: {reason}")]
    BadReference { reference: String, reason: &'static str },
    #[error("failed to set field {path}: `{at}` holds a {kind}, not an object")]
    NotAnObject { path: String, at: String, kind: &'static str },
}

impl FieldPath {
    /// Builds a path from its keys; at least one key, none empty.
    pub fn new<I, S>(keys: I) -> Option<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let keys: Vec<String> = keys.into_iter().map(Into::into).collect();
        if keys.is_empty() || keys.iter().any(String::is_empty) {
            return None;
        }
        Some(FieldPath(keys))
    }

    /// Parses a Logstash field reference: `[a][b]` or a bare top-level name `a`.
    pub fn parse_reference(reference: &str) -> Result<Self, FieldError> {
        let bad = |reason| FieldError::BadReference { reference: reference.to_string(), reason };
        if reference.is_empty() {
            return Err(bad("empty reference"));
        }
        if !reference.starts_with('[') {
            if reference.contains(['[', ']']) {
                return Err(bad("mixes a bare name with [brackets]"));
            }
            return Ok(FieldPath(vec![reference.to_string()]));
        }
        let mut keys = Vec::new();
        let mut rest = reference;
        while !rest.is_empty() {
            let Some(inner) = rest.strip_prefix('[') else {
                return Err(bad("text outside [brackets]"));
            };
            let Some(end) = inner.find(']') else {
                return Err(bad("unclosed ["));
            };
            let key = &inner[..end];
            if key.is_empty() {
                return Err(bad("empty [] segment"));
            }
            if key.contains('[') {
                return Err(bad("nested ["));
            }
            keys.push(key.to_string());
            rest = &inner[end + 1..];
        }
        Ok(FieldPath(keys))
    }

    /// Parses a dotted path: `log.file.path`.
    pub fn parse_dotted(path: &str) -> Result<Self, FieldError> {
        FieldPath::new(path.split('.')).ok_or_else(|| FieldError::BadReference {
            reference: path.to_string(),
            reason: "empty segment in dotted path",
        })
    }

    pub fn keys(&self) -> &[String] {
        &self.0
    }

    /// True when `self` is `other` or inside it (`[a][b]` starts with `[a]`).
    pub fn starts_with(&self, other: &FieldPath) -> bool {
        self.0.starts_with(&other.0)
    }

    /// The dotted form, `log.file.path`.
    pub fn dotted(&self) -> String {
        self.0.join(".")
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for key in &self.0 {
            write!(f, "[{key}]")?;
        }
        Ok(())
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// One event: a JSON object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    fields: Map<String, Value>,
}

impl Event {
    pub fn new() -> Self {
        Event::default()
    }

    pub fn from_map(fields: Map<String, Value>) -> Self {
        Event { fields }
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.fields
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.fields
    }

    pub fn get(&self, path: &FieldPath) -> Option<&Value> {
        let (first, rest) = path.0.split_first()?;
        let mut value = self.fields.get(first)?;
        for key in rest {
            value = value.as_object()?.get(key)?;
        }
        Some(value)
    }

    /// Sets a field, creating the objects on the way; fails (changing nothing) when a key on the way
    /// holds something other than an object.
    pub fn set(&mut self, path: &FieldPath, value: Value) -> Result<(), FieldError> {
        let Some((last, parents)) = path.0.split_last() else {
            return Ok(());
        };
        let mut map = &mut self.fields;
        for (depth, key) in parents.iter().enumerate() {
            let slot = map.entry(key.clone()).or_insert_with(|| Value::Object(Map::new()));
            let kind = kind_of(slot);
            map = match slot {
                Value::Object(inner) => inner,
                _ => {
                    return Err(FieldError::NotAnObject {
                        path: path.to_string(),
                        at: FieldPath(path.0[..=depth].to_vec()).to_string(),
                        kind,
                    })
                }
            };
        }
        map.insert(last.clone(), value);
        Ok(())
    }

    pub fn remove(&mut self, path: &FieldPath) -> Option<Value> {
        let (last, parents) = path.0.split_last()?;
        let mut map = &mut self.fields;
        for key in parents {
            map = map.get_mut(key)?.as_object_mut()?;
        }
        map.remove(last)
    }

    /// Reads a field by Logstash reference; `None` for a bad reference or a missing field.
    pub fn get_ref(&self, reference: &str) -> Option<&Value> {
        self.get(&FieldPath::parse_reference(reference).ok()?)
    }

    pub fn set_ref(&mut self, reference: &str, value: Value) -> Result<(), FieldError> {
        self.set(&FieldPath::parse_reference(reference)?, value)
    }

    /// Reads a field by dotted path (`log.file.path`).
    pub fn get_dotted(&self, path: &str) -> Option<&Value> {
        self.get(&FieldPath::parse_dotted(path).ok()?)
    }

    pub fn set_dotted(&mut self, path: &str, value: Value) -> Result<(), FieldError> {
        self.set(&FieldPath::parse_dotted(path)?, value)
    }

    /// The event's tags: the `tags` array's strings, or a lone string.
    pub fn tags(&self) -> Vec<&str> {
        match self.fields.get("tags") {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(tag)) => vec![tag.as_str()],
            _ => Vec::new(),
        }
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags().contains(&tag)
    }

    /// Adds a tag once, as Logstash's `add_tag` and failure tags do; a lone string becomes an array.
    pub fn add_tag(&mut self, tag: &str) {
        let slot = self.fields.entry("tags").or_insert_with(|| Value::Array(Vec::new()));
        if !slot.is_array() {
            let old = std::mem::take(slot);
            *slot = match old {
                Value::Null => Value::Array(Vec::new()),
                other => Value::Array(vec![other]),
            };
        }
        if let Value::Array(items) = slot {
            if !items.iter().any(|t| t.as_str() == Some(tag)) {
                items.push(Value::String(tag.to_string()));
            }
        }
    }

    /// Removes `tag` from `tags` (if there).
    pub fn remove_tag(&mut self, tag: &str) {
        if let Some(Value::Array(items)) = self.fields.get_mut("tags") {
            items.retain(|t| t.as_str() != Some(tag));
        }
    }

    /// `@timestamp` parsed, when it is an RFC 3339 string.
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.fields.get("@timestamp")?.as_str()?.parse().ok()
    }

    pub fn set_timestamp(&mut self, at: Timestamp) {
        self.fields.insert("@timestamp".into(), Value::String(format_timestamp(at)));
    }

    /// One line of JSON, no trailing newline.
    pub fn to_json(&self) -> String {
        Value::Object(self.fields.clone()).to_string()
    }
}

/// Formats a time as Filebeat writes `@timestamp`: UTC, milliseconds, `Z` (`2024-01-02T03:04:05.678Z`).
pub fn format_timestamp(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Which Filebeat input type an event claims (`input.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    Filestream,
    Log,
}

impl InputType {
    pub fn as_str(self) -> &'static str {
        match self {
            InputType::Filestream => "filestream",
            InputType::Log => "log",
        }
    }
}

/// Everything the shipper knows about one read line (or joined multiline group).
#[derive(Debug, Clone)]
pub struct ShippedLine<'a> {
    pub message: &'a str,
    pub path: &'a str,
    /// Byte offset of the line's start in the file.
    pub offset: u64,
    pub input_type: InputType,
    pub host_name: &'a str,
    pub tags: &'a [String],
    /// The input's `fields`, already JSON.
    pub fields: &'a Map<String, Value>,
    pub fields_under_root: bool,
    /// Several lines joined by multiline (`log.flags: ["multiline"]`).
    pub multiline: bool,
    pub read_at: Timestamp,
}

/// Builds the event Filebeat would send for a line.
///
/// `agent.type` is "filebeat" and `agent.version` a Filebeat release on purpose: Logstash pipelines and
/// Kibana searches written for the seed setup test `[agent][type] == "filebeat"`, and the field values
/// keep the ES mappings the user already has. Our own identity goes in `agent.build.original`, an ECS
/// field meant for build details, so nothing that reads the standard fields changes.
pub fn filebeat_event(line: &ShippedLine<'_>) -> Event {
    let mut log = Map::new();
    log.insert("file".into(), serde_json::json!({ "path": line.path }));
    log.insert("offset".into(), Value::from(line.offset));
    if line.multiline {
        log.insert("flags".into(), serde_json::json!(["multiline"]));
    }
    let mut fields = Map::new();
    fields.insert("@timestamp".into(), Value::String(format_timestamp(line.read_at)));
    fields.insert("message".into(), Value::String(line.message.to_string()));
    fields.insert("log".into(), Value::Object(log));
    fields.insert("input".into(), serde_json::json!({ "type": line.input_type.as_str() }));
    fields.insert("host".into(), serde_json::json!({ "name": line.host_name }));
    fields.insert(
        "agent".into(),
        serde_json::json!({
            "type": "filebeat",
            "name": line.host_name,
            "version": FILEBEAT_COMPAT_VERSION,
            "build": { "original": concat!("strom-pipeline ", env!("CARGO_PKG_VERSION")) },
        }),
    );
    fields.insert("ecs".into(), serde_json::json!({ "version": ECS_VERSION }));
    if !line.tags.is_empty() {
        fields.insert("tags".into(), serde_json::json!(line.tags));
    }
    if !line.fields.is_empty() {
        if line.fields_under_root {
            for (key, value) in line.fields {
                fields.insert(key.clone(), value.clone());
            }
        } else {
            fields.insert("fields".into(), Value::Object(line.fields.clone()));
        }
    }
    Event { fields }
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
