//! Client configuration shared by every command, and the error type.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;

use crate::Bootstrap;

#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error("{0}")]
    Kafka(String),
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<KafkaError> for CtlError {
    fn from(e: KafkaError) -> Self {
        CtlError::Kafka(describe(&e))
    }
}

/// One readable line for a client error.
pub fn describe(e: &KafkaError) -> String {
    match e.rdkafka_error_code() {
        Some(code) => format!("{e} ({code:?})"),
        None => e.to_string(),
    }
}

pub fn config(b: &Bootstrap) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &b.bootstrap_server)
        .set("socket.timeout.ms", (b.timeout * 1000).to_string())
        .set("log_level", "3")
        .set("client.id", "stromctl");
    c
}

pub fn timeout(b: &Bootstrap) -> Duration {
    Duration::from_secs(b.timeout)
}

/// Parses `key=value` pairs.
pub fn pairs(items: &[String]) -> Result<Vec<(String, String)>, CtlError> {
    items
        .iter()
        .map(|i| i.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| CtlError::Usage(format!("expected key=value, got {i:?}"))))
        .collect()
}
