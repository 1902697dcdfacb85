//! The `process` role (Logstash's job): Kafka records → events → filters → outputs, with the
//! consumer's offsets committed only after every output has taken the events up to them.
//! `decode` and `filter` are pure; `es`, `sink` and `run` do the I/O.

pub mod decode;
pub mod es;
pub mod filter;
pub mod metrics;
pub mod run;
pub mod sink;
