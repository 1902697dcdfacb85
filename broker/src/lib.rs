//! Strom's Kafka-compatible broker.
//!
//! - `wire`: framing and version negotiation (sans-io), codecs from the `kafka-protocol` crate;
//! - `handlers`: one module per Kafka API;
//! - `log`: partition logs in Kafka's on-disk format (pure batch parsing, segments, retention);
//! - `group`: consumer groups (pure state machine, offsets records, coordinator);
//! - `cluster`: metadata in the coordinator in Kafka's ZooKeeper layout;
//! - `replication`: leaders and followers per partition, ISR, high watermark (Kafka's replica manager);
//! - `server`: tokio listeners and connections.

pub mod broker;
pub mod cluster;
pub mod config;
pub mod group;
pub mod handlers;
pub mod log;
pub mod rack;
pub mod replication;
pub mod server;
pub mod wire;

/// The version reported by `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
