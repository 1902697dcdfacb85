//! nginx (and Apache) log lines → ECS fields.
//!
//! Access log, the `combined` format (`%{COMBINEDAPACHELOG}` / `%{HTTPD_COMBINEDLOG}` in grok):
//! `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer"
//! "$http_user_agent"`. Fields as grok's ECS-mode pattern names them: `source.address`,
//! `apache.access.user.identity`, `user.name`, `timestamp` (the bracketed time, for a `date` filter),
//! `http.request.method`, `url.original`, `http.version`, `http.response.status_code` (number),
//! `http.response.body.bytes` (number), `http.request.referrer`, `user_agent.original`. A `-` leaves
//! the field out, as the ECS pattern's `(?:-|...)` does. Like grok, the match is anchored at the start
//! only: extra trailing fields (`"$http_x_forwarded_for"`) are allowed.
//!
//! Error log: `2024/01/02 03:04:05 [error] 123#0: *5 open() failed, client: ...` → `timestamp`,
//! `log.level`, `process.pid`, `process.thread.id`, `nginx.error.connection_id`, and `message` (the
//! text after the prefix) with the whole line kept in `event.original`, as Filebeat's nginx module does.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use crate::event::{Event, FieldError, FieldPath};

static COMBINED: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        r#"^(\S+) (\S+) (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (-|\d+) (-|\d+) "#,
        r#""((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)""#
    ))
    .ok()
});

static REQUEST: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^([A-Za-z0-9_]+) (\S+)(?: HTTP/([0-9]+(?:\.[0-9]+)?))?$").ok());

static ERROR: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?s)^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) \[(\w+)\] (\d+)#(\d+): (?:\*(\d+) )?(.*)$").ok()
});

/// Parsed fields: dotted ECS path → value.
pub type Fields = Vec<(&'static str, Value)>;

fn text(value: &str) -> Option<Value> {
    (value != "-").then(|| Value::String(value.to_string()))
}

fn number(value: &str) -> Option<Value> {
    value.parse::<u64>().ok().map(Value::from)
}

/// Parses a combined-format access line; `None` when it does not match (`_grokparsefailure`).
pub fn parse_combined(line: &str) -> Option<Fields> {
    let caps = COMBINED.as_ref()?.captures(line)?;
    let get = |i: usize| caps.get(i).map_or("", |m| m.as_str());
    let mut fields: Fields = Vec::new();
    let mut push = |key: &'static str, value: Option<Value>| {
        if let Some(value) = value {
            fields.push((key, value));
        }
    };
    push("source.address", text(get(1)));
    push("apache.access.user.identity", text(get(2)));
    push("user.name", text(get(3)));
    push("timestamp", text(get(4)));
    if let Some(request) = REQUEST.as_ref().and_then(|re| re.captures(get(5))) {
        push("http.request.method", request.get(1).and_then(|m| text(m.as_str())));
        push("url.original", request.get(2).and_then(|m| text(m.as_str())));
        push("http.version", request.get(3).and_then(|m| text(m.as_str())));
    }
    if get(6) != "-" {
        push("http.response.status_code", Some(number(get(6))?));
    }
    if get(7) != "-" {
        push("http.response.body.bytes", Some(number(get(7))?));
    }
    push("http.request.referrer", text(get(8)));
    push("user_agent.original", text(get(9)));
    Some(fields)
}

/// Parses an nginx error-log line; `None` when it does not match.
pub fn parse_error(line: &str) -> Option<Fields> {
    let caps = ERROR.as_ref()?.captures(line)?;
    let get = |i: usize| caps.get(i).map(|m| m.as_str());
    let mut fields: Fields = vec![
        ("timestamp", Value::String(get(1)?.to_string())),
        ("log.level", Value::String(get(2)?.to_string())),
        ("process.pid", number(get(3)?)?),
        ("process.thread.id", number(get(4)?)?),
    ];
    if let Some(id) = get(5) {
        fields.push(("nginx.error.connection_id", number(id)?));
    }
    fields.push(("message", Value::String(get(6)?.to_string())));
    fields.push(("event.original", Value::String(line.to_string())));
    Some(fields)
}

/// Writes parsed fields into an event.
pub fn apply(event: &mut Event, fields: Fields) -> Result<(), FieldError> {
    for (key, value) in fields {
        event.set(&FieldPath::parse_dotted(key)?, value)?;
    }
    Ok(())
}

/// The fields as a nested JSON object (for tests and tools).
pub fn to_object(fields: Fields) -> Map<String, Value> {
    let mut event = Event::new();
    // Our own dotted keys never collide with a non-object on the way.
    let _ = apply(&mut event, fields);
    event.into_map()
}

#[cfg(test)]
#[path = "nginx_tests.rs"]
mod tests;
