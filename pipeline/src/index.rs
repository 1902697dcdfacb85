//! Logstash's sprintf format: index names, topics, paths (`nginx_access-%{+YYYY.MM.dd}`,
//! `%{[fields][log_topic]}`).
//!
//! As in Logstash (`LogStash::Event#sprintf`, "if a %{name} value does not exist, no substitution
//! occurs"): a missing field leaves `%{...}` as written; arrays join with `,`; objects print as JSON.
//! `%{+PATTERN}` formats the event's `@timestamp` in UTC with a Joda pattern; `%{+%s}` is epoch seconds.

use jiff::tz::TimeZone;
use serde_json::Value;

use crate::event::{Event, FieldError, FieldPath};
use crate::joda::{self, JodaError, Token};

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    /// The path and the text as written, put back when the field is missing.
    Field(FieldPath, String),
    Time(Vec<Token>, String),
    EpochSeconds(String),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("failed to parse format `{format}`: `%{{` at byte {at} is never closed")]
    Unclosed { format: String, at: usize },
    #[error("failed to parse format `{format}`: {source}")]
    Field { format: String, source: FieldError },
    #[error("failed to parse format `{format}`: {source}")]
    Time { format: String, source: JodaError },
}

impl Template {
    pub fn parse(format: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = format;
        let mut offset = 0;
        while let Some(start) = rest.find("%{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let body_start = start + 2;
            let Some(len) = rest[body_start..].find('}') else {
                return Err(TemplateError::Unclosed { format: format.to_string(), at: offset + start });
            };
            let body = &rest[body_start..body_start + len];
            let written = rest[start..body_start + len + 1].to_string();
            if body == "+%s" {
                parts.push(Part::EpochSeconds(written));
            } else if let Some(pattern) = body.strip_prefix('+') {
                let tokens = joda::tokenize(pattern)
                    .map_err(|source| TemplateError::Time { format: format.to_string(), source })?;
                parts.push(Part::Time(tokens, written));
            } else {
                let path = FieldPath::parse_reference(body)
                    .map_err(|source| TemplateError::Field { format: format.to_string(), source })?;
                parts.push(Part::Field(path, written));
            }
            offset += body_start + len + 1;
            rest = &rest[body_start + len + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// True when the template has no `%{...}` (a plain name).
    pub fn is_constant(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    pub fn render(&self, event: &Event) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Field(path, written) => match event.get(path) {
                    None | Some(Value::Null) => out.push_str(written),
                    Some(value) => out.push_str(&value_text(value)),
                },
                Part::Time(tokens, written) => match event.timestamp() {
                    Some(at) => out.push_str(&joda::format(tokens, &at.to_zoned(TimeZone::UTC))),
                    None => out.push_str(written),
                },
                Part::EpochSeconds(written) => match event.timestamp() {
                    Some(at) => out.push_str(&at.as_second().to_string()),
                    None => out.push_str(written),
                },
            }
        }
        out
    }
}

/// A field value as sprintf prints it.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join(","),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn event(value: Value) -> Event {
        Event::from_map(value.as_object().unwrap().clone())
    }

    #[test]
    fn daily_index_from_timestamp_in_utc() {
        let e = event(json!({"@timestamp": "2024-01-01T23:30:00.000Z"}));
        assert_eq!(Template::parse("nginx_access-%{+YYYY.MM.dd}").unwrap().render(&e), "nginx_access-2024.01.01");
        let e = event(json!({"@timestamp": "2024-01-02T01:30:00+08:00"}));
        assert_eq!(Template::parse("x-%{+yyyy.MM.dd.HH}").unwrap().render(&e), "x-2024.01.01.17");
        assert_eq!(Template::parse("%{+%s}").unwrap().render(&e), "1704130200");
    }

    #[test]
    fn fields_and_missing_fields_stay_literal() {
        let e = event(json!({"fields": {"log_topic": "nginx"}, "tags": ["a", "b"], "n": 3, "o": {"k": 1}}));
        let render = |f: &str| Template::parse(f).unwrap().render(&e);
        assert_eq!(render("%{[fields][log_topic]}"), "nginx");
        assert_eq!(render("%{tags}|%{n}|%{[o]}"), "a,b|3|{\"k\":1}");
        assert_eq!(render("x-%{[missing][f]}-%{nope}"), "x-%{[missing][f]}-%{nope}");
        assert_eq!(render("%{+YYYY}"), "%{+YYYY}");
        assert!(Template::parse("plain").unwrap().is_constant());
    }

    #[test]
    fn bad_formats_are_errors() {
        assert!(matches!(Template::parse("a-%{+YYYY"), Err(TemplateError::Unclosed { at: 2, .. })));
        assert!(Template::parse("%{a[b]}").is_err());
        assert!(Template::parse("%{+YYYY.qq}").unwrap_err().to_string().contains("unsupported letter `q`"));
    }

    proptest! {
        #[test]
        fn parse_and_render_never_panic(format in ".{0,40}", value in ".{0,10}") {
            let e = event(json!({"a": value, "@timestamp": "2024-01-01T00:00:00Z"}));
            if let Ok(t) = Template::parse(&format) {
                let _ = t.render(&e);
            }
        }

        #[test]
        fn text_without_markers_renders_as_itself(text in "[^%]{0,40}") {
            prop_assert_eq!(Template::parse(&text).unwrap().render(&Event::new()), text);
        }
    }
}
