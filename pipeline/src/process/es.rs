//! The Elasticsearch output: `_bulk` requests with Logstash's retry rules (`bulk` classifies the
//! answer). Items answered 429 or 5xx, and whole requests that fail, are sent again with a capped
//! exponential backoff until they are in, or until shutdown interrupts (then nothing is
//! committed and the records come again: at least once). Items answered 400/404 are handed back
//! as dead letters; 409 counts as done.

use std::time::Duration;

use base64::Engine;

use crate::bulk::{self, Backoff, BulkDoc, BulkOutcome, ItemOutcome};
use crate::config::EsOutput;

#[derive(Debug, thiserror::Error)]
pub enum EsError {
    #[error("failed to read the Elasticsearch credentials file {path}: {reason}")]
    Password { path: String, reason: String },
    #[error("failed to read the Elasticsearch CA {path}: {reason}")]
    Ca { path: String, reason: String },
    #[error("failed to set up the HTTP client: {0}")]
    Client(String),
    #[error("interrupted by shutdown before Elasticsearch took every document")]
    Interrupted,
}

/// A document Elasticsearch refused for good (400/404): the pipeline dead-letters it.
#[derive(Debug, Clone)]
pub struct Refused {
    pub doc: BulkDoc,
    pub status: u16,
    pub error_type: String,
    pub reason: String,
}

/// What one `write` did, for the metrics.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    pub done: usize,
    pub conflicts: usize,
    pub retried: usize,
    pub requests: usize,
}

pub struct EsSink {
    client: reqwest::Client,
    hosts: Vec<String>,
    auth: Option<String>,
    next_host: usize,
    backoff: Backoff,
}

impl EsSink {
    pub fn new(c: &EsOutput) -> Result<EsSink, EsError> {
        let password = match (&c.password, &c.password_file) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(f)) => Some(std::fs::read_to_string(f).map_err(|e| EsError::Password { path: f.display().to_string(), reason: e.to_string() })?.trim_end().to_string()),
            (None, None) => None,
        };
        let user = match (&c.user, &c.user_file) {
            (Some(u), _) => Some(u.clone()),
            (None, Some(f)) => Some(std::fs::read_to_string(f).map_err(|e| EsError::Password { path: f.display().to_string(), reason: e.to_string() })?.trim_end().to_string()),
            (None, None) => None,
        };
        let auth = user.as_ref().map(|u| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{}", password.unwrap_or_default()))));
        let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).timeout(Duration::from_secs(60));
        if let Some(tls) = &c.tls {
            let pem = std::fs::read(&tls.ca).map_err(|e| EsError::Ca { path: tls.ca.display().to_string(), reason: e.to_string() })?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| EsError::Ca { path: tls.ca.display().to_string(), reason: e.to_string() })?;
            builder = builder.add_root_certificate(cert);
        }
        let client = builder.build().map_err(|e| EsError::Client(e.to_string()))?;
        let hosts = c.hosts.iter().map(|h| if h.starts_with("http://") || h.starts_with("https://") { h.trim_end_matches('/').to_string() } else { format!("http://{h}") }).collect();
        Ok(EsSink { client, hosts, auth, next_host: 0, backoff: Backoff { initial: c.retry_initial_interval.0, max: c.retry_max_interval.0 } })
    }

    /// One `_bulk` request; the answer classified per document.
    async fn send(&mut self, docs: &[BulkDoc]) -> BulkOutcome {
        let host = &self.hosts[self.next_host % self.hosts.len().max(1)];
        let mut req = self.client.post(format!("{host}/_bulk")).header("Content-Type", "application/x-ndjson").body(bulk::body(docs));
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp.bytes().await.unwrap_or_default();
                if status >= 500 || status == 429 {
                    self.next_host += 1;
                }
                bulk::classify(status, &body, docs.len())
            }
            Err(e) => {
                // the next attempt goes to the next host
                self.next_host += 1;
                tracing::warn!(host = %host, error = %error_chain(&e), "failed to send a _bulk request to Elasticsearch; retrying");
                bulk::classify(0, b"", docs.len())
            }
        }
    }

    /// Writes `docs` until each is in or refused for good; the refused ones are returned.
    pub async fn write(&mut self, mut docs: Vec<BulkDoc>, stop: &tokio::sync::watch::Receiver<bool>) -> Result<(Vec<Refused>, Written), EsError> {
        let mut refused = Vec::new();
        let mut w = Written::default();
        let mut attempt = 0u32;
        while !docs.is_empty() {
            w.requests += 1;
            let outcomes: Vec<ItemOutcome> = match self.send(&docs).await {
                BulkOutcome::AllDone => vec![ItemOutcome::Done; docs.len()],
                BulkOutcome::Items(items) => items,
                BulkOutcome::RetryAll { .. } => vec![ItemOutcome::Retry { status: 0, reason: String::new() }; docs.len()],
            };
            let mut again = Vec::new();
            for (doc, o) in docs.into_iter().zip(outcomes) {
                match o {
                    ItemOutcome::Done => w.done += 1,
                    ItemOutcome::Conflict => w.conflicts += 1,
                    ItemOutcome::Retry { .. } => again.push(doc),
                    ItemOutcome::DeadLetter { status, error_type, reason } => refused.push(Refused { doc, status, error_type, reason }),
                }
            }
            docs = again;
            if docs.is_empty() {
                break;
            }
            w.retried += docs.len();
            let delay = self.backoff.delay(attempt, rand::random::<f64>());
            attempt = attempt.saturating_add(1);
            let mut stop = stop.clone();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.wait_for(|s| *s) => return Err(EsError::Interrupted),
            }
        }
        Ok((refused, w))
    }
}

/// An error with its causes: reqwest's own message names only the URL ("error sending request for
/// url (...)"); what went wrong (connection refused, a certificate not signed by `tls.ca`, a
/// timeout) is in its sources.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        // some layers repeat their cause in their own message
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn std::error::Error + 'static))
        }
    }

    #[test]
    fn the_causes_are_in_the_message_once() {
        let e = Layer("error sending request", Some(Box::new(Layer("client error (Connect)", Some(Box::new(Layer("invalid peer certificate: UnknownIssuer", None)))))));
        assert_eq!(error_chain(&e), "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer");
        let repeated = Layer("connect failed: refused", Some(Box::new(Layer("refused", None))));
        assert_eq!(error_chain(&repeated), "connect failed: refused");
    }
}
