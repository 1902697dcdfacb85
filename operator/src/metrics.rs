//! The operator's Prometheus metrics and the small HTTP endpoint serving them (`/metrics` in the
//! OpenMetrics text format, `/healthz` and `/readyz` for the Deployment's probes).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub kind: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub kind: String,
    pub action: String,
}

pub struct Metrics {
    registry: Registry,
    pub reconciliations: Family<OutcomeLabels, Counter>,
    pub duration: Family<KindLabel, Histogram>,
    /// Significant actions: pod restarts of a rolling update, refused scale-downs, topics
    /// created or deleted.
    pub actions: Family<ActionLabels, Counter>,
    /// 1 while this replica holds the leader Lease (and so reconciles), else 0.
    pub leader: Gauge,
    ready: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("strom_operator");
        let reconciliations = Family::<OutcomeLabels, Counter>::default();
        let duration = Family::<KindLabel, Histogram>::new_with_constructor(|| Histogram::new([0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]));
        let actions = Family::<ActionLabels, Counter>::default();
        let leader = Gauge::default();
        registry.register("reconciliations", "Reconciliations by kind and outcome (ok, error)", reconciliations.clone());
        registry.register("reconcile_duration_seconds", "Time one reconciliation took", duration.clone());
        registry.register("actions", "Significant actions taken (restarts, refusals, topic changes)", actions.clone());
        registry.register("leader", "1 while this replica holds the leader lease", leader.clone());
        Metrics { registry, reconciliations, duration, actions, leader, ready: AtomicBool::new(false) }
    }
}

impl Metrics {
    /// Counts one reconciliation of `kind` and its duration.
    pub fn reconciled(&self, kind: &str, ok: bool, took: Duration) {
        self.reconciliations.get_or_create(&OutcomeLabels { kind: kind.into(), outcome: if ok { "ok" } else { "error" }.into() }).inc();
        self.duration.get_or_create(&KindLabel { kind: kind.into() }).observe(took.as_secs_f64());
    }

    pub fn action(&self, kind: &str, action: &str) {
        self.actions.get_or_create(&ActionLabels { kind: kind.into(), action: action.into() }).inc();
    }

    /// Ready once the controllers run (this replica leads) — a standby replica is alive, not ready.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
        self.leader.set(ready as i64);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The HTTP answer (status line, content type, body) for a request path.
    pub fn answer(&self, path: &str) -> (&'static str, &'static str, String) {
        match path {
            "/metrics" => ("200 OK", "application/openmetrics-text; version=1.0.0; charset=utf-8", self.render()),
            "/healthz" => ("200 OK", "text/plain", "ok\n".into()),
            "/readyz" if self.ready.load(Ordering::Relaxed) => ("200 OK", "text/plain", "ok\n".into()),
            "/readyz" => ("503 Service Unavailable", "text/plain", "standby: not the leader\n".into()),
            _ => ("404 Not Found", "text/plain", "not found\n".into()),
        }
    }
}

/// Serves `answer` over HTTP/1.1 (one request per connection) until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else { continue };
        let m = metrics.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut n = 0;
            // Read the request head (bounded; a slow or oversized request is dropped).
            let head = tokio::time::timeout(Duration::from_secs(5), async {
                while n < buf.len() {
                    match s.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => return false,
                        Ok(k) => n += k,
                    }
                    if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                        return true;
                    }
                }
                false
            })
            .await;
            if !matches!(head, Ok(true)) {
                return;
            }
            let text = String::from_utf8_lossy(&buf[..n]);
            let mut parts = text.split_whitespace();
            let (status, ctype, body) = match (parts.next(), parts.next()) {
                (Some("GET"), Some(path)) => m.answer(path.split('?').next().unwrap_or(path)),
                _ => ("405 Method Not Allowed", "text/plain", "only GET\n".into()),
            };
            let resp = format!("HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = s.write_all(resp.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_counts_over_http() {
        let m = Arc::new(Metrics::default());
        m.reconciled("BrokerCluster", true, Duration::from_millis(30));
        m.reconciled("BrokerCluster", false, Duration::from_millis(3));
        m.action("CoordinatorEnsemble", "RestartPod");
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(serve(l, m.clone()));
        let get = |path: &'static str| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let body = get("/metrics").await;
        assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
        assert!(body.contains(r#"strom_operator_reconciliations_total{kind="BrokerCluster",outcome="ok"} 1"#), "{body}");
        assert!(body.contains(r#"strom_operator_reconciliations_total{kind="BrokerCluster",outcome="error"} 1"#), "{body}");
        assert!(body.contains(r#"strom_operator_reconcile_duration_seconds_count{kind="BrokerCluster"} 2"#), "{body}");
        assert!(body.contains(r#"strom_operator_actions_total{kind="CoordinatorEnsemble",action="RestartPod"} 1"#), "{body}");
        assert!(get("/readyz").await.starts_with("HTTP/1.1 503"));
        m.set_ready(true);
        assert!(get("/readyz").await.starts_with("HTTP/1.1 200"));
        assert!(get("/metrics").await.contains("strom_operator_leader 1"));
        assert!(get("/nope").await.starts_with("HTTP/1.1 404"));
    }
}
