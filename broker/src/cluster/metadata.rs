//! The broker's view of the cluster, rebuilt from the coordinator on every change. Pure data.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::znodes::BrokerRegistration;

#[derive(Debug, Clone)]
pub struct PartitionInfo {
    pub replicas: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    /// The controller epoch recorded with the state, and the state znode's version (-1: no
    /// state znode yet).
    pub controller_epoch: i32,
    pub state_version: i32,
    /// A reassignment in progress: replicas being added and removed.
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

impl PartitionInfo {
    pub fn state(&self) -> super::znodes::PartitionState {
        super::znodes::PartitionState { controller_epoch: self.controller_epoch, leader: self.leader, version: 1, leader_epoch: self.leader_epoch, isr: self.isr.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct TopicInfo {
    pub name: String,
    pub id: [u8; 16],
    pub partitions: Vec<PartitionInfo>,
    pub config: BTreeMap<String, String>,
    /// Version of the topic's assignment znode (for conditional updates).
    pub assignment_version: i32,
}

impl TopicInfo {
    /// The assignment znode's content for this view (with reassignments in progress).
    pub fn assignment(&self) -> super::znodes::TopicAssignment {
        let key = |i: usize| i.to_string();
        super::znodes::TopicAssignment {
            partitions: self.partitions.iter().enumerate().map(|(i, p)| (key(i), p.replicas.clone())).collect(),
            topic_id: Some(super::znodes::uuid_to_string(&self.id)),
            adding_replicas: self.partitions.iter().enumerate().filter(|(_, p)| !p.adding.is_empty()).map(|(i, p)| (key(i), p.adding.clone())).collect(),
            removing_replicas: self.partitions.iter().enumerate().filter(|(_, p)| !p.removing.is_empty()).map(|(i, p)| (key(i), p.removing.clone())).collect(),
            version: 3,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    pub topics: BTreeMap<String, Arc<TopicInfo>>,
    pub controller: i32,
    pub controller_epoch: i32,
    /// Version of the `/controller_epoch` znode: the controller's writes check it.
    pub controller_epoch_version: i32,
    /// Brokers in controlled shutdown (registered, and asking to be drained).
    pub shutting_down: std::collections::BTreeSet<i32>,
    pub cluster_id: String,
}

impl Snapshot {
    pub fn topic_by_id(&self, id: &[u8; 16]) -> Option<&Arc<TopicInfo>> {
        self.topics.values().find(|t| &t.id == id)
    }

    /// The partition's leader when that broker is alive.
    pub fn live_leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let t = self.topics.get(topic)?;
        let p = t.partitions.get(usize::try_from(partition).ok()?)?;
        (p.leader >= 0 && self.brokers.contains_key(&p.leader)).then_some(p.leader)
    }

    pub fn live_broker_ids(&self) -> Vec<i32> {
        self.brokers.keys().copied().collect()
    }

    /// `broker.rack` of the live brokers that have one.
    pub fn racks(&self) -> BTreeMap<i32, String> {
        self.brokers.iter().filter_map(|(id, r)| r.rack.clone().map(|rack| (*id, rack))).collect()
    }
}
