//! Strom's log pipeline: the pure cores.
//!
//! `ship` tails files into Kafka the way Filebeat does; `process` reads Kafka and writes Elasticsearch
//! the way Logstash does. This crate holds the parts that do no network I/O: the event, the
//! configuration (ours in YAML, and readers of existing `filebeat.yml` and Logstash pipeline files),
//! log parsing, routing, index naming, bulk request building and multiline joining.

pub mod bulk;
pub mod condition;
pub mod config;
pub mod event;
pub mod filebeat;
pub mod index;
pub mod joda;
pub mod logstash;
pub mod multiline;
pub mod parse;
pub mod registry;
pub mod route;
pub mod scan;
pub mod ship;
pub mod tail;
