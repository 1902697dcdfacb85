//! The group coordinator: the groups whose `__consumer_offsets` partition this broker leads, their
//! state machines, members blocked in JoinGroup/SyncGroup, and committed offsets (written to
//! `__consumer_offsets` before they are acknowledged, loaded from it when leadership arrives).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::offsets::{self, OffsetKey, OffsetValue};
use super::state::{Effect, Group, JoinOutcome, JoinRequest, JoinResult, State, SyncOutcome, SyncResult};
use crate::broker::{Broker, OFFSETS_TOPIC};
use crate::log::batch;
use crate::log::segment::now_ms;

pub const NOT_COORDINATOR: i16 = 16;
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
pub const NON_EMPTY_GROUP: i16 = 68;
pub const GROUP_ID_NOT_FOUND: i16 = 69;
pub const INVALID_GROUP_ID: i16 = 24;
pub const OFFSET_METADATA_TOO_LARGE: i16 = 12;

#[derive(Default)]
struct Slot {
    group: Option<Group>,
    offsets: BTreeMap<(String, i32), OffsetValue>,
    join_waiters: HashMap<String, oneshot::Sender<JoinResult>>,
    sync_waiters: HashMap<String, oneshot::Sender<SyncResult>>,
}

impl Slot {
    fn deliver(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Join(id, r) => {
                    if let Some(tx) = self.join_waiters.remove(&id) {
                        let _ = tx.send(r);
                    }
                }
                Effect::Sync(id, r) => {
                    if let Some(tx) = self.sync_waiters.remove(&id) {
                        let _ = tx.send(r);
                    }
                }
            }
        }
    }
}

#[derive(Default)]
struct Inner {
    groups: HashMap<String, Slot>,
    led: HashSet<i32>,
}

pub struct GroupCoordinator {
    partitions: i32,
    initial_delay_ms: i64,
    min_session_ms: i64,
    max_session_ms: i64,
    max_metadata: usize,
    inner: Mutex<Inner>,
}

/// A group as DescribeGroups shows it.
pub struct Described {
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol: String,
    /// (member id, instance id, client id, host, metadata, assignment)
    pub members: Vec<(String, Option<String>, String, String, Bytes, Bytes)>,
}

impl GroupCoordinator {
    pub fn new(partitions: i32, initial_delay_ms: i64, min_session_ms: i64, max_session_ms: i64) -> Arc<GroupCoordinator> {
        Arc::new(GroupCoordinator { partitions, initial_delay_ms, min_session_ms, max_session_ms, max_metadata: 4096, inner: Mutex::new(Inner::default()) })
    }

    pub fn partition_for(&self, group: &str) -> i32 {
        offsets::partition_for(group, self.partitions)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("group lock")
    }

    /// Ok when this broker coordinates `group`.
    pub fn check(&self, group: &str) -> Result<(), i16> {
        if self.lock().led.contains(&self.partition_for(group)) {
            Ok(())
        } else {
            Err(NOT_COORDINATOR)
        }
    }

    /// Loads groups of newly led offsets partitions; forgets groups of partitions led elsewhere.
    pub fn set_led_partitions(&self, led: &[i32], broker: &Broker) {
        let current: HashSet<i32> = led.iter().copied().collect();
        let newly: Vec<i32> = {
            let inner = self.lock();
            current.difference(&inner.led).copied().collect()
        };
        type Loaded = (i32, Vec<(OffsetKey, Option<OffsetValue>)>);
        let mut loaded: Vec<Loaded> = Vec::new();
        for p in newly {
            let Ok((log, _)) = broker.leader_log(OFFSETS_TOPIC, p) else { continue };
            let mut recs = Vec::new();
            let res = log.lock().expect("log lock").for_each_batch(|_, b| {
                if let Ok(rs) = batch::records(b) {
                    for (_, _, k, v) in rs {
                        if let Some(k) = k.and_then(offsets::decode_key) {
                            recs.push((k, v.and_then(offsets::decode_value)));
                        }
                    }
                }
            });
            if let Err(e) = res {
                tracing::error!(partition = p, error = %e, "failed to load committed offsets");
                continue;
            }
            loaded.push((p, recs));
        }
        let mut inner = self.lock();
        let parts = self.partitions;
        inner.groups.retain(|g, _| current.contains(&offsets::partition_for(g, parts)));
        inner.led.retain(|p| current.contains(p));
        for (p, recs) in loaded {
            let n = recs.len();
            for (k, v) in recs {
                let slot = inner.groups.entry(k.group.clone()).or_default();
                match v {
                    Some(v) => {
                        slot.offsets.insert((k.topic, k.partition), v);
                    }
                    None => {
                        slot.offsets.remove(&(k.topic, k.partition));
                    }
                }
            }
            inner.groups.retain(|_, s| s.group.is_some() || !s.offsets.is_empty());
            inner.led.insert(p);
            tracing::info!(partition = p, records = n, "loaded group offsets; coordinating its groups");
        }
    }

    pub async fn join(&self, group: &str, req: JoinRequest) -> JoinResult {
        if let Err(e) = self.check(group) {
            return JoinResult::error(e, &req.member_id);
        }
        if group.is_empty() {
            return JoinResult::error(INVALID_GROUP_ID, &req.member_id);
        }
        let wait = Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64 + 5000);
        let rx = {
            let mut inner = self.lock();
            let slot = inner.groups.entry(group.to_string()).or_default();
            let g = slot.group.get_or_insert_with(|| Group::new(group, self.initial_delay_ms));
            let generation = g.generation;
            let (outcome, effects) = g.join(req.clone(), now_ms(), self.min_session_ms, self.max_session_ms);
            if g.generation != generation {
                tracing::info!(group, generation = g.generation, members = g.members.len(), leader = ?g.leader, "group rebalanced");
            }
            slot.deliver(effects);
            match outcome {
                JoinOutcome::Now(r) => {
                    tracing::debug!(group, member = %r.member_id, error = r.error, generation = r.generation, "join answered at once");
                    return r;
                }
                JoinOutcome::Wait(id) => {
                    let (tx, rx) = oneshot::channel();
                    slot.join_waiters.insert(id, tx);
                    rx
                }
            }
        };
        let r = match tokio::time::timeout(wait, rx).await {
            Ok(Ok(r)) => r,
            _ => JoinResult::error(super::state::REBALANCE_IN_PROGRESS, &req.member_id),
        };
        tracing::debug!(group, member = %r.member_id, error = r.error, generation = r.generation, "join answered after waiting");
        r
    }

    pub async fn sync(&self, group: &str, member: &str, generation: i32, assignments: Vec<(String, Bytes)>) -> SyncResult {
        let err = |e| SyncResult { error: e, protocol_type: None, protocol_name: None, assignment: Bytes::new() };
        if let Err(e) = self.check(group) {
            return err(e);
        }
        let rx = {
            let mut inner = self.lock();
            let Some(slot) = inner.groups.get_mut(group) else { return err(super::state::UNKNOWN_MEMBER_ID) };
            let Some(g) = slot.group.as_mut() else { return err(super::state::UNKNOWN_MEMBER_ID) };
            let (outcome, effects) = g.sync(member, generation, assignments, now_ms());
            tracing::debug!(group, member, generation, state = g.state.name(), now = matches!(outcome, SyncOutcome::Now(_)), "sync");
            slot.deliver(effects);
            match outcome {
                SyncOutcome::Now(r) => return r,
                SyncOutcome::Wait => {
                    let (tx, rx) = oneshot::channel();
                    slot.sync_waiters.insert(member.to_string(), tx);
                    rx
                }
            }
        };
        match tokio::time::timeout(Duration::from_secs(300), rx).await {
            Ok(Ok(r)) => r,
            _ => err(super::state::REBALANCE_IN_PROGRESS),
        }
    }

    pub fn heartbeat(&self, group: &str, member: &str, generation: i32) -> i16 {
        if let Err(e) = self.check(group) {
            return e;
        }
        let mut inner = self.lock();
        let code = match inner.groups.get_mut(group).and_then(|s| s.group.as_mut()) {
            Some(g) => g.heartbeat(member, generation, now_ms()),
            None => super::state::UNKNOWN_MEMBER_ID,
        };
        tracing::debug!(group, member, generation, code, "heartbeat");
        code
    }

    pub fn leave(&self, group: &str, members: &[(String, Option<String>)]) -> Result<Vec<i16>, i16> {
        self.check(group)?;
        let mut inner = self.lock();
        let Some(slot) = inner.groups.get_mut(group) else { return Ok(vec![super::state::UNKNOWN_MEMBER_ID; members.len()]) };
        let Some(g) = slot.group.as_mut() else { return Ok(vec![super::state::UNKNOWN_MEMBER_ID; members.len()]) };
        let (codes, effects) = g.leave(members, now_ms());
        slot.deliver(effects);
        Ok(codes)
    }

    /// Commits offsets: written to `__consumer_offsets`, then (`commit_replicated`) recorded once
    /// the in-sync replicas have them, as Kafka does (offsets.commit.required.acks=-1). Returns
    /// one code per entry and what to wait for.
    pub fn commit(&self, broker: &Broker, group: &str, member: &str, generation: i32, entries: &[(String, i32, i64, i32, String)]) -> PendingCommit {
        let all = |e: i16| PendingCommit { codes: vec![e; entries.len()], wait: None, values: Vec::new() };
        if let Err(e) = self.check(group) {
            return all(e);
        }
        {
            let mut inner = self.lock();
            let slot = inner.groups.entry(group.to_string()).or_default();
            if let Some(g) = slot.group.as_ref() {
                if let Err(e) = g.is_member(member, generation) {
                    return all(e);
                }
            } else if !member.is_empty() || generation >= 0 {
                return all(super::state::UNKNOWN_MEMBER_ID);
            }
        }
        let now = now_ms();
        let mut codes = Vec::with_capacity(entries.len());
        let mut keyed: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for (t, p, o, e, m) in entries {
            if m.len() > self.max_metadata {
                codes.push(OFFSET_METADATA_TOO_LARGE);
                continue;
            }
            codes.push(0);
            let k = offsets::encode_key(&OffsetKey { group: group.into(), topic: t.clone(), partition: *p });
            let v = offsets::encode_value(&OffsetValue { offset: *o, leader_epoch: *e, metadata: m.clone(), commit_timestamp: now });
            keyed.push((k, v));
        }
        let mut wait = None;
        if !keyed.is_empty() {
            match self.write(broker, group, &keyed.iter().map(|(k, v)| (k.as_slice(), Some(v.as_slice()))).collect::<Vec<_>>()) {
                Ok(w) => wait = Some(w),
                Err(e) => return all(e),
            }
        }
        let values = entries.iter().zip(&codes).filter(|(_, c)| **c == 0).map(|((t, p, o, e, m), _)| ((t.clone(), *p), OffsetValue { offset: *o, leader_epoch: *e, metadata: m.clone(), commit_timestamp: now })).collect();
        PendingCommit { codes, wait, values }
    }

    /// The commit's records are on every in-sync replica: the offsets count from now on.
    pub fn commit_replicated(&self, group: &str, values: Vec<((String, i32), OffsetValue)>) {
        let mut inner = self.lock();
        let slot = inner.groups.entry(group.to_string()).or_default();
        for (k, v) in values {
            slot.offsets.insert(k, v);
        }
    }

}

/// An offset commit written but not yet acknowledged.
pub struct PendingCommit {
    pub codes: Vec<i16>,
    /// (partition, offset the high watermark must reach, leader epoch).
    pub wait: Option<(crate::log::TopicPartition, i64, i32)>,
    pub values: Vec<((String, i32), OffsetValue)>,
}

impl GroupCoordinator {
    /// Appends to the group's `__consumer_offsets` partition; returns what to wait for before
    /// acknowledging (partition, offset the high watermark must reach, leader epoch).
    fn write(&self, broker: &Broker, group: &str, records: &[(&[u8], Option<&[u8]>)]) -> Result<(crate::log::TopicPartition, i64, i32), i16> {
        let p = self.partition_for(group);
        let (log, epoch) = broker.leader_log(OFFSETS_TOPIC, p).map_err(|_| NOT_COORDINATOR)?;
        let recs: Vec<batch::KeyValue<'_>> = records.iter().map(|(k, v)| (Some(*k), *v)).collect();
        let data = batch::build(&recs, now_ms());
        let batches = batch::split_batches(&data, usize::MAX).map_err(|_| COORDINATOR_NOT_AVAILABLE)?;
        let tp = crate::log::TopicPartition::new(OFFSETS_TOPIC, p);
        let res = {
            let mut l = log.lock().expect("log lock");
            let res = l.append(data, &batches, epoch);
            broker.replicas.after_append(&tp, &mut l);
            res
        };
        broker.logs.notify_appended();
        res.map(|a| (tp, a.last_offset + 1, epoch)).map_err(|e| {
            tracing::error!(group, error = %e, "failed to write committed offsets");
            COORDINATOR_NOT_AVAILABLE
        })
    }

    /// Committed offsets: the requested partitions, or all of the group's when `None`.
    pub fn fetch(&self, group: &str, wanted: Option<&[(String, i32)]>) -> Result<Vec<(String, i32, Option<OffsetValue>)>, i16> {
        self.check(group)?;
        let inner = self.lock();
        let slot = inner.groups.get(group);
        Ok(match wanted {
            Some(w) => w.iter().map(|(t, p)| (t.clone(), *p, slot.and_then(|s| s.offsets.get(&(t.clone(), *p)).cloned()))).collect(),
            None => slot.map(|s| s.offsets.iter().map(|((t, p), v)| (t.clone(), *p, Some(v.clone()))).collect()).unwrap_or_default(),
        })
    }

    /// (group, protocol type, state) of every group coordinated here.
    pub fn list(&self) -> Vec<(String, String, &'static str)> {
        let inner = self.lock();
        let mut out: Vec<_> = inner
            .groups
            .iter()
            .map(|(id, s)| match &s.group {
                Some(g) => (id.clone(), g.protocol_type.clone().unwrap_or_else(|| "consumer".into()), g.state.name()),
                None => (id.clone(), "consumer".into(), State::Empty.name()),
            })
            .collect();
        out.sort();
        out
    }

    pub fn describe(&self, group: &str) -> Result<Described, i16> {
        self.check(group)?;
        let inner = self.lock();
        let Some(g) = inner.groups.get(group).and_then(|s| s.group.as_ref()) else {
            let state = if inner.groups.contains_key(group) { "Empty" } else { "Dead" };
            return Ok(Described { state, protocol_type: if state == "Empty" { "consumer".into() } else { String::new() }, protocol: String::new(), members: vec![] });
        };
        let proto = g.protocol_name.clone().unwrap_or_default();
        Ok(Described {
            state: g.state.name(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if g.state == State::Stable || g.state == State::CompletingRebalance { proto.clone() } else { String::new() },
            members: g.members.values().map(|m| (m.member_id.clone(), m.instance_id.clone(), m.client_id.clone(), m.client_host.clone(), m.metadata_for(&proto), m.assignment.clone())).collect(),
        })
    }

    /// DeleteGroups: only empty groups; their offsets get tombstones.
    pub fn delete(&self, broker: &Broker, group: &str) -> i16 {
        if let Err(e) = self.check(group) {
            return e;
        }
        let keys: Vec<Vec<u8>> = {
            let inner = self.lock();
            let Some(slot) = inner.groups.get(group) else { return GROUP_ID_NOT_FOUND };
            if slot.group.as_ref().is_some_and(|g| !g.members.is_empty()) {
                return NON_EMPTY_GROUP;
            }
            slot.offsets.keys().map(|(t, p)| offsets::encode_key(&OffsetKey { group: group.into(), topic: t.clone(), partition: *p })).collect()
        };
        if !keys.is_empty() {
            let recs: Vec<(&[u8], Option<&[u8]>)> = keys.iter().map(|k| (k.as_slice(), None)).collect();
            if let Err(e) = self.write(broker, group, &recs) {
                return e;
            }
        }
        self.lock().groups.remove(group);
        0
    }

    /// Session timeouts and rebalance deadlines, forever.
    pub async fn run_ticker(self: Arc<Self>) {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = now_ms();
            let mut inner = self.lock();
            for slot in inner.groups.values_mut() {
                let Some(g) = slot.group.as_mut() else { continue };
                let (members, generation) = (g.members.len(), g.generation);
                let effects = g.tick(now);
                if g.members.len() != members || g.generation != generation {
                    tracing::info!(group = %g.id, generation = g.generation, members = g.members.len(), state = g.state.name(), "group changed by session expiry or rebalance timeout");
                }
                slot.deliver(effects);
            }
        }
    }
}
