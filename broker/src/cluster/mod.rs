//! Cluster metadata kept in the coordinator (Kafka's ZooKeeper layout) and the broker's view of it.

pub mod controller;
pub mod metadata;
pub mod zk;
pub mod znodes;
