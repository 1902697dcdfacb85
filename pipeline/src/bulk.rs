//! Elasticsearch `_bulk`: building the NDJSON body and reading the answer. Pure.
//!
//! Body: per document an action line `{"index":{"_index":"nginx_access-2024.01.02"}}` (or `create`,
//! which data streams require) and the source line; the body ends with a newline. Sent with
//! `Content-Type: application/x-ndjson`.
//!
//! Answer (ES docs, "Bulk API", response body): HTTP 200 with `{"took", "errors", "items": [{"index":
//! {"_index", "_id", "status", "result" | "error": {"type", "reason"}}}]}`, items in request order even
//! when some fail. As Logstash's elasticsearch output: 2xx done; 409 done (counted: the document is
//! already there); 400 and 404 go to the dead-letter topic with the error; 429, 5xx and any other code
//! are retried. A failed request as a whole (not 2xx, an unreadable body, or an item count that does
//! not match) is retried whole.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::config::BulkAction;

#[derive(Debug, Clone, PartialEq)]
pub struct BulkDoc {
    pub index: String,
    pub action: BulkAction,
    pub id: Option<String>,
    pub source: Map<String, Value>,
}

/// The NDJSON request body.
pub fn body(docs: &[BulkDoc]) -> String {
    let mut out = String::new();
    for doc in docs {
        let mut meta = Map::new();
        meta.insert("_index".into(), Value::String(doc.index.clone()));
        if let Some(id) = &doc.id {
            meta.insert("_id".into(), Value::String(id.clone()));
        }
        let action = match doc.action {
            BulkAction::Index => "index",
            BulkAction::Create => "create",
        };
        out.push_str(&json!({ action: meta }).to_string());
        out.push('\n');
        out.push_str(&Value::Object(doc.source.clone()).to_string());
        out.push('\n');
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    Done,
    /// 409: a document with this id exists; nothing more to do.
    Conflict,
    Retry { status: u16, reason: String },
    DeadLetter { status: u16, error_type: String, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkOutcome {
    /// `errors: false`: every document is in.
    AllDone,
    /// One outcome per document sent, in order.
    Items(Vec<ItemOutcome>),
    /// Send everything again (after a backoff).
    RetryAll { reason: String },
}

/// Reads a `_bulk` answer for `sent` documents.
pub fn classify(http_status: u16, body: &[u8], sent: usize) -> BulkOutcome {
    let retry_all = |reason: String| BulkOutcome::RetryAll { reason };
    if !(200..300).contains(&http_status) {
        let text = String::from_utf8_lossy(body);
        return retry_all(format!("HTTP {http_status}: {}", text.chars().take(200).collect::<String>()));
    }
    let Ok(answer) = serde_json::from_slice::<Value>(body) else {
        return retry_all("unreadable bulk response body".into());
    };
    match answer.get("errors") {
        Some(Value::Bool(false)) => return BulkOutcome::AllDone,
        Some(Value::Bool(true)) => {}
        _ => return retry_all("bulk response without `errors`".into()),
    }
    let Some(items) = answer.get("items").and_then(Value::as_array) else {
        return retry_all("bulk response without `items`".into());
    };
    if items.len() != sent {
        return retry_all(format!("bulk response has {} items for {sent} documents", items.len()));
    }
    let mut outcomes = Vec::with_capacity(sent);
    for item in items {
        // Each item is {"<action>": {...}}.
        let Some(result) = item.as_object().and_then(|o| o.values().next()) else {
            return retry_all("bulk response item is not an object".into());
        };
        let Some(status) = result.get("status").and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok()) else {
            return retry_all("bulk response item without `status`".into());
        };
        outcomes.push(item_outcome(status, result.get("error")));
    }
    BulkOutcome::Items(outcomes)
}

fn item_outcome(status: u16, error: Option<&Value>) -> ItemOutcome {
    let text = |key: &str| match error {
        Some(Value::Object(e)) => e.get(key).and_then(Value::as_str).unwrap_or_default().to_string(),
        Some(Value::String(s)) if key == "reason" => s.clone(),
        _ => String::new(),
    };
    match status {
        200..=299 => ItemOutcome::Done,
        409 => ItemOutcome::Conflict,
        400 | 404 => ItemOutcome::DeadLetter { status, error_type: text("type"), reason: text("reason") },
        _ => ItemOutcome::Retry { status, reason: text("reason") },
    }
}

/// Counts of one classified answer, and which documents to send again or dead-letter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub done: usize,
    pub conflicts: usize,
    /// Indexes into the documents sent.
    pub retry: Vec<usize>,
    pub dead_letter: Vec<(usize, String)>,
}

pub fn report(outcome: &BulkOutcome, sent: usize) -> Report {
    let mut report = Report::default();
    match outcome {
        BulkOutcome::AllDone => report.done = sent,
        BulkOutcome::RetryAll { .. } => report.retry = (0..sent).collect(),
        BulkOutcome::Items(items) => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    ItemOutcome::Done => report.done += 1,
                    ItemOutcome::Conflict => report.conflicts += 1,
                    ItemOutcome::Retry { .. } => report.retry.push(i),
                    ItemOutcome::DeadLetter { status, error_type, reason } => {
                        report.dead_letter.push((i, format!("{status} {error_type}: {reason}")))
                    }
                }
            }
        }
    }
    report
}

/// Exponential backoff with a cap and caller-supplied jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    /// Logstash's elasticsearch output: 2 s doubling up to 64 s.
    fn default() -> Self {
        Backoff { initial: Duration::from_secs(2), max: Duration::from_secs(64) }
    }
}

impl Backoff {
    /// The wait before retry number `attempt` (0-based): `min(max, initial·2^attempt)`, of which the
    /// upper half is scaled by `jitter` in [0, 1] ("equal jitter": never below half the base).
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let base = self.initial.checked_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX)).unwrap_or(self.max).min(self.max);
        let jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.0 };
        base / 2 + (base / 2).mul_f64(jitter)
    }
}

#[cfg(test)]
#[path = "bulk_tests.rs"]
mod tests;
