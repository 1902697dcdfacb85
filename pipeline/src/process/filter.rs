//! The `process` filters applied to an event, in order (pure). A config is first compiled
//! (date patterns parsed, time zones found, format strings parsed) so that running a filter never
//! fails on configuration; on an event, a filter either succeeds (then its decorations apply:
//! add_field, remove_field, add_tag, remove_tag, as Logstash's common options) or tags the event
//! with its failure tags and leaves it otherwise alone.

use jiff::tz::TimeZone;
use serde_json::Value;

use crate::config::{Decorations, Filter, FilterStep, JsonFilter, ParseFilter};
use crate::event::{Event, FieldPath};
use crate::index::Template;
use crate::parse::date::{self, DateFormat};
use crate::parse::nginx;
use crate::route::evaluate;

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("failed to compile the date filter on `{field}`: {reason}")]
    Date { field: String, reason: String },
    #[error("failed to compile `{what}`: {reason}")]
    Format { what: String, reason: String },
}

/// A filter step ready to run.
#[derive(Debug)]
pub struct Step {
    when: Option<crate::condition::Condition>,
    kind: Kind,
    decorations: Compiled,
}

#[derive(Debug)]
enum Kind {
    Json(JsonFilter),
    Combined(ParseFilter),
    Error(ParseFilter),
    Date { field: String, formats: Vec<DateFormat>, zone: TimeZone, target: String, tag_on_failure: Vec<String> },
    Rename(Vec<(String, String)>),
    Branches(Vec<(Option<crate::condition::Condition>, Vec<Step>)>),
}

#[derive(Debug, Default)]
struct Compiled {
    add_field: Vec<(Template, Template)>,
    remove_field: Vec<Template>,
    add_tag: Vec<Template>,
    remove_tag: Vec<Template>,
}

fn template(what: &str, text: &str) -> Result<Template, CompileError> {
    Template::parse(text).map_err(|e| CompileError::Format { what: what.to_string(), reason: e.to_string() })
}

fn compile_decorations(d: &Decorations) -> Result<Compiled, CompileError> {
    Ok(Compiled {
        add_field: d.add_field.iter().map(|(k, v)| Ok((template("add_field", k)?, template("add_field", v)?))).collect::<Result<_, CompileError>>()?,
        remove_field: d.remove_field.iter().map(|f| template("remove_field", f)).collect::<Result<_, _>>()?,
        add_tag: d.add_tag.iter().map(|t| template("add_tag", t)).collect::<Result<_, _>>()?,
        remove_tag: d.remove_tag.iter().map(|t| template("remove_tag", t)).collect::<Result<_, _>>()?,
    })
}

/// Compiles the filter steps of a `process` config.
pub fn compile(steps: &[FilterStep]) -> Result<Vec<Step>, CompileError> {
    steps.iter().map(compile_step).collect()
}

fn compile_step(s: &FilterStep) -> Result<Step, CompileError> {
    let kind = match &s.filter {
        Filter::Json(j) => Kind::Json(j.clone()),
        Filter::NginxCombined(p) => Kind::Combined(p.clone()),
        Filter::NginxError(p) => Kind::Error(p.clone()),
        Filter::Date(d) => {
            let bad = |reason: String| CompileError::Date { field: d.field.clone(), reason };
            let formats = d.formats.iter().map(|f| DateFormat::parse(f).map_err(|e| bad(e.to_string()))).collect::<Result<_, _>>()?;
            let zone = match &d.timezone {
                Some(z) => date::zone(z).map_err(|e| bad(e.to_string()))?,
                None => TimeZone::UTC,
            };
            Kind::Date { field: d.field.clone(), formats, zone, target: d.target.clone(), tag_on_failure: d.tag_on_failure.clone() }
        }
        Filter::Mutate(m) => Kind::Rename(m.rename.iter().map(|(a, b)| (a.clone(), b.clone())).collect()),
        Filter::Branches(arms) => Kind::Branches(arms.iter().map(|a| Ok((a.when.clone(), compile(&a.filters)?))).collect::<Result<_, CompileError>>()?),
    };
    Ok(Step { when: s.when.clone(), kind, decorations: compile_decorations(&s.on_success)? })
}

/// Runs the steps on an event.
pub fn run(steps: &[Step], event: &mut Event) {
    for s in steps {
        if s.when.as_ref().is_some_and(|c| !evaluate(c, event)) {
            continue;
        }
        if apply(&s.kind, event) {
            decorate(&s.decorations, event);
        }
    }
}

fn tag_all(event: &mut Event, tags: &[String]) {
    for t in tags {
        event.add_tag(t);
    }
}

/// Applies one filter; whether it succeeded.
fn apply(kind: &Kind, event: &mut Event) -> bool {
    match kind {
        Kind::Json(j) => json(j, event),
        Kind::Combined(p) => parse(p, event, nginx::parse_combined),
        Kind::Error(p) => parse(p, event, nginx::parse_error),
        Kind::Date { field, formats, zone, target, tag_on_failure } => {
            let Some(value) = event.get_ref(field).cloned() else { return false };
            let text = match &value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            match date::read_first(formats, &text, zone) {
                Some(at) if target == "@timestamp" => {
                    event.set_timestamp(at);
                    true
                }
                Some(at) => event.set_ref(target, Value::String(crate::event::format_timestamp(at))).is_ok(),
                None => {
                    tag_all(event, tag_on_failure);
                    false
                }
            }
        }
        Kind::Rename(pairs) => {
            for (from, to) in pairs {
                if let Some(v) = FieldPath::parse_reference(from).ok().and_then(|p| event.remove(&p)) {
                    let _ = event.set_ref(to, v);
                }
            }
            true
        }
        Kind::Branches(arms) => {
            if let Some((_, steps)) = arms.iter().find(|(when, _)| when.as_ref().is_none_or(|c| evaluate(c, event))) {
                run(steps, event);
            }
            true
        }
    }
}

/// The json filter: decodes `source`; an object merges into the root (or goes under `target`).
fn json(j: &JsonFilter, event: &mut Event) -> bool {
    let Some(Value::String(text)) = event.get_ref(&j.source).cloned() else { return false };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) if j.target.is_none() => {
            for (k, v) in map {
                if let Some(path) = FieldPath::new([k]) {
                    let _ = event.set(&path, v);
                }
            }
            true
        }
        Ok(v) => match &j.target {
            Some(t) => event.set_ref(t, v).is_ok(),
            // A JSON scalar or array cannot be merged into the root (Logstash tags it too).
            None => {
                tag_all(event, &j.tag_on_failure);
                false
            }
        },
        Err(_) => {
            tag_all(event, &j.tag_on_failure);
            false
        }
    }
}

fn parse(p: &ParseFilter, event: &mut Event, parser: fn(&str) -> Option<nginx::Fields>) -> bool {
    let Some(Value::String(text)) = event.get_ref(&p.source).cloned() else {
        tag_all(event, &p.tag_on_failure);
        return false;
    };
    match parser(&text) {
        Some(fields) => nginx::apply(event, fields).is_ok(),
        None => {
            tag_all(event, &p.tag_on_failure);
            false
        }
    }
}

fn decorate(d: &Compiled, event: &mut Event) {
    for (k, v) in &d.add_field {
        let (key, value) = (k.render(event), v.render(event));
        let Ok(path) = FieldPath::parse_reference(&key) else { continue };
        // add_field on an existing field makes it an array, as Logstash does.
        let merged = match event.get(&path).cloned() {
            None => Value::String(value),
            Some(Value::Array(mut items)) => {
                items.push(Value::String(value));
                Value::Array(items)
            }
            Some(old) => Value::Array(vec![old, Value::String(value)]),
        };
        let _ = event.set(&path, merged);
    }
    for f in &d.remove_field {
        if let Ok(path) = FieldPath::parse_reference(&f.render(event)) {
            event.remove(&path);
        }
    }
    for t in &d.add_tag {
        let tag = t.render(event);
        event.add_tag(&tag);
    }
    for t in &d.remove_tag {
        let tag = t.render(event);
        event.remove_tag(&tag);
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
