//! Strom's log pipeline.
//!
//! `ship` tails files into Kafka the way Filebeat does; `process` reads Kafka and writes Elasticsearch
//! the way Logstash does. The pure cores do no I/O: the event, the configuration (ours in YAML, and
//! readers of existing `filebeat.yml` and Logstash pipeline files), log parsing, routing, index
//! naming, bulk request building, multiline joining, the offsets registry's bookkeeping, the
//! process filters and record decoding. `tail`, `ship`, `process::{es,sink,run}` and
//! `metrics_http` do the I/O.

pub mod bulk;
pub mod condition;
pub mod config;
pub mod event;
pub mod filebeat;
pub mod index;
pub mod joda;
pub mod logstash;
pub mod metrics_http;
pub mod multiline;
pub mod parse;
pub mod process;
pub mod registry;
pub mod route;
pub mod scan;
pub mod ship;
pub mod tail;
