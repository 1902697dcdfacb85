//! Evaluating conditions on an event, and choosing outputs and topics.
//!
//! Semantics, following Logstash where it is defined:
//! - a missing field is never equal to anything (`[x] != "v"` is true when `[x]` is missing);
//! - `==`/`!=` compare JSON values, numbers by value (`200 == 200.0`), no string↔number coercion;
//! - `<`, `>`, `<=`, `>=` compare two numbers or two strings, and are false otherwise (Logstash
//!   raises an error there; we never fail on an event);
//! - `in`: element of an array, substring of a string, key of an object;
//! - `=~`: on a string, or on any string of an array (Filebeat's `contains` rides on this);
//! - truthiness: present and neither null nor false. (Logstash 7+'s Java execution also treats the
//!   string "false" as false, elastic/logstash#12064; we do not copy that.)

use std::cmp::Ordering;

use serde_json::Value;

use crate::condition::{CompareOp, Condition, Operand};
use crate::config::{KafkaOutputConfig, OutputStep};
use crate::event::Event;
use crate::index::Template;

pub fn evaluate(condition: &Condition, event: &Event) -> bool {
    match condition {
        Condition::And(a, b) => evaluate(a, event) && evaluate(b, event),
        Condition::Or(a, b) => evaluate(a, event) || evaluate(b, event),
        Condition::Not(inner) => !evaluate(inner, event),
        Condition::Truthy(operand) => !matches!(resolve(operand, event), None | Some(Value::Null | Value::Bool(false))),
        Condition::Compare { left, op, right } => {
            let (left, right) = (resolve(left, event), resolve(right, event));
            match op {
                CompareOp::Eq => equal(left, right),
                CompareOp::Ne => !equal(left, right),
                _ => match (left.and_then(|l| order(l, right?)), op) {
                    (Some(ord), CompareOp::Lt) => ord == Ordering::Less,
                    (Some(ord), CompareOp::Gt) => ord == Ordering::Greater,
                    (Some(ord), CompareOp::Le) => ord != Ordering::Greater,
                    (Some(ord), CompareOp::Ge) => ord != Ordering::Less,
                    _ => false,
                },
            }
        }
        Condition::In { needle, haystack, negated } => {
            let found = match (resolve(needle, event), resolve(haystack, event)) {
                (Some(needle), Some(Value::Array(items))) => items.iter().any(|item| equal(Some(needle), Some(item))),
                (Some(Value::String(needle)), Some(Value::String(hay))) => hay.contains(needle.as_str()),
                (Some(Value::String(needle)), Some(Value::Object(map))) => map.contains_key(needle),
                _ => false,
            };
            found != *negated
        }
        Condition::Match { left, pattern, negated } => {
            let matched = match resolve(left, event) {
                Some(Value::String(s)) => pattern.regex.is_match(s),
                Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(|s| pattern.regex.is_match(s)),
                _ => false,
            };
            matched != *negated
        }
    }
}

fn resolve<'a>(operand: &'a Operand, event: &'a Event) -> Option<&'a Value> {
    match operand {
        Operand::Field(path) => event.get(path),
        Operand::Literal(value) => Some(value),
    }
}

fn equal(left: Option<&Value>, right: Option<&Value>) -> bool {
    match (left, right) {
        (Some(Value::Number(a)), Some(Value::Number(b))) => a.as_f64() == b.as_f64(),
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn order(left: &Value, right: &Value) -> Option<Ordering> {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// The outputs an event goes to, in order.
pub fn outputs<'a>(steps: &'a [OutputStep], event: &Event) -> Vec<&'a OutputStep> {
    steps.iter().filter(|s| s.when.as_ref().is_none_or(|c| evaluate(c, event))).collect()
}

/// The Kafka topic for a shipped event: the first matching route, else the default; rendered.
/// `None` when the format cannot be parsed (validation rejects such configs) or renders empty.
pub fn topic(output: &KafkaOutputConfig, event: &Event) -> Option<String> {
    let format = output.routes.iter().find(|r| evaluate(&r.when, event)).map_or(&output.topic, |r| &r.topic);
    let topic = Template::parse(format).ok()?.render(event);
    (!topic.is_empty()).then_some(topic)
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
