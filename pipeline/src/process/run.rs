//! The processor's loop: consume a batch (up to `BATCH` records or `LINGER`), decode and filter
//! each record into an event, hand every event to the outputs its conditions select, dead-letter
//! what Elasticsearch refuses for good, and only then commit the batch's offsets. A record is
//! therefore committed only after every output took it (end-to-end acknowledgement); a crash or
//! SIGKILL before the commit makes the group deliver the batch again (at least once, duplicates
//! bounded by one batch). On shutdown the batch in hand is finished (or, when an output cannot
//! take it, left uncommitted) and the loop ends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::FutureProducer;
use rdkafka::{ClientConfig, ClientContext, Offset, Statistics, TopicPartitionList};
use tokio::sync::watch;

use super::es::{EsError, EsSink};
use super::metrics::{OutputLabel, ProcessMetrics};
use super::sink::{self, SinkError};
use super::{decode, filter};
use crate::bulk::BulkDoc;
use crate::condition::Condition;
use crate::config::{LineCodec, OffsetReset, Output, ProcessConfig};
use crate::event::Event;
use crate::index::Template;
use crate::route::evaluate;

const BATCH: usize = 500;
const LINGER: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Compile(#[from] filter::CompileError),
    #[error("failed to parse the format `{format}` of output {output}: {reason}")]
    Format { output: usize, format: String, reason: String },
    #[error(transparent)]
    Es(#[from] EsError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("failed to create the Kafka consumer: {0}")]
    Consumer(String),
}

enum Sink {
    Es { sink: EsSink, index: Template, id: Option<Template>, action: crate::config::BulkAction },
    Kafka { producer: FutureProducer, topic: Template },
    Stdout(LineCodec),
    File { path: Template, codec: LineCodec },
}

struct Route {
    when: Option<Condition>,
    sink: Sink,
    label: OutputLabel,
}

/// librdkafka's statistics give the consumer lag.
struct Stats(Arc<ProcessMetrics>);

impl ClientContext for Stats {
    fn stats(&self, s: Statistics) {
        let lag: i64 = s.topics.values().flat_map(|t| t.partitions.values()).filter(|p| p.partition >= 0).map(|p| p.consumer_lag.max(0)).sum();
        self.0.lag.set(lag);
    }
}
impl ConsumerContext for Stats {}

fn template(output: usize, format: &str) -> Result<Template, RunError> {
    Template::parse(format).map_err(|e| RunError::Format { output, format: format.to_string(), reason: e.to_string() })
}

fn routes(cfg: &ProcessConfig) -> Result<Vec<Route>, RunError> {
    let mut out = Vec::new();
    for (i, step) in cfg.outputs.iter().enumerate() {
        let (kind, sink) = match &step.output {
            Output::Elasticsearch(es) => ("elasticsearch", Sink::Es { sink: EsSink::new(es)?, index: template(i, &es.index)?, id: es.document_id.as_deref().map(|d| template(i, d)).transpose()?, action: es.action }),
            Output::Kafka(k) => ("kafka", Sink::Kafka { producer: sink::producer(&k.brokers, &format!("output {i}"))?, topic: template(i, &k.topic)? }),
            Output::Stdout(s) => ("stdout", Sink::Stdout(s.codec)),
            Output::File(f) => ("file", Sink::File { path: template(i, &f.path)?, codec: f.codec }),
        };
        out.push(Route { when: step.when.clone(), sink, label: OutputLabel { output: format!("{i}:{kind}") } });
    }
    Ok(out)
}

fn consumer(cfg: &ProcessConfig, metrics: Arc<ProcessMetrics>) -> Result<StreamConsumer<Stats>, RunError> {
    let k = &cfg.input.kafka;
    let c: StreamConsumer<Stats> = ClientConfig::new()
        .set("bootstrap.servers", k.brokers.join(","))
        .set("group.id", &k.group_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", match k.auto_offset_reset {
            OffsetReset::Earliest => "earliest",
            OffsetReset::Latest => "latest",
        })
        .set("statistics.interval.ms", "5000")
        .set("log_level", "3")
        .create_with_context(Stats(metrics))
        .map_err(|e| RunError::Consumer(e.to_string()))?;
    let topics: Vec<&str> = k.topics.iter().map(String::as_str).collect();
    c.subscribe(&topics).map_err(|e| RunError::Consumer(e.to_string()))?;
    Ok(c)
}

/// Runs until `stop` turns true.
pub async fn run(cfg: ProcessConfig, metrics: Arc<ProcessMetrics>, stop: watch::Receiver<bool>) -> Result<(), RunError> {
    let steps = filter::compile(&cfg.filters)?;
    let mut routes = routes(&cfg)?;
    let dead = match &cfg.dead_letter {
        Some(d) => Some((sink::producer(d.brokers.as_ref().unwrap_or(&cfg.input.kafka.brokers), "the dead-letter topic")?, d.topic.clone())),
        None => None,
    };
    let consumer = consumer(&cfg, metrics.clone())?;
    tracing::info!(topics = ?cfg.input.kafka.topics, group = %cfg.input.kafka.group_id, outputs = routes.len(), "processing");
    loop {
        let Some(batch) = next_batch(&consumer, &stop).await else { break };
        match handle(&batch, &cfg, &steps, &mut routes, dead.as_ref(), &metrics, &stop).await {
            Ok(()) => commit(&consumer, &batch, &metrics),
            Err(RunError::Es(EsError::Interrupted) | RunError::Sink(SinkError::Interrupted)) => {
                tracing::info!(records = batch.len(), "stopped with a batch not taken by every output; it is not committed and comes again");
                break;
            }
            Err(e) => return Err(e),
        }
    }
    tracing::info!("processor stopped");
    Ok(())
}

/// The next records: waits for one, then takes what comes within `LINGER`, up to `BATCH`.
async fn next_batch(c: &StreamConsumer<Stats>, stop: &watch::Receiver<bool>) -> Option<Vec<OwnedMessage>> {
    let mut stop = stop.clone();
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            m = c.recv() => match m {
                Ok(m) => { batch.push(m.detach()); break; }
                Err(e) => tracing::warn!(error = %e, "consumer error"),
            },
            _ = stop.wait_for(|s| *s) => return None,
        }
    }
    let until = tokio::time::Instant::now() + LINGER;
    while batch.len() < BATCH {
        tokio::select! {
            m = c.recv() => match m {
                Ok(m) => batch.push(m.detach()),
                Err(e) => tracing::warn!(error = %e, "consumer error"),
            },
            _ = tokio::time::sleep_until(until) => break,
        }
    }
    Some(batch)
}

async fn handle(batch: &[OwnedMessage], cfg: &ProcessConfig, steps: &[filter::Step], routes: &mut [Route], dead: Option<&(FutureProducer, String)>, m: &ProcessMetrics, stop: &watch::Receiver<bool>) -> Result<(), RunError> {
    let now = jiff::Timestamp::now();
    let events: Vec<Event> = batch
        .iter()
        .map(|msg| {
            m.read.inc();
            m.read_bytes.inc_by(msg.payload().map_or(0, |p| p.len() as u64));
            let r = decode::Record { topic: msg.topic(), partition: msg.partition(), offset: msg.offset(), key: msg.key(), value: msg.payload(), timestamp_ms: msg.timestamp().to_millis() };
            let mut e = decode::decode(&r, &cfg.input.kafka, now);
            filter::run(steps, &mut e);
            e
        })
        .collect();
    let mut refused = Vec::new();
    for route in routes.iter_mut() {
        let mine: Vec<&Event> = events.iter().filter(|e| route.when.as_ref().is_none_or(|c| evaluate(c, e))).collect();
        if mine.is_empty() {
            continue;
        }
        let sent = m.sent.get_or_create(&route.label).clone();
        let retried = m.retried.get_or_create(&route.label).clone();
        match &mut route.sink {
            Sink::Es { sink, index, id, action } => {
                let docs: Vec<BulkDoc> = mine.iter().map(|e| BulkDoc { index: index.render(e), action: *action, id: id.as_ref().map(|t| t.render(e)), source: decode::document(e) }).collect();
                let (bad, w) = sink.write(docs, stop).await?;
                sent.inc_by((w.done + w.conflicts) as u64);
                retried.inc_by(w.retried as u64);
                refused.extend(bad);
            }
            Sink::Kafka { producer, topic } => {
                let records = mine.iter().map(|e| (topic.render(e), serde_json::Value::Object(decode::document(e)).to_string())).collect::<Vec<_>>();
                let n = records.len();
                retried.inc_by(sink::produce_all(producer, records, stop).await? as u64);
                sent.inc_by(n as u64);
            }
            Sink::Stdout(codec) => {
                for e in &mine {
                    println!("{}", sink::line(*codec, &decode::document(e)));
                }
                sent.inc_by(mine.len() as u64);
            }
            Sink::File { path, codec } => {
                let docs: Vec<(&Event, _)> = mine.iter().map(|e| (*e, decode::document(e))).collect();
                sink::append_files(path, *codec, &docs)?;
                sent.inc_by(mine.len() as u64);
            }
        }
    }
    if !refused.is_empty() {
        match dead {
            Some((producer, topic)) => {
                let records = refused.iter().map(|r| (topic.clone(), sink::dead_letter(&r.doc.source, &r.doc.index, r.status, &r.error_type, &r.reason))).collect();
                sink::produce_all(producer, records, stop).await?;
                m.dead_lettered.inc_by(refused.len() as u64);
            }
            None => {
                for r in &refused {
                    tracing::error!(index = %r.doc.index, status = r.status, error = %r.error_type, reason = %r.reason, "Elasticsearch refused an event and no dead_letter topic is configured: dropped");
                }
                m.failed.inc_by(refused.len() as u64);
            }
        }
    }
    Ok(())
}

/// Commits the offsets after each partition's last record of the batch.
fn commit(c: &StreamConsumer<Stats>, batch: &[OwnedMessage], m: &ProcessMetrics) {
    let mut next: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for msg in batch {
        let e = next.entry((msg.topic().to_string(), msg.partition())).or_insert(0);
        *e = (*e).max(msg.offset() + 1);
    }
    let mut tpl = TopicPartitionList::new();
    for ((t, p), o) in &next {
        if let Err(e) = tpl.add_partition_offset(t, *p, Offset::Offset(*o)) {
            tracing::warn!(topic = %t, partition = p, error = %e, "cannot list an offset to commit");
        }
    }
    // A partition revoked meanwhile refuses the commit: its new owner gets the records again.
    match tokio::task::block_in_place(|| c.commit(&tpl, CommitMode::Sync)) {
        Ok(()) => {
            m.committed_batches.inc();
        }
        Err(e) => tracing::warn!(error = %e, "committing the batch's offsets failed; its records may come again"),
    };
}
