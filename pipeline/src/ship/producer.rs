//! The Kafka side: an rdkafka `FutureProducer` configured from the output, a bound on events in
//! flight, and delivery waiters that fold broker acknowledgements into the registry.
//!
//! Every event read takes a permit before it is tracked; the permit is returned when the event is
//! acknowledged (or handled without sending). When the broker is unreachable nothing is acknowledged,
//! the permits run out and readers wait: reading pauses instead of buffering without bound.
//! Deliveries never time out in librdkafka (`message.timeout.ms=0`). What a failure means is
//! `delivery::classify`'s call: a transient one is counted and sent again after a pause, so the event
//! is either acknowledged or still in flight; a permanent one (unknown topic, not authorized, too
//! large) drops the event, counted in `events_dropped`, and the registry moves past it; a fatal one
//! stops the shipper (`Shipper::failed`).
//!
//! With `acks: all` (the default) the producer is idempotent: librdkafka numbers each partition's
//! batches and the broker acknowledges a batch it already has (a retry after a lost answer, a leader
//! change) without appending it again, so its own retries add no duplicates. Idempotence needs
//! acks=all; with `acks: leader` or `none` it is off, and `Shipper::new` logs why.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::delivery::{self, DropLog, DropReason, Verdict};
use super::metrics::ShipMetrics;
use super::record::Record;
use crate::config::{Acks, Compression, KafkaOutputConfig};
use crate::registry::{Registry, Ticket};

/// Events read and not yet acknowledged, at most (Filebeat's `queue.mem.events` default is 3200).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4096;

#[derive(Debug, thiserror::Error)]
#[error("failed to create the Kafka producer for brokers {brokers}: {source}")]
pub struct ProducerError {
    pub brokers: String,
    pub source: KafkaError,
}

/// Whether the producer is idempotent for this output: only with acks=all, which idempotence
/// needs (librdkafka refuses the combination otherwise).
pub fn idempotent(output: &KafkaOutputConfig) -> bool {
    output.acks == Acks::All
}

/// librdkafka settings for the output.
pub fn client_config(output: &KafkaOutputConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", output.brokers.join(","))
        .set("client.id", "strom-pipeline")
        .set(
            "acks",
            match output.acks {
                Acks::None => "0",
                Acks::Leader => "1",
                Acks::All => "all",
            },
        )
        // No duplicates from librdkafka's own retries (see the module docs).
        .set("enable.idempotence", idempotent(output).to_string())
        .set(
            "compression.type",
            match output.compression {
                Compression::None => "none",
                Compression::Gzip => "gzip",
                Compression::Snappy => "snappy",
                Compression::Lz4 => "lz4",
                Compression::Zstd => "zstd",
            },
        )
        // Retry until delivered: at least once.
        .set("message.timeout.ms", "0")
        .set("message.max.bytes", (output.max_message_bytes.max(1_000_000) + 4096).to_string())
        .set("linger.ms", "5")
        .set("reconnect.backoff.max.ms", "1000");
    c
}

/// Why a send did not end in an acknowledgement.
enum Failure {
    Drop(DropReason, KafkaError),
    Fatal(KafkaError),
}

/// Sends records and tracks their acknowledgements.
#[derive(Clone)]
pub struct Shipper {
    producer: FutureProducer,
    permits: Arc<Semaphore>,
    max_in_flight: usize,
    registry: Arc<Mutex<Registry>>,
    metrics: Arc<ShipMetrics>,
    dropped: Arc<Mutex<DropLog>>,
    /// Set once, with the reason, when the producer hit a fatal error.
    fatal: Arc<watch::Sender<Option<String>>>,
}

impl Shipper {
    pub fn new(
        output: &KafkaOutputConfig,
        max_in_flight: usize,
        registry: Arc<Mutex<Registry>>,
        metrics: Arc<ShipMetrics>,
    ) -> Result<Self, ProducerError> {
        let producer = client_config(output)
            .create()
            .map_err(|source| ProducerError { brokers: output.brokers.join(","), source })?;
        if !idempotent(output) {
            tracing::warn!(
                acks = ?output.acks,
                "the Kafka producer is not idempotent: idempotence needs `acks: all`; a broker failure can make its retries duplicate events"
            );
        }
        let max_in_flight = max_in_flight.max(1);
        Ok(Shipper {
            producer,
            permits: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
            registry,
            metrics,
            dropped: Arc::default(),
            fatal: Arc::new(watch::channel(None).0),
        })
    }

    /// Changes to `Some(reason)` when the producer hit a fatal error: it can deliver nothing more,
    /// and the shipper has to stop (`ship::run` does).
    pub fn failed(&self) -> watch::Receiver<Option<String>> {
        self.fatal.subscribe()
    }

    /// Waits for room for one more event in flight.
    pub async fn permit(&self) -> Option<OwnedSemaphorePermit> {
        let permit = self.permits.clone().acquire_owned().await.ok()?;
        self.metrics.in_flight.inc();
        Some(permit)
    }

    /// The event needs no delivery (filtered, too large): it counts as handled at once.
    pub fn done(&self, permit: OwnedSemaphorePermit, ticket: &Ticket) {
        ack(&self.registry, ticket);
        self.release(permit);
    }

    fn release(&self, permit: OwnedSemaphorePermit) {
        drop(permit);
        self.metrics.in_flight.dec();
    }

    /// Hands the record to the producer; a task waits for its acknowledgement (retrying transient
    /// failures) and then advances the registry. An event refused for good is dropped: logged,
    /// counted, and the registry advanced over it all the same. `at` names the event's source in
    /// logs.
    pub async fn send(&self, permit: OwnedSemaphorePermit, ticket: Ticket, record: Record, at: String) {
        let this = self.clone();
        let first = this.enqueue(&record).await;
        self.metrics.events_sent.inc();
        tokio::spawn(async move {
            let mut attempt = first;
            let failure = loop {
                let delivery = match attempt {
                    Ok(delivery) => delivery,
                    Err(failure) => break Some(failure),
                };
                match delivery.await {
                    Ok(Ok(_)) => {
                        this.metrics.events_acked.inc();
                        this.metrics.bytes_acked.inc_by(record.payload.len() as u64);
                        break None;
                    }
                    Ok(Err((error, _))) => match delivery::classify(&error) {
                        Verdict::Retry => {
                            this.metrics.events_failed.inc();
                            tracing::warn!(source = %at, %error, "delivery failed; sending again");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            attempt = this.enqueue(&record).await;
                        }
                        Verdict::Drop(reason) => break Some(Failure::Drop(reason, error)),
                        Verdict::Fatal => break Some(Failure::Fatal(error)),
                    },
                    // The producer is gone (shutdown): the event stays unacknowledged.
                    Err(_) => return,
                }
            };
            match failure {
                None => {}
                Some(Failure::Drop(reason, error)) => this.dropped(reason, &error, &record, &at),
                Some(Failure::Fatal(error)) => {
                    // Not acknowledged: it is read again at the next start.
                    this.fatal_error(&error);
                    this.release(permit);
                    return;
                }
            }
            ack(&this.registry, &ticket);
            this.release(permit);
        });
    }

    /// Counts and (the first time for its reason and topic) logs an event dropped for good.
    fn dropped(&self, reason: DropReason, error: &KafkaError, record: &Record, at: &str) {
        self.metrics.events_dropped.inc();
        let first = self.dropped.lock().unwrap_or_else(|e| e.into_inner()).first(reason, &record.topic);
        if first {
            tracing::error!(
                topic = %record.topic, %reason, %error, source = %at, bytes = record.payload.len(),
                "dropping event: it cannot be delivered, sending it again would fail the same way; the registry moves past it (further drops for this topic and reason are only counted in events_dropped)"
            );
        } else {
            tracing::debug!(topic = %record.topic, %reason, source = %at, "dropping event");
        }
    }

    /// Records the producer's fatal error (once) so that the shipper stops.
    fn fatal_error(&self, error: &KafkaError) {
        let reason = match self.producer.client().fatal_error() {
            Some((code, text)) => format!("{text} ({code:?})"),
            None => error.to_string(),
        };
        self.fatal.send_if_modified(|f| {
            if f.is_some() {
                return false;
            }
            tracing::error!(%reason, "the Kafka producer hit a fatal error; stopping (unacknowledged events are read again at the next start)");
            *f = Some(reason.clone());
            true
        });
    }

    /// Enqueues in librdkafka, waiting while its queue is full and retrying transient errors
    /// (logged); an error that will not go away is handed back.
    async fn enqueue(&self, record: &Record) -> Result<rdkafka::producer::DeliveryFuture, Failure> {
        loop {
            let mut r = FutureRecord::<[u8], [u8]>::to(&record.topic).payload(&record.payload);
            if let Some(key) = &record.key {
                r = r.key(key);
            }
            match self.producer.send_result(r) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err((error, _)) => match delivery::classify(&error) {
                    Verdict::Retry => {
                        self.metrics.events_failed.inc();
                        tracing::error!(topic = %record.topic, %error, "failed to enqueue an event; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    Verdict::Drop(reason) => return Err(Failure::Drop(reason, error)),
                    Verdict::Fatal => return Err(Failure::Fatal(error)),
                },
            }
        }
    }

    /// Events in flight now.
    pub fn in_flight(&self) -> usize {
        self.max_in_flight - self.permits.available_permits()
    }

    /// Waits until every event in flight is acknowledged, at most `limit`; true when all were.
    pub async fn drain(&self, limit: Duration) -> bool {
        let all = u32::try_from(self.max_in_flight).unwrap_or(u32::MAX);
        tokio::time::timeout(limit, self.permits.acquire_many(all)).await.is_ok_and(|p| p.is_ok())
    }
}

fn ack(registry: &Mutex<Registry>, ticket: &Ticket) {
    // A poisoned lock means a panic elsewhere; the bookkeeping itself is still consistent.
    let mut r = registry.lock().unwrap_or_else(|e| e.into_inner());
    r.ack(ticket);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_settings_map_to_librdkafka_properties() {
        let o: KafkaOutputConfig =
            serde_yaml::from_str("{brokers: ['a:9092', 'b:9092'], topic: t, acks: all, compression: lz4, max_message_bytes: 5000000}").unwrap();
        let c = client_config(&o);
        assert_eq!(c.get("bootstrap.servers"), Some("a:9092,b:9092"));
        assert_eq!(c.get("acks"), Some("all"));
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        assert_eq!(c.get("compression.type"), Some("lz4"));
        assert_eq!(c.get("message.timeout.ms"), Some("0"));
        assert_eq!(c.get("message.max.bytes"), Some("5004096"));
        let d: KafkaOutputConfig = serde_yaml::from_str("{brokers: ['a:9092'], topic: t}").unwrap();
        assert_eq!(client_config(&d).get("acks"), Some("all"), "acks=all by default");
        assert_eq!(client_config(&d).get("enable.idempotence"), Some("true"), "idempotent by default");
        assert_eq!(client_config(&d).get("compression.type"), Some("gzip"));
    }

    #[test]
    fn acks_other_than_all_turn_idempotence_off() {
        for (acks, value) in [("leader", "1"), ("none", "0")] {
            let o: KafkaOutputConfig = serde_yaml::from_str(&format!("{{brokers: ['a:9092'], topic: t, acks: {acks}}}")).unwrap();
            let c = client_config(&o);
            assert_eq!(c.get("acks"), Some(value));
            assert_eq!(c.get("enable.idempotence"), Some("false"), "librdkafka refuses idempotence with acks={value}");
            // the combination librdkafka takes: creating the producer needs no broker
            let _: FutureProducer = c.create().unwrap();
            let mut both = c.clone();
            both.set("enable.idempotence", "true");
            assert!(both.create::<FutureProducer>().is_err(), "librdkafka takes idempotence with acks={value}");
        }
        let all: KafkaOutputConfig = serde_yaml::from_str("{brokers: ['a:9092'], topic: t, acks: all}").unwrap();
        let _: FutureProducer = client_config(&all).create().unwrap();
    }
}
