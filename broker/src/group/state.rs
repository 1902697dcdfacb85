//! One consumer group's state machine (Kafka's classic rebalance protocol), pure: time comes in as
//! milliseconds, and answers to members waiting in JoinGroup/SyncGroup come out as `Effect`s.
//!
//! Empty → (join) PreparingRebalance → (all members joined, or rebalance timeout) CompletingRebalance
//! → (leader's SyncGroup) Stable → (join of a new member, leave, session expiry) PreparingRebalance.

use std::collections::BTreeMap;

use bytes::Bytes;

pub const UNKNOWN_MEMBER_ID: i16 = 25;
pub const ILLEGAL_GENERATION: i16 = 22;
pub const REBALANCE_IN_PROGRESS: i16 = 27;
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
pub const INVALID_SESSION_TIMEOUT: i16 = 26;
pub const MEMBER_ID_REQUIRED: i16 = 79;
pub const FENCED_INSTANCE_ID: i16 = 82;
pub const UNKNOWN_SERVER_ERROR: i16 = -1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Empty => "Empty",
            State::PreparingRebalance => "PreparingRebalance",
            State::CompletingRebalance => "CompletingRebalance",
            State::Stable => "Stable",
            State::Dead => "Dead",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Member {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i64,
    pub rebalance_timeout_ms: i64,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub last_heartbeat_ms: i64,
    pub awaiting_join: bool,
    pub awaiting_sync: bool,
}

impl Member {
    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(n, _)| n == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    pub error: i16,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// (member id, instance id, metadata): only for the leader.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    pub fn error(error: i16, member_id: &str) -> JoinResult {
        JoinResult { error, generation: -1, protocol_type: None, protocol_name: None, leader: String::new(), member_id: member_id.to_string(), members: vec![] }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResult {
    pub error: i16,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    fn error(error: i16) -> SyncResult {
        SyncResult { error, protocol_type: None, protocol_name: None, assignment: Bytes::new() }
    }
}

/// An answer for a member blocked in JoinGroup or SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Join(String, JoinResult),
    Sync(String, SyncResult),
}

pub enum JoinOutcome {
    Now(JoinResult),
    /// Wait for the rebalance to complete (an `Effect::Join` for this member id).
    Wait(String),
}

pub enum SyncOutcome {
    Now(SyncResult),
    Wait,
}

#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i64,
    pub rebalance_timeout_ms: i64,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new member first gets MEMBER_ID_REQUIRED with its id.
    pub require_known_member_id: bool,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub state: State,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub generation: i32,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, until they join (or this deadline passes).
    pub pending_members: BTreeMap<String, i64>,
    pub static_members: BTreeMap<String, String>,
    rebalance_deadline_ms: i64,
    /// The first rebalance of an empty group waits `group.initial.rebalance.delay.ms` for more
    /// members before completing.
    initial_until_ms: i64,
    initial_delay_ms: i64,
    next_member: u64,
}

impl Group {
    pub fn new(id: &str, initial_delay_ms: i64) -> Group {
        Group {
            id: id.to_string(),
            state: State::Empty,
            protocol_type: None,
            protocol_name: None,
            generation: 0,
            leader: None,
            members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            rebalance_deadline_ms: 0,
            initial_until_ms: 0,
            initial_delay_ms,
            next_member: 0,
        }
    }

    fn new_member_id(&mut self, client_id: &str, instance_id: Option<&str>) -> String {
        self.next_member += 1;
        let r: u64 = rand::random();
        format!("{}-{:08x}-{:016x}", instance_id.unwrap_or(client_id), self.next_member, r)
    }

    fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type) && protocols.iter().any(|(n, _)| self.members.values().all(|m| m.protocols.iter().any(|(mn, _)| mn == n)))
    }

    pub fn join(&mut self, req: JoinRequest, now: i64, min_session: i64, max_session: i64) -> (JoinOutcome, Vec<Effect>) {
        if req.session_timeout_ms < min_session || req.session_timeout_ms > max_session {
            return (JoinOutcome::Now(JoinResult::error(INVALID_SESSION_TIMEOUT, &req.member_id)), vec![]);
        }
        if !self.supports(&req.protocol_type, &req.protocols) {
            return (JoinOutcome::Now(JoinResult::error(INCONSISTENT_GROUP_PROTOCOL, &req.member_id)), vec![]);
        }
        let mut effects = Vec::new();
        let member_id = if req.member_id.is_empty() {
            if let Some(inst) = req.instance_id.as_deref() {
                // A static member restarting: it takes over its old member id's place.
                let new_id = self.new_member_id(&req.client_id, Some(inst));
                if let Some(old) = self.static_members.get(inst).cloned() {
                    if let Some(mut m) = self.members.remove(&old) {
                        effects.extend(self.fence(&old));
                        m.member_id = new_id.clone();
                        m.protocols = req.protocols.clone();
                        m.last_heartbeat_ms = now;
                        let unchanged = self.state == State::Stable;
                        if self.leader.as_deref() == Some(old.as_str()) {
                            self.leader = Some(new_id.clone());
                        }
                        self.members.insert(new_id.clone(), m);
                        self.static_members.insert(inst.to_string(), new_id.clone());
                        if unchanged {
                            // No rebalance: the member gets the current generation back.
                            return (JoinOutcome::Now(self.join_result_for(&new_id, false)), effects);
                        }
                        return self.join_existing(new_id, req, now, effects);
                    }
                }
                self.static_members.insert(inst.to_string(), new_id.clone());
                new_id
            } else {
                let new_id = self.new_member_id(&req.client_id, None);
                if req.require_known_member_id {
                    self.pending_members.insert(new_id.clone(), now + req.session_timeout_ms);
                    return (JoinOutcome::Now(JoinResult::error(MEMBER_ID_REQUIRED, &new_id)), effects);
                }
                new_id
            }
        } else {
            if let Some(inst) = req.instance_id.as_deref() {
                if self.static_members.get(inst).is_some_and(|m| m != &req.member_id) {
                    return (JoinOutcome::Now(JoinResult::error(FENCED_INSTANCE_ID, &req.member_id)), effects);
                }
            }
            if !self.members.contains_key(&req.member_id) && self.pending_members.remove(&req.member_id).is_none() {
                return (JoinOutcome::Now(JoinResult::error(UNKNOWN_MEMBER_ID, &req.member_id)), effects);
            }
            req.member_id.clone()
        };
        self.join_existing(member_id, req, now, effects)
    }

    fn join_existing(&mut self, member_id: String, req: JoinRequest, now: i64, mut effects: Vec<Effect>) -> (JoinOutcome, Vec<Effect>) {
        let known = self.members.get(&member_id).map(|m| m.protocols.clone());
        if self.state == State::Stable && known.as_ref() == Some(&req.protocols) && self.leader.as_deref() != Some(member_id.as_str()) {
            // A follower rejoining with the same metadata while stable: current generation.
            if let Some(m) = self.members.get_mut(&member_id) {
                m.last_heartbeat_ms = now;
            }
            return (JoinOutcome::Now(self.join_result_for(&member_id, false)), effects);
        }
        let m = self.members.entry(member_id.clone()).or_insert_with(|| Member {
            member_id: member_id.clone(),
            instance_id: req.instance_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocols: vec![],
            assignment: Bytes::new(),
            last_heartbeat_ms: now,
            awaiting_join: false,
            awaiting_sync: false,
        });
        m.protocols = req.protocols;
        m.session_timeout_ms = req.session_timeout_ms;
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.last_heartbeat_ms = now;
        m.awaiting_join = true;
        if self.protocol_type.is_none() {
            self.protocol_type = Some(req.protocol_type);
        }
        if self.state != State::PreparingRebalance {
            effects.extend(self.prepare_rebalance(now));
        }
        effects.extend(self.try_complete_join(now));
        // The member may have been answered by the completion just above.
        if effects.iter().any(|e| matches!(e, Effect::Join(id, _) if *id == member_id)) {
            let pos = effects.iter().position(|e| matches!(e, Effect::Join(id, _) if *id == member_id)).expect("present");
            if let Effect::Join(_, r) = effects.remove(pos) {
                return (JoinOutcome::Now(r), effects);
            }
        }
        (JoinOutcome::Wait(member_id), effects)
    }

    /// Answers everyone blocked on behalf of a member id that was replaced.
    fn fence(&mut self, old: &str) -> Vec<Effect> {
        vec![Effect::Join(old.to_string(), JoinResult::error(FENCED_INSTANCE_ID, old)), Effect::Sync(old.to_string(), SyncResult::error(FENCED_INSTANCE_ID))]
    }

    fn prepare_rebalance(&mut self, now: i64) -> Vec<Effect> {
        let mut effects = Vec::new();
        // Members waiting in SyncGroup are told to rejoin.
        for m in self.members.values_mut() {
            if m.awaiting_sync {
                m.awaiting_sync = false;
                effects.push(Effect::Sync(m.member_id.clone(), SyncResult::error(REBALANCE_IN_PROGRESS)));
            }
        }
        let timeout = self.members.values().map(|m| m.rebalance_timeout_ms).max().unwrap_or(0);
        let initial = self.state == State::Empty;
        self.state = State::PreparingRebalance;
        self.initial_until_ms = if initial { now + self.initial_delay_ms.min(timeout) } else { now };
        self.rebalance_deadline_ms = now + timeout;
        effects
    }

    fn try_complete_join(&mut self, now: i64) -> Vec<Effect> {
        if self.state != State::PreparingRebalance {
            return vec![];
        }
        // Complete when every known member (and every member id handed out) has joined, after
        // the initial delay; or at the rebalance timeout without the stragglers.
        let all_joined = self.members.values().all(|m| m.awaiting_join) && self.pending_members.is_empty();
        let timed_out = now >= self.rebalance_deadline_ms;
        if now < self.initial_until_ms && !timed_out {
            return vec![];
        }
        if !all_joined && !timed_out {
            return vec![];
        }
        // Members that did not rejoin in time leave the group.
        self.members.retain(|_, m| m.awaiting_join);
        self.static_members.retain(|_, id| self.members.contains_key(id));
        self.generation += 1;
        if self.members.is_empty() {
            self.state = State::Empty;
            self.protocol_name = None;
            self.leader = None;
            return vec![];
        }
        // The protocol most members list first among those all support.
        let candidates: Vec<String> = self.members.values().next().expect("members").protocols.iter().map(|(n, _)| n.clone()).filter(|n| self.members.values().all(|m| m.protocols.iter().any(|(p, _)| p == n))).collect();
        let mut best = candidates.first().cloned();
        let mut best_votes = 0;
        for c in &candidates {
            let votes = self.members.values().filter(|m| m.protocols.iter().find(|(p, _)| candidates.contains(p)).map(|(p, _)| p) == Some(c)).count();
            if votes > best_votes {
                best_votes = votes;
                best = Some(c.clone());
            }
        }
        self.protocol_name = best;
        if self.leader.as_ref().is_none_or(|l| !self.members.contains_key(l)) {
            self.leader = self.members.keys().next().cloned();
        }
        self.state = State::CompletingRebalance;
        let ids: Vec<String> = self.members.keys().cloned().collect();
        let mut effects = Vec::new();
        for id in ids {
            let is_leader = self.leader.as_deref() == Some(id.as_str());
            let r = self.join_result_for(&id, is_leader);
            let m = self.members.get_mut(&id).expect("member");
            m.awaiting_join = false;
            m.awaiting_sync = false;
            m.last_heartbeat_ms = now;
            effects.push(Effect::Join(id, r));
        }
        effects
    }

    fn join_result_for(&self, member_id: &str, with_members: bool) -> JoinResult {
        let proto = self.protocol_name.clone().unwrap_or_default();
        JoinResult {
            error: 0,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members: if with_members { self.members.values().map(|m| (m.member_id.clone(), m.instance_id.clone(), m.metadata_for(&proto))).collect() } else { vec![] },
        }
    }

    fn check_member(&self, member_id: &str, generation: i32) -> Result<(), i16> {
        if !self.members.contains_key(member_id) {
            return Err(UNKNOWN_MEMBER_ID);
        }
        if generation != self.generation {
            return Err(ILLEGAL_GENERATION);
        }
        Ok(())
    }

    pub fn sync(&mut self, member_id: &str, generation: i32, assignments: Vec<(String, Bytes)>, now: i64) -> (SyncOutcome, Vec<Effect>) {
        if let Err(e) = self.check_member(member_id, generation) {
            return (SyncOutcome::Now(SyncResult::error(e)), vec![]);
        }
        match self.state {
            State::PreparingRebalance => (SyncOutcome::Now(SyncResult::error(REBALANCE_IN_PROGRESS)), vec![]),
            State::Stable => {
                let a = self.members[member_id].assignment.clone();
                (SyncOutcome::Now(self.sync_ok(a)), vec![])
            }
            State::CompletingRebalance => {
                if let Some(m) = self.members.get_mut(member_id) {
                    m.last_heartbeat_ms = now;
                    m.awaiting_sync = true;
                }
                if self.leader.as_deref() != Some(member_id) {
                    return (SyncOutcome::Wait, vec![]);
                }
                let given: BTreeMap<String, Bytes> = assignments.into_iter().collect();
                let mut effects = Vec::new();
                for m in self.members.values_mut() {
                    m.assignment = given.get(&m.member_id).cloned().unwrap_or_default();
                }
                self.state = State::Stable;
                let ids: Vec<String> = self.members.keys().cloned().collect();
                let mut mine = None;
                for id in ids {
                    let m = self.members.get_mut(&id).expect("member");
                    let r = SyncResult { error: 0, protocol_type: self.protocol_type.clone(), protocol_name: self.protocol_name.clone(), assignment: m.assignment.clone() };
                    let waiting = m.awaiting_sync;
                    m.awaiting_sync = false;
                    if id == member_id {
                        mine = Some(r);
                    } else if waiting {
                        effects.push(Effect::Sync(id, r));
                    }
                }
                (SyncOutcome::Now(mine.expect("leader answered")), effects)
            }
            State::Empty | State::Dead => (SyncOutcome::Now(SyncResult::error(UNKNOWN_MEMBER_ID)), vec![]),
        }
    }

    fn sync_ok(&self, assignment: Bytes) -> SyncResult {
        SyncResult { error: 0, protocol_type: self.protocol_type.clone(), protocol_name: self.protocol_name.clone(), assignment }
    }

    pub fn heartbeat(&mut self, member_id: &str, generation: i32, now: i64) -> i16 {
        if let Err(e) = self.check_member(member_id, generation) {
            // A member still in the join phase of the next generation is told to rejoin.
            if e == ILLEGAL_GENERATION && self.state == State::PreparingRebalance {
                return REBALANCE_IN_PROGRESS;
            }
            return e;
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_heartbeat_ms = now;
        }
        match self.state {
            State::PreparingRebalance => REBALANCE_IN_PROGRESS,
            _ => 0,
        }
    }

    /// LeaveGroup: per member (id or instance id), an error code.
    pub fn leave(&mut self, members: &[(String, Option<String>)], now: i64) -> (Vec<i16>, Vec<Effect>) {
        let mut codes = Vec::new();
        let mut effects = Vec::new();
        let mut removed = false;
        for (id, inst) in members {
            let id = match inst {
                Some(i) => match self.static_members.get(i) {
                    Some(known) if id.is_empty() || known == id => known.clone(),
                    Some(_) => {
                        codes.push(FENCED_INSTANCE_ID);
                        continue;
                    }
                    None => {
                        codes.push(UNKNOWN_MEMBER_ID);
                        continue;
                    }
                },
                None => id.clone(),
            };
            if self.pending_members.remove(&id).is_some() {
                codes.push(0);
                continue;
            }
            match self.members.remove(&id) {
                Some(m) => {
                    if let Some(i) = &m.instance_id {
                        self.static_members.remove(i);
                    }
                    if m.awaiting_join {
                        effects.push(Effect::Join(id.clone(), JoinResult::error(UNKNOWN_MEMBER_ID, &id)));
                    }
                    codes.push(0);
                    removed = true;
                }
                None => codes.push(UNKNOWN_MEMBER_ID),
            }
        }
        if removed {
            effects.extend(self.after_removal(now));
        }
        (codes, effects)
    }

    fn after_removal(&mut self, now: i64) -> Vec<Effect> {
        if self.members.is_empty() && self.pending_members.is_empty() {
            let mut effects = Vec::new();
            if self.state == State::PreparingRebalance || self.state == State::CompletingRebalance || self.state == State::Stable {
                self.generation += 1;
            }
            self.state = State::Empty;
            self.leader = None;
            self.protocol_name = None;
            self.protocol_type = None;
            effects.extend(self.try_complete_join(now));
            return effects;
        }
        let mut effects = Vec::new();
        if self.state != State::PreparingRebalance {
            effects.extend(self.prepare_rebalance(now));
        }
        effects.extend(self.try_complete_join(now));
        effects
    }

    /// Session expiry and rebalance deadlines.
    pub fn tick(&mut self, now: i64) -> Vec<Effect> {
        self.pending_members.retain(|_, deadline| *deadline > now);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join && now - m.last_heartbeat_ms > m.session_timeout_ms)
            .map(|m| m.member_id.clone())
            .collect();
        let mut effects = Vec::new();
        if !expired.is_empty() {
            for id in &expired {
                if let Some(m) = self.members.remove(id) {
                    if let Some(i) = &m.instance_id {
                        self.static_members.remove(i);
                    }
                    if m.awaiting_sync {
                        effects.push(Effect::Sync(id.clone(), SyncResult::error(UNKNOWN_MEMBER_ID)));
                    }
                }
            }
            effects.extend(self.after_removal(now));
        }
        if self.state == State::PreparingRebalance {
            effects.extend(self.try_complete_join(now));
        }
        effects
    }

    pub fn is_member(&self, member_id: &str, generation: i32) -> Result<(), i16> {
        if member_id.is_empty() && generation < 0 {
            // A consumer that commits without a group membership (assign()).
            return if self.members.is_empty() { Ok(()) } else { Err(UNKNOWN_MEMBER_ID) };
        }
        self.check_member(member_id, generation)?;
        if self.state == State::CompletingRebalance {
            return Err(REBALANCE_IN_PROGRESS);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
