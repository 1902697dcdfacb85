//! The shipper's Prometheus metrics, and a tiny HTTP/1.1 responder serving them at `GET /metrics`.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

pub struct ShipMetrics {
    registry: Registry,
    /// Events read from files (after multiline joining, before include/exclude).
    pub events_read: Counter,
    /// Events handed to the Kafka producer.
    pub events_sent: Counter,
    /// Events the broker acknowledged.
    pub events_acked: Counter,
    /// Delivery failures (each is retried).
    pub events_failed: Counter,
    /// Events dropped for good: refused by the broker or librdkafka in a way a retry cannot change
    /// (unknown or invalid topic, not authorized, too large for the broker, invalid record), or
    /// with a topic that rendered empty. Logged (the first per topic and reason); the registry moves
    /// past them.
    pub events_dropped: Counter,
    /// Events over `max_message_bytes`: not sent, logged with file and offset.
    pub events_too_large: Counter,
    /// Events dropped by include_lines / exclude_lines.
    pub events_filtered: Counter,
    /// Bytes read from files.
    pub bytes_read: Counter,
    /// Bytes of event payload acknowledged by the broker.
    pub bytes_acked: Counter,
    pub files_open: Gauge,
    /// Events read and not yet acknowledged (bounded: reading pauses at the bound).
    pub in_flight: Gauge,
}

impl Default for ShipMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("strom_pipeline_ship");
        let m = ShipMetrics {
            registry: Registry::default(),
            events_read: Counter::default(),
            events_sent: Counter::default(),
            events_acked: Counter::default(),
            events_failed: Counter::default(),
            events_dropped: Counter::default(),
            events_too_large: Counter::default(),
            events_filtered: Counter::default(),
            bytes_read: Counter::default(),
            bytes_acked: Counter::default(),
            files_open: Gauge::default(),
            in_flight: Gauge::default(),
        };
        registry.register("events_read", "Events read from files", m.events_read.clone());
        registry.register("events_sent", "Events handed to the Kafka producer", m.events_sent.clone());
        registry.register("events_acked", "Events acknowledged by the broker", m.events_acked.clone());
        registry.register("events_failed", "Failed deliveries (retried)", m.events_failed.clone());
        registry.register("events_dropped", "Events dropped for good (unknown topic, not authorized, too large for the broker, no topic)", m.events_dropped.clone());
        registry.register("events_too_large", "Events over max_message_bytes, not sent", m.events_too_large.clone());
        registry.register("events_filtered", "Events dropped by include_lines/exclude_lines", m.events_filtered.clone());
        registry.register("bytes_read", "Bytes read from files", m.bytes_read.clone());
        registry.register("bytes_acked", "Event bytes acknowledged by the broker", m.bytes_acked.clone());
        registry.register("files_open", "Files being read", m.files_open.clone());
        registry.register("in_flight", "Events read and not yet acknowledged", m.in_flight.clone());
        ShipMetrics { registry, ..m }
    }
}

impl ShipMetrics {
    /// The OpenMetrics text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Serves `GET /metrics` on `listener` until the task is dropped (see `crate::metrics_http`).
pub async fn serve(listener: TcpListener, metrics: Arc<ShipMetrics>) {
    crate::metrics_http::serve(listener, Arc::new(move || metrics.render())).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn serves_the_counters_over_http() {
        let metrics = Arc::new(ShipMetrics::default());
        metrics.events_read.inc_by(3);
        metrics.events_dropped.inc();
        metrics.files_open.set(2);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, metrics));
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
        assert!(out.contains("strom_pipeline_ship_events_read_total 3"), "{out}");
        assert!(out.contains("strom_pipeline_ship_files_open 2"), "{out}");
        assert!(out.contains("strom_pipeline_ship_events_dropped_total 1"), "{out}");
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 404"), "{out}");
        server.abort();
    }
}
