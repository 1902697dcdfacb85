//! The ZooKeeper client wire protocol, sans I/O: jute encoding, frames, records, constants.

pub mod codes;
pub mod frame;
pub mod jute;
pub mod records;
