//! The broker's shared state: configuration, cluster view, logs, groups, producer ids; and the
//! replica manager step that keeps local logs in line with the cluster's assignment.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;

use crate::cluster::metadata::Snapshot;
use crate::cluster::zk::Cluster;
use crate::cluster::znodes::uuid_to_string;
use crate::config::BrokerConfig;
use crate::group::coordinator::GroupCoordinator;
use crate::log::manager::{LogManager, SharedLog};
use crate::log::{LogConfig, TopicPartition};

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

pub struct Broker {
    pub config: Arc<BrokerConfig>,
    pub cluster: Arc<Cluster>,
    pub logs: Arc<LogManager>,
    pub groups: Arc<GroupCoordinator>,
    pub replicas: crate::replication::ReplicaManager,
    producer_ids: tokio::sync::Mutex<(i64, i64)>,
}

/// Why a partition cannot take a request here, as a Kafka error.
pub fn err(e: ResponseError) -> i16 {
    e.code()
}

impl Broker {
    pub fn new(config: Arc<BrokerConfig>, cluster: Arc<Cluster>, logs: Arc<LogManager>, groups: Arc<GroupCoordinator>) -> Arc<Broker> {
        let replicas = crate::replication::ReplicaManager::new(config.broker_id);
        Arc::new(Broker { config, cluster, logs, groups, replicas, producer_ids: tokio::sync::Mutex::new((0, -1)) })
    }

    pub fn id(&self) -> i32 {
        self.config.broker_id
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.cluster.snapshot()
    }

    /// Effective log config of a topic (broker defaults + the topic's overrides).
    pub fn log_config(&self, overrides: &BTreeMap<String, String>) -> LogConfig {
        LogConfig::resolve(&self.config.log, overrides).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "ignoring invalid topic config");
            LogConfig::resolve(&self.config.log, &BTreeMap::new()).expect("broker defaults are valid")
        })
    }

    /// The local log of a partition this broker leads, or the Kafka error why not.
    pub fn leader_log(&self, topic: &str, partition: i32) -> Result<(SharedLog, i32), i16> {
        let snap = self.snapshot();
        let Some(t) = snap.topics.get(topic) else { return Err(err(ResponseError::UnknownTopicOrPartition)) };
        let Some(p) = usize::try_from(partition).ok().and_then(|i| t.partitions.get(i)) else {
            return Err(err(ResponseError::UnknownTopicOrPartition));
        };
        if p.leader != self.id() {
            return Err(err(ResponseError::NotLeaderOrFollower));
        }
        let tp = TopicPartition::new(topic, partition);
        // The topic's config is resolved only when the log has to be opened (not per request).
        match self.logs.get_or_create(&tp, || self.log_config(&t.config), &uuid_to_string(&t.id)) {
            Ok(l) => Ok((l, p.leader_epoch)),
            Err(e) => {
                tracing::error!(partition = %tp, error = %e, "cannot open log");
                Err(err(ResponseError::KafkaStorageError))
            }
        }
    }

    /// The local log of a partition this broker holds a replica of (leader or follower), with the
    /// leader epoch it knows: for reads Kafka lets followers serve (a consumer with a rack, KIP-392;
    /// the debugging replica id of ListOffsets).
    pub fn replica_log(&self, topic: &str, partition: i32) -> Result<(SharedLog, i32), i16> {
        match self.leader_log(topic, partition) {
            Ok(l) => Ok(l),
            Err(code) if code == ResponseError::NotLeaderOrFollower.code() => {
                let tp = TopicPartition::new(topic, partition);
                let follow = self.replicas.follow_of(&tp).ok_or(code)?;
                let log = self.logs.get(&tp).ok_or(code)?;
                Ok((log, follow.epoch))
            }
            Err(code) => Err(code),
        }
    }

    /// Replica manager: opens logs for partitions assigned here, leads or follows each as the
    /// partition state says, applies config changes, removes logs of deleted topics, and tells
    /// the group coordinator which offsets partitions it leads.
    pub fn sync_with_cluster(&self) {
        let snap = self.snapshot();
        let me = self.id();
        for t in snap.topics.values() {
            let cfg = self.log_config(&t.config);
            for (i, p) in t.partitions.iter().enumerate() {
                if !p.replicas.contains(&me) {
                    continue;
                }
                let tp = TopicPartition::new(t.name.clone(), i as i32);
                match self.logs.get_or_create(&tp, || cfg.clone(), &uuid_to_string(&t.id)) {
                    Ok(log) => {
                        if p.leader == me {
                            let mut l = log.lock().expect("log lock");
                            self.replicas.become_leader(&tp, &mut l, p.leader_epoch, &p.replicas, &p.isr, p.state_version);
                        } else {
                            self.replicas.become_follower(&tp, p.leader, p.leader_epoch);
                        }
                    }
                    Err(e) => tracing::error!(partition = %tp, error = %e, "cannot open log"),
                }
            }
            self.logs.set_config(&t.name, &cfg);
        }
        for tp in self.logs.partitions() {
            let gone = match snap.topics.get(&tp.topic) {
                None => true,
                Some(t) => usize::try_from(tp.partition).ok().and_then(|i| t.partitions.get(i)).is_none_or(|p| !p.replicas.contains(&me)),
            };
            if gone {
                self.replicas.forget(&tp);
                if let Err(e) = self.logs.delete(&tp) {
                    tracing::error!(partition = %tp, error = %e, "failed to delete log");
                }
            }
        }
        // acks=-1 waiters re-check their leadership now: one whose partition moved away must
        // answer NOT_LEADER_OR_FOLLOWER at once (the producer retries on the new leader, which
        // knows the batch), not sleep until its timeout because this broker takes no more writes.
        self.logs.notify_appended();
        let led: Vec<i32> = snap
            .topics
            .get(OFFSETS_TOPIC)
            .map(|t| t.partitions.iter().enumerate().filter(|(_, p)| p.leader == me).map(|(i, _)| i as i32).collect())
            .unwrap_or_default();
        self.groups.set_led_partitions(&led, self);
    }

    /// As a partition leader, every `replica.lag.time.max.ms / 4`: followers that lag leave the
    /// ISR and followers that caught up join it, each change committed to the coordinator
    /// (conditionally on the state znode's version) before it counts. Runs forever.
    pub async fn maintain_isr(self: Arc<Self>) {
        let lag = self.config.replica_lag_time_max_ms;
        let every = std::time::Duration::from_millis((lag / 4).clamp(50, 5_000) as u64);
        loop {
            tokio::time::sleep(every).await;
            let ends = |tp: &TopicPartition| self.logs.get(tp).map(|l| {
                let l = l.lock().expect("log lock");
                (l.next_offset, l.high_watermark)
            });
            let leaving = self.snapshot().shutting_down.clone();
            for c in self.replicas.isr_changes(&ends, lag, &leaving) {
                let snap = self.snapshot();
                let controller_epoch = snap.topics.get(&c.tp.topic).and_then(|t| t.partitions.get(c.tp.partition as usize)).map_or(snap.controller_epoch, |p| p.controller_epoch);
                let state = crate::cluster::znodes::PartitionState { controller_epoch, leader: self.id(), version: 1, leader_epoch: c.epoch, isr: c.isr.clone() };
                match self.cluster.write_isr(&c.tp.topic, c.tp.partition, &state, c.state_version).await {
                    Ok(version) => {
                        if let Some(log) = self.logs.get(&c.tp) {
                            let advanced = self.replicas.isr_committed(&c, version, &mut log.lock().expect("log lock"));
                            if advanced {
                                self.logs.notify_appended();
                            }
                        }
                    }
                    Err(e) => {
                        tracing::info!(partition = %c.tp, isr = ?c.isr, error = %e, "ISR change not committed");
                        self.replicas.isr_failed(&c);
                    }
                }
            }
        }
    }

    /// acks=-1: waits until every in-sync replica has each append (the high watermark passed it),
    /// as Kafka's delayed produce does: NOT_LEADER_OR_FOLLOWER when leadership moved meanwhile,
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below min.insync.replicas, and
    /// REQUEST_TIMED_OUT after `timeout`. Each wait is (partition, the offset the high watermark
    /// must reach, the leader epoch of the append); returns an error code (0: replicated) per wait.
    pub async fn wait_replicated(&self, waits: &[(TopicPartition, i64, i32)], timeout: std::time::Duration) -> Vec<i16> {
        let b = self;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut appends = b.logs.subscribe_appends();
        let mut out: Vec<Option<i16>> = vec![None; waits.len()];
        loop {
            appends.borrow_and_update();
            for (i, (tp, need, epoch)) in waits.iter().enumerate() {
                if out[i].is_some() {
                    continue;
                }
                let Some((_, isr)) = b.replicas.leadership(tp).filter(|(e, _)| e == epoch) else {
                    out[i] = Some(ResponseError::NotLeaderOrFollower.code());
                    continue;
                };
                    let Some(log) = b.logs.get(tp) else {
                    out[i] = Some(ResponseError::NotLeaderOrFollower.code());
                    continue;
                };
                let l = log.lock().expect("log lock");
                if l.high_watermark >= *need {
                    let min = l.config.min_insync_replicas;
                    out[i] = Some(if (isr.len() as i32) < min { ResponseError::NotEnoughReplicasAfterAppend.code() } else { 0 });
                }
            }
            if out.iter().all(Option::is_some) {
                break;
            }
            tokio::select! {
                _ = appends.changed() => {}
                _ = tokio::time::sleep_until(deadline) => {
                    for o in out.iter_mut().filter(|o| o.is_none()) {
                        *o = Some(ResponseError::RequestTimedOut.code());
                    }
                    break;
                }
            }
        }
        out.into_iter().map(|c| c.unwrap_or(0)).collect()
    }

    /// Next producer id, reserving blocks of 1000 in the coordinator.
    pub async fn next_producer_id(&self) -> Result<i64, String> {
        let mut ids = self.producer_ids.lock().await;
        if ids.0 > ids.1 {
            let (start, end) = self.cluster.allocate_producer_ids().await.map_err(|e| e.to_string())?;
            *ids = (start, end);
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    /// Creates `__consumer_offsets` when first needed (as Kafka does on FindCoordinator).
    pub async fn ensure_offsets_topic(&self) -> Result<(), i16> {
        if self.snapshot().topics.contains_key(OFFSETS_TOPIC) {
            return Ok(());
        }
        let brokers = self.snapshot().live_broker_ids();
        let rf = self.config.offsets_topic_replication_factor;
        let replicas = crate::cluster::znodes::assign_replicas_racks(&brokers, &self.snapshot().racks(), self.config.offsets_topic_num_partitions, rf, rand::random::<u32>() as usize % brokers.len().max(1), 0)
            .map_err(|e| {
                tracing::warn!(error = %e, "cannot create {OFFSETS_TOPIC} yet (offsets.topic.replication.factor={rf})");
                err(ResponseError::CoordinatorNotAvailable)
            })?;
        let cfg: BTreeMap<String, String> = [("cleanup.policy".to_string(), "compact".to_string()), ("segment.bytes".to_string(), "104857600".to_string())].into();
        match self.cluster.create_topic(OFFSETS_TOPIC, &replicas, &cfg).await {
            Ok(()) => {}
            Err(crate::cluster::zk::ClusterError::Refused(_)) => {}
            Err(e) => {
                tracing::warn!(error = %e, "failed to create {OFFSETS_TOPIC}");
                return Err(err(ResponseError::CoordinatorNotAvailable));
            }
        }
        self.sync_with_cluster();
        Ok(())
    }
}
