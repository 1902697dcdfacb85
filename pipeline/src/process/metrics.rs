//! The processor's Prometheus metrics (`strom_pipeline_process_*`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutputLabel {
    /// `elasticsearch`, `kafka`, `stdout`, `file`, with its position in the config (`0:elasticsearch`).
    pub output: String,
}

pub struct ProcessMetrics {
    registry: Registry,
    /// Records consumed (and turned into events).
    pub read: Counter,
    pub read_bytes: Counter,
    /// Events an output took (Elasticsearch: 2xx or 409).
    pub sent: Family<OutputLabel, Counter>,
    /// Events sent again after a 429/5xx answer or a failed request.
    pub retried: Family<OutputLabel, Counter>,
    /// Events refused for good (400/404), sent to the dead-letter topic or, without one, logged.
    pub dead_lettered: Counter,
    /// Events refused for good with no dead-letter topic configured: logged and dropped.
    pub failed: Counter,
    /// Batches whose offsets were committed after every output took them.
    pub committed_batches: Counter,
    /// Records behind the end of the assigned partitions (librdkafka's consumer_lag, summed).
    pub lag: Gauge,
}

impl Default for ProcessMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("strom_pipeline_process");
        let m = ProcessMetrics {
            read: Counter::default(),
            read_bytes: Counter::default(),
            sent: Family::default(),
            retried: Family::default(),
            dead_lettered: Counter::default(),
            failed: Counter::default(),
            committed_batches: Counter::default(),
            lag: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("events_read", "Records consumed", m.read.clone());
        registry.register("read_bytes", "Bytes of record values consumed", m.read_bytes.clone());
        registry.register("events_sent", "Events an output took", m.sent.clone());
        registry.register("events_retried", "Events sent again after a retryable refusal", m.retried.clone());
        registry.register("events_dead_lettered", "Events refused for good, to the dead-letter topic", m.dead_lettered.clone());
        registry.register("events_failed", "Events refused for good with no dead-letter topic (logged)", m.failed.clone());
        registry.register("batches_committed", "Batches whose offsets were committed", m.committed_batches.clone());
        registry.register("consumer_lag", "Records behind the end of the assigned partitions", m.lag.clone());
        ProcessMetrics { registry, ..m }
    }
}

impl ProcessMetrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

