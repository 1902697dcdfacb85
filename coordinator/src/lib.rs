//! strom-coordinator: a ZooKeeper-compatible coordination server.
//!
//! Layers, from the wire inwards: `proto` (jute codec and records, no I/O) → `server`
//! (tokio: connections, processor loop, admin) → `processor` (sessions, requests into
//! transactions and replies) → `storage` (durable log and snapshots) → `tree` (the
//! deterministic state machine) and `watches`.

pub mod config;
pub mod consensus;
pub mod membership;
pub mod processor;
pub mod proto;
pub mod server;
pub mod storage;
pub mod tree;
pub mod txn;
pub mod watches;
