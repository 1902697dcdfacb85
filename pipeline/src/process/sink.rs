//! The outputs other than Elasticsearch (Kafka, stdout, file) and the dead-letter topic. Each
//! `write` returns once every event is taken, or with `Interrupted` at shutdown (then nothing
//! is committed and the records come again).

use std::io::Write;
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::{json, Map, Value};

use crate::bulk::Backoff;
use crate::config::LineCodec;
use crate::event::Event;
use crate::index::Template;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("failed to create the Kafka producer for {what}: {reason}")]
    Producer { what: String, reason: String },
    #[error("failed to write {path}: {reason}")]
    File { path: String, reason: String },
    #[error("interrupted by shutdown before the output took every event")]
    Interrupted,
}

/// An idempotent, acks=all producer (no duplicates from its own retries).
pub fn producer(brokers: &[String], what: &str) -> Result<FutureProducer, SinkError> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers.join(","))
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "30000")
        .set("log_level", "3")
        .create()
        .map_err(|e| SinkError::Producer { what: what.to_string(), reason: e.to_string() })
}

/// Sends `(topic, value)` records; those that fail are sent again with backoff until all are in.
/// Returns how many were sent again.
pub async fn produce_all(p: &FutureProducer, mut records: Vec<(String, String)>, stop: &tokio::sync::watch::Receiver<bool>) -> Result<usize, SinkError> {
    let backoff = Backoff { initial: Duration::from_millis(200), max: Duration::from_secs(10) };
    let mut retried = 0;
    let mut attempt = 0;
    loop {
        let sends = records.iter().map(|(topic, value)| p.send(FutureRecord::<(), str>::to(topic).payload(value.as_str()), Duration::from_secs(30)));
        let results = futures::future::join_all(sends).await;
        let failed: Vec<(String, String)> = records
            .into_iter()
            .zip(results)
            .filter_map(|(r, res)| match res {
                Ok(_) => None,
                Err((e, _)) => {
                    tracing::warn!(topic = %r.0, error = %e, "produce failed; retrying");
                    Some(r)
                }
            })
            .collect();
        if failed.is_empty() {
            return Ok(retried);
        }
        retried += failed.len();
        records = failed;
        let mut stop = stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(backoff.delay(attempt, rand::random::<f64>())) => {}
            _ = stop.wait_for(|s| *s) => return Err(SinkError::Interrupted),
        }
        attempt += 1;
    }
}

/// One line for an event in a line codec.
pub fn line(codec: LineCodec, doc: &Map<String, Value>) -> String {
    let v = Value::Object(doc.clone());
    match codec {
        LineCodec::JsonLines => v.to_string(),
        LineCodec::Rubydebug => serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string()),
    }
}

/// Appends each event's line to its file (the path a format string), flushed before returning.
pub fn append_files(path: &Template, codec: LineCodec, events: &[(&Event, Map<String, Value>)]) -> Result<(), SinkError> {
    let mut by_path: std::collections::BTreeMap<String, String> = Default::default();
    for (e, doc) in events {
        let text = by_path.entry(path.render(e)).or_default();
        text.push_str(&line(codec, doc));
        text.push('\n');
    }
    for (p, text) in by_path {
        let err = |e: std::io::Error| SinkError::File { path: p.clone(), reason: e.to_string() };
        if let Some(dir) = std::path::Path::new(&p).parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&p).map_err(err)?;
        f.write_all(text.as_bytes()).map_err(err)?;
        f.flush().map_err(err)?;
    }
    Ok(())
}

/// The dead-letter record of a document Elasticsearch refused: the document and why, so that it
/// can be fixed and sent again.
pub fn dead_letter(doc: &Map<String, Value>, index: &str, status: u16, error_type: &str, reason: &str) -> String {
    json!({
        "@timestamp": crate::event::format_timestamp(jiff::Timestamp::now()),
        "output": "elasticsearch",
        "index": index,
        "error": {"status": status, "type": error_type, "reason": reason},
        "event": doc,
    })
    .to_string()
}
