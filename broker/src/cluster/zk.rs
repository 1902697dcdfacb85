//! The broker's coordinator session: registration under `/brokers/ids`, controller election, topic
//! administration in Kafka's layout, and a metadata snapshot rebuilt whenever `/brokers`,
//! `/config/topics` or `/controller` change. Works against this project's coordinator and Apache
//! ZooKeeper 3.6+ alike (it relies on persistent recursive watches).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::{watch, Mutex};
use zookeeper_client as zk;

use super::metadata::{PartitionInfo, Snapshot, TopicInfo};
use super::znodes::*;
use crate::config::BrokerConfig;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("coordinator error while trying to {what}: {source}")]
    Zk { what: String, source: zk::Error },
    #[error("broker.id {0} is already registered by another live broker")]
    DuplicateId(i32),
    #[error("invalid data in {path}: {reason}")]
    BadData { path: String, reason: String },
    #[error("{0}")]
    Refused(String),
}

fn ctx(what: impl Into<String>) -> impl FnOnce(zk::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Zk { what, source }
}

/// What the watch loop makes of an event.
enum Seen {
    /// The cluster state may have changed: read it again.
    Change,
    /// Nothing to read (the connection is down, or came up read-only).
    Nothing,
    /// The session is gone: a new one, a new registration, new watches.
    SessionEnded,
}

/// A read's result with a missing znode as `None`: any other failure is an error.
fn existing<T>(res: Result<T, zk::Error>, what: impl FnOnce() -> String) -> Result<Option<T>, ClusterError> {
    match res {
        Ok(v) => Ok(Some(v)),
        Err(zk::Error::NoNode) => Ok(None),
        Err(e) => Err(ctx(what())(e)),
    }
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}
fn ephemeral() -> zk::CreateOptions<'static> {
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all())
}

/// Splits `host:port,host:port/chroot`.
pub fn split_chroot(connect: &str) -> (&str, Option<&str>) {
    match connect.find('/') {
        Some(i) if i + 1 < connect.len() => (&connect[..i], Some(&connect[i..])),
        Some(i) => (&connect[..i], None),
        None => (connect, None),
    }
}

pub struct Cluster {
    config: Arc<BrokerConfig>,
    client: Mutex<zk::Client>,
    snapshot: RwLock<Arc<Snapshot>>,
    changed: watch::Sender<u64>,
    /// Serializes reloads so a stale reload never overwrites a newer one.
    reload_lock: Mutex<()>,
    /// The last reload failed: the snapshot may be behind the coordinator until one succeeds.
    stale: std::sync::atomic::AtomicBool,
}

impl Cluster {
    async fn open_session(config: &BrokerConfig) -> Result<zk::Client, ClusterError> {
        let (hosts, chroot) = split_chroot(&config.zookeeper_connect);
        let timeout = Duration::from_millis(config.zookeeper_session_timeout_ms);
        let connect = || async {
            zk::Client::connector().with_session_timeout(timeout).with_connection_timeout(timeout).connect(hosts).await
        };
        let client = connect().await.map_err(ctx(format!("connect to {}", config.zookeeper_connect)))?;
        let Some(chroot) = chroot else { return Ok(client) };
        match client.mkdir(chroot, &persistent()).await {
            Ok(()) | Err(zk::Error::NodeExists) => {}
            Err(e) => return Err(ctx(format!("create chroot {chroot}"))(e)),
        }
        client.chroot(chroot.to_string()).map_err(|_| ClusterError::Refused(format!("invalid chroot {chroot}")))
    }

    /// Connects, prepares Kafka's paths, reads or creates the cluster id and loads metadata.
    /// Registration comes later (`register`), once the logs are loaded.
    pub async fn connect(config: Arc<BrokerConfig>) -> Result<Arc<Cluster>, ClusterError> {
        let client = Self::open_session(&config).await?;
        for p in PERSISTENT_PATHS {
            match client.mkdir(p, &persistent()).await {
                Ok(()) | Err(zk::Error::NodeExists) => {}
                Err(e) => return Err(ctx(format!("create {p}"))(e)),
            }
        }
        match client.create(FEATURE, FEATURE_JSON.as_bytes(), &persistent()).await {
            Ok(_) | Err(zk::Error::NodeExists) => {}
            Err(e) => return Err(ctx(format!("create {FEATURE}"))(e)),
        }
        let cluster = Arc::new(Cluster {
            config,
            client: Mutex::new(client),
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            changed: watch::channel(0).0,
            reload_lock: Mutex::new(()),
            stale: std::sync::atomic::AtomicBool::new(false),
        });
        let id = cluster.cluster_id().await?;
        cluster.snapshot.write().expect("snapshot lock").clone_from(&Arc::new(Snapshot { cluster_id: id, controller: -1, ..Default::default() }));
        cluster.reload().await?;
        Ok(cluster)
    }

    pub async fn client(&self) -> zk::Client {
        self.client.lock().await.clone()
    }

    async fn cluster_id(&self) -> Result<String, ClusterError> {
        let c = self.client().await;
        let (_, new_id) = random_uuid();
        let rec = serde_json::to_vec(&ClusterId { version: "1".into(), id: new_id }).expect("json");
        match c.create(CLUSTER_ID, &rec, &persistent()).await {
            Ok(_) | Err(zk::Error::NodeExists) => {}
            Err(e) => return Err(ctx("create /cluster/id")(e)),
        }
        let (data, _) = c.get_data(CLUSTER_ID).await.map_err(ctx("read /cluster/id"))?;
        let id: ClusterId = serde_json::from_slice(&data).map_err(|e| ClusterError::BadData { path: CLUSTER_ID.into(), reason: e.to_string() })?;
        Ok(id.id)
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().expect("snapshot lock").clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn registration(&self) -> BrokerRegistration {
        let c = &self.config;
        let endpoints: Vec<String> = c.advertised_listeners.iter().map(|l| format!("{}://{}:{}", l.name, l.host, l.port)).collect();
        let plain = c.advertised_listeners.iter().find(|l| c.protocol_of(&l.name) == "PLAINTEXT");
        BrokerRegistration {
            features: BTreeMap::new(),
            listener_security_protocol_map: c.advertised_listeners.iter().map(|l| (l.name.clone(), c.protocol_of(&l.name).to_string())).collect(),
            endpoints,
            jmx_port: -1,
            port: plain.map_or(-1, |l| l.port as i32),
            host: plain.map(|l| l.host.clone()),
            version: 5,
            timestamp: crate::log::segment::now_ms().to_string(),
            rack: c.broker_rack.clone(),
        }
    }

    /// Creates `/brokers/ids/<id>`. A node left by this broker's previous session (killed before its
    /// session expired) is waited out for one session timeout; another live broker's is an error.
    pub async fn register(&self) -> Result<(), ClusterError> {
        let c = self.client().await;
        let path = broker_path(self.config.broker_id);
        let data = serde_json::to_vec(&self.registration()).expect("json");
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.config.zookeeper_session_timeout_ms + 2000);
        loop {
            match c.create(&path, &data, &ephemeral()).await {
                Ok(_) => break,
                Err(zk::Error::NodeExists) if tokio::time::Instant::now() < deadline => {
                    tracing::info!(path, "broker id still registered by an earlier session; waiting for it to expire");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(zk::Error::NodeExists) => return Err(ClusterError::DuplicateId(self.config.broker_id)),
                Err(e) => return Err(ctx(format!("register {path}"))(e)),
            }
        }
        tracing::info!(broker_id = self.config.broker_id, "registered in the coordinator");
        self.elect().await;
        self.reload().await?;
        self.control().await;
        Ok(())
    }

    /// The controller's pass over every partition (only on the controller): leaders for
    /// partitions whose leader died or is shutting down, dead replicas out of ISRs
    /// (`controller::elect`). The writes are one transaction that also checks the version of
    /// `/controller_epoch`, so a controller that was replaced (its epoch bumped by the next)
    /// changes nothing, and each state's version, so a concurrent ISR change by a leader is
    /// not overwritten (the pass runs again on the next change).
    pub async fn control(&self) {
        for _ in 0..3 {
            let snap = self.snapshot();
            if snap.controller != self.config.broker_id {
                return;
            }
            let brokers = super::controller::Brokers { live: snap.brokers.keys().copied().collect(), shutting_down: snap.shutting_down.clone() };
            let mut writes = Vec::new();
            for t in snap.topics.values() {
                let unclean = t.config.get("unclean.leader.election.enable").map_or(self.config.unclean_leader_election_enable, |v| v == "true");
                for (i, p) in t.partitions.iter().enumerate() {
                    if p.state_version < 0 {
                        continue;
                    }
                    if let Some(next) = super::controller::elect(&p.replicas, &p.state(), &brokers, unclean, snap.controller_epoch) {
                        tracing::info!(topic = %t.name, partition = i, leader = next.leader, leader_epoch = next.leader_epoch, isr = ?next.isr, "controller: new partition state");
                        writes.push((t.name.clone(), i as i32, next, p.state_version));
                    }
                }
            }
            if writes.is_empty() {
                self.complete_reassignments(&snap, &brokers).await;
                return;
            }
            match self.write_states(&writes, snap.controller_epoch_version).await {
                Ok(()) => {
                    let _ = self.reload().await;
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "controller: partition state update refused; reloading");
                    let _ = self.reload().await;
                }
            }
        }
    }

    /// Preferred leader election, as the controller: `which` partitions (all when `None`) whose
    /// first assigned replica is alive, in sync and not leading get it as leader. With
    /// `only_imbalanced`, only for brokers whose share of preferred partitions they do not lead
    /// is above `leader.imbalance.per.broker.percentage` (Kafka's automatic rebalance). Returns
    /// per partition whether it moved, or why not (Kafka's error codes).
    pub async fn elect_preferred(&self, which: Option<&[(String, i32)]>, only_imbalanced: bool) -> Result<Vec<(String, i32, i16)>, ClusterError> {
        use kafka_protocol::error::ResponseError as E;
        // A fresh view: an ISR a leader just grew may not have reached this broker's watch yet.
        self.reload().await?;
        let snap = self.snapshot();
        if snap.controller != self.config.broker_id {
            return Err(ClusterError::Refused("not the controller".into()));
        }
        let brokers = super::controller::Brokers { live: snap.brokers.keys().copied().collect(), shutting_down: snap.shutting_down.clone() };
        let all: Vec<(String, i32)> = snap.topics.values().flat_map(|t| (0..t.partitions.len() as i32).map(move |i| (t.name.clone(), i))).collect();
        let wanted = which.map(<[_]>::to_vec).unwrap_or(all);
        let states: Vec<(&[i32], super::znodes::PartitionState)> = snap.topics.values().flat_map(|t| t.partitions.iter().map(|p| (&p.replicas[..], p.state()))).collect();
        let refs: Vec<(&[i32], &super::znodes::PartitionState)> = states.iter().map(|(r, s)| (*r, s)).collect();
        let limit = self.config.leader_imbalance_per_broker_percentage as f64 / 100.0;
        let mut out = Vec::new();
        let mut writes = Vec::new();
        for (t, i) in wanted {
            let Some(p) = snap.topics.get(&t).and_then(|ti| ti.partitions.get(i as usize)) else {
                out.push((t, i, E::UnknownTopicOrPartition.code()));
                continue;
            };
            let Some(&preferred) = p.replicas.first() else { continue };
            if p.leader == preferred {
                out.push((t, i, E::ElectionNotNeeded.code()));
                continue;
            }
            if only_imbalanced && super::controller::imbalance(preferred, &refs) <= limit {
                continue;
            }
            match super::controller::prefer(&p.replicas, &p.state(), &brokers, snap.controller_epoch) {
                Some(next) => {
                    tracing::info!(topic = %t, partition = i, leader = next.leader, "preferred leader election");
                    writes.push((t.clone(), i, next, p.state_version));
                    out.push((t, i, 0));
                }
                None => out.push((t, i, E::PreferredLeaderNotAvailable.code())),
            }
        }
        if !writes.is_empty() {
            self.write_states(&writes, snap.controller_epoch_version).await?;
            self.reload().await?;
        }
        Ok(out)
    }

    /// Kafka's automatic leader rebalance: every `leader.imbalance.check.interval.seconds`, on the
    /// controller, when `auto.leader.rebalance.enable`. Runs forever.
    pub async fn run_rebalancer(self: Arc<Self>) {
        if !self.config.auto_leader_rebalance_enable {
            return;
        }
        loop {
            tokio::time::sleep(Duration::from_millis(self.config.leader_imbalance_check_interval_ms)).await;
            if self.snapshot().controller == self.config.broker_id {
                if let Err(e) = self.elect_preferred(None, true).await {
                    tracing::info!(error = %e, "leader rebalance not done");
                }
            }
        }
    }

    /// Reassignments whose target replicas are all in sync are completed: per topic one
    /// transaction (fenced like every controller write) that sets the new leader/ISR of each
    /// such partition and the assignment without the removed replicas.
    async fn complete_reassignments(&self, snap: &Snapshot, brokers: &super::controller::Brokers) {
        for t in snap.topics.values() {
            let mut states = Vec::new();
            let mut assignment = t.assignment();
            for (i, p) in t.partitions.iter().enumerate() {
                if p.adding.is_empty() && p.removing.is_empty() {
                    continue;
                }
                let target: Vec<i32> = p.replicas.iter().copied().filter(|r| !p.removing.contains(r)).collect();
                let Some(next) = super::controller::complete_reassignment(&target, &p.state(), brokers, snap.controller_epoch) else { continue };
                tracing::info!(topic = %t.name, partition = i, replicas = ?target, leader = next.leader, "reassignment complete");
                let key = i.to_string();
                assignment.partitions.insert(key.clone(), target);
                assignment.adding_replicas.remove(&key);
                assignment.removing_replicas.remove(&key);
                states.push((i as i32, next, p.state_version));
            }
            if states.is_empty() {
                continue;
            }
            let c = self.client().await;
            let mut w = c.new_multi_writer();
            let built = (|| -> Result<(), zk::Error> {
                w.add_check_version(CONTROLLER_EPOCH, snap.controller_epoch_version)?;
                for (p, st, version) in &states {
                    w.add_set_data(&state_path(&t.name, *p), &serde_json::to_vec(st).expect("json"), Some(*version))?;
                }
                w.add_set_data(&topic_path(&t.name), &serde_json::to_vec(&assignment).expect("json"), Some(t.assignment_version))
            })();
            let result = match built {
                Ok(()) => w.commit().await.map(|_| ()).map_err(zk::Error::from),
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::info!(topic = %t.name, error = %e, "reassignment completion not written; retrying on the next change");
            }
        }
        let _ = self.reload().await;
    }

    /// Starts (or, with `None` replicas, cancels) reassignments of a topic's partitions, as the
    /// controller: the assignment znode gets the target replicas first, the leaving ones after,
    /// and the adding/removing lists (KIP-455); new replicas start following at once and the
    /// controller completes each partition when its targets are in sync. Returns per partition
    /// a Kafka error code and message.
    pub async fn reassign(&self, topic: &str, wanted: &[(i32, Option<Vec<i32>>)]) -> Result<Vec<(i32, i16, Option<String>)>, ClusterError> {
        use kafka_protocol::error::ResponseError as E;
        self.reload().await?;
        let snap = self.snapshot();
        if snap.controller != self.config.broker_id {
            return Err(ClusterError::Refused("not the controller".into()));
        }
        let Some(t) = snap.topics.get(topic) else {
            return Ok(wanted.iter().map(|(p, _)| (*p, E::UnknownTopicOrPartition.code(), Some(format!("topic {topic} does not exist")))).collect());
        };
        let mut assignment = t.assignment();
        let mut out = Vec::new();
        let mut changed = false;
        for (p, target) in wanted {
            let Some(info) = usize::try_from(*p).ok().and_then(|i| t.partitions.get(i)) else {
                out.push((*p, E::UnknownTopicOrPartition.code(), Some(format!("partition {p} of {topic} does not exist"))));
                continue;
            };
            let key = p.to_string();
            let original: Vec<i32> = info.replicas.iter().copied().filter(|r| !info.adding.contains(r)).collect();
            match target {
                None => {
                    if info.adding.is_empty() && info.removing.is_empty() {
                        out.push((*p, E::NoReassignmentInProgress.code(), Some("no reassignment in progress".into())));
                        continue;
                    }
                    assignment.partitions.insert(key.clone(), original);
                    assignment.adding_replicas.remove(&key);
                    assignment.removing_replicas.remove(&key);
                }
                Some(target) => {
                    let mut distinct = target.clone();
                    distinct.sort_unstable();
                    distinct.dedup();
                    if target.is_empty() || distinct.len() != target.len() {
                        out.push((*p, E::InvalidReplicaAssignment.code(), Some("the replica list is empty or repeats a broker".into())));
                        continue;
                    }
                    if let Some(b) = target.iter().find(|b| !snap.brokers.contains_key(b)) {
                        out.push((*p, E::InvalidReplicaAssignment.code(), Some(format!("broker {b} is not registered"))));
                        continue;
                    }
                    let (replicas, adding, removing) = super::controller::start_reassignment(&original, target);
                    assignment.partitions.insert(key.clone(), replicas);
                    if adding.is_empty() {
                        assignment.adding_replicas.remove(&key);
                    } else {
                        assignment.adding_replicas.insert(key.clone(), adding);
                    }
                    if removing.is_empty() {
                        assignment.removing_replicas.remove(&key);
                    } else {
                        assignment.removing_replicas.insert(key.clone(), removing);
                    }
                }
            }
            changed = true;
            out.push((*p, 0, None));
        }
        if changed {
            let c = self.client().await;
            c.set_data(&topic_path(topic), &serde_json::to_vec(&assignment).expect("json"), Some(t.assignment_version)).await.map_err(ctx(format!("reassign partitions of {topic}")))?;
            self.reload().await?;
            self.control().await;
        }
        Ok(out)
    }

    /// Writes partition states as the controller, fenced by `/controller_epoch`'s version.
    pub async fn write_states(&self, writes: &[(String, i32, PartitionState, i32)], epoch_version: i32) -> Result<(), ClusterError> {
        let c = self.client().await;
        for chunk in writes.chunks(200) {
            let mut w = c.new_multi_writer();
            let add = |r: Result<(), zk::Error>| r.map_err(ctx("build the partition state transaction"));
            add(w.add_check_version(CONTROLLER_EPOCH, epoch_version))?;
            for (t, p, st, version) in chunk {
                add(w.add_set_data(&state_path(t, *p), &serde_json::to_vec(st).expect("json"), Some(*version)))?;
            }
            w.commit().await.map_err(|e| ctx("write partition states")(e.into()))?;
        }
        Ok(())
    }

    /// A leader's ISR change: the state znode rewritten only if still at `expected_version`
    /// (no leader change or other ISR change since). Returns the new version.
    pub async fn write_isr(&self, topic: &str, partition: i32, state: &PartitionState, expected_version: i32) -> Result<i32, ClusterError> {
        let c = self.client().await;
        let stat = c.set_data(&state_path(topic, partition), &serde_json::to_vec(state).expect("json"), Some(expected_version)).await.map_err(ctx(format!("update the ISR of {topic}-{partition}")))?;
        Ok(stat.version)
    }

    /// Tries to become controller: creates `/controller` and bumps `/controller_epoch`.
    async fn elect(&self) {
        let c = self.client().await;
        let rec = ControllerRecord { version: 2, brokerid: self.config.broker_id, timestamp: crate::log::segment::now_ms().to_string(), kraft_controller_epoch: -1 };
        match c.create(CONTROLLER, &serde_json::to_vec(&rec).expect("json"), &ephemeral()).await {
            Ok(_) => {}
            Err(zk::Error::NodeExists) => return,
            Err(e) => {
                tracing::warn!(error = %e, "controller election failed");
                return;
            }
        }
        let epoch = match c.get_data(CONTROLLER_EPOCH).await {
            Ok((d, stat)) => {
                let e = String::from_utf8_lossy(&d).trim().parse::<i32>().unwrap_or(0) + 1;
                match c.set_data(CONTROLLER_EPOCH, e.to_string().as_bytes(), Some(stat.version)).await {
                    Ok(_) => e,
                    Err(err) => {
                        tracing::warn!(error = %err, "failed to bump /controller_epoch");
                        e - 1
                    }
                }
            }
            Err(zk::Error::NoNode) => {
                let _ = c.create(CONTROLLER_EPOCH, b"1", &persistent()).await;
                1
            }
            Err(e) => {
                tracing::warn!(error = %e, "failed to read /controller_epoch");
                0
            }
        };
        tracing::info!(broker_id = self.config.broker_id, epoch, "elected controller");
    }

    /// Rebuilds the snapshot from the coordinator. As controller, also writes partition states
    /// missing for topics that other tools created (as Kafka's controller does).
    ///
    /// All or nothing: a read that fails for any reason but a missing znode (the connection lost
    /// halfway, a timeout, an ACL) fails the whole reload and keeps the previous snapshot, and
    /// the watch loop tries again. A partial snapshot would read as brokers gone and topics
    /// deleted, and a topic missing from the snapshot has its local logs deleted.
    pub async fn reload(&self) -> Result<(), ClusterError> {
        let _guard = self.reload_lock.lock().await;
        let res = self.read_snapshot().await;
        let was_stale = self.stale.swap(res.is_err(), std::sync::atomic::Ordering::Relaxed);
        match &res {
            Err(e) if !was_stale => tracing::warn!(error = %e, "metadata reload failed; keeping the last complete view and trying again"),
            Ok(_) if was_stale => tracing::info!("metadata reload succeeded again"),
            _ => {}
        }
        let snap = res?;
        *self.snapshot.write().expect("snapshot lock") = Arc::new(snap);
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
        Ok(())
    }

    async fn read_snapshot(&self) -> Result<Snapshot, ClusterError> {
        let previous = self.snapshot();
        let c = self.client().await;
        let ids = c.list_children(BROKER_IDS).await.map_err(ctx("list /brokers/ids"))?;
        let mut brokers = BTreeMap::new();
        let fetched = futures::future::join_all(ids.iter().map(|id| {
            let c = c.clone();
            let path = format!("{BROKER_IDS}/{id}");
            async move { (c.get_data(&path).await, id.clone()) }
        }))
        .await;
        for (res, id) in fetched {
            let Some((data, _)) = existing(res, || format!("read {BROKER_IDS}/{id}"))? else { continue };
            let Ok(id) = id.parse::<i32>() else { continue };
            match serde_json::from_slice::<BrokerRegistration>(&data) {
                Ok(r) => {
                    brokers.insert(id, r);
                }
                Err(e) => tracing::warn!(broker = id, error = %e, "unreadable broker registration"),
            }
        }
        let controller = match existing(c.get_data(CONTROLLER).await, || format!("read {CONTROLLER}"))? {
            Some((d, _)) => serde_json::from_slice::<ControllerRecord>(&d).map(|r| r.brokerid).unwrap_or(-1),
            None => -1,
        };
        let (controller_epoch, controller_epoch_version) = match existing(c.get_data(CONTROLLER_EPOCH).await, || format!("read {CONTROLLER_EPOCH}"))? {
            Some((d, st)) => (String::from_utf8_lossy(&d).trim().parse().unwrap_or(0), st.version),
            None => (0, -1),
        };
        let mut shutting_down = std::collections::BTreeSet::new();
        for id in existing(c.list_children(SHUTTING_DOWN).await, || format!("list {SHUTTING_DOWN}"))?.unwrap_or_default() {
            let Ok(n) = id.parse::<i32>() else { continue };
            // Only the registration that asked: a broker back with a new session is not draining.
            let path = format!("{SHUTTING_DOWN}/{id}");
            if let Some((d, _)) = existing(c.get_data(&path).await, || format!("read {path}"))? {
                if brokers.get(&n).is_some_and(|r| r.timestamp.as_bytes() == d.as_slice()) {
                    shutting_down.insert(n);
                }
            }
        }
        let names = c.list_children(TOPICS).await.map_err(ctx("list /brokers/topics"))?;
        let loaded = futures::future::join_all(names.iter().map(|t| self.load_topic(&c, t, controller == self.config.broker_id, controller_epoch))).await;
        let mut topics = BTreeMap::new();
        for (t, res) in names.iter().zip(loaded) {
            match res {
                Ok(Some(info)) => {
                    topics.insert(t.clone(), Arc::new(info));
                }
                Ok(None) => {}
                // Not Kafka's layout (written by hand?): what this broker knew of it stays.
                Err(e @ ClusterError::BadData { .. }) => {
                    tracing::warn!(topic = %t, error = %e, "unreadable topic metadata; keeping what was known of it");
                    if let Some(old) = previous.topics.get(t) {
                        topics.insert(t.clone(), old.clone());
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Snapshot { brokers, topics, controller, controller_epoch, controller_epoch_version, shutting_down, cluster_id: previous.cluster_id.clone() })
    }

    async fn load_topic(&self, c: &zk::Client, t: &str, is_controller: bool, controller_epoch: i32) -> Result<Option<TopicInfo>, ClusterError> {
        let (data, assignment_stat) = match c.get_data(&topic_path(t)).await {
            Ok(v) => v,
            Err(zk::Error::NoNode) => return Ok(None),
            Err(e) => return Err(ctx(format!("read topic {t}"))(e)),
        };
        let mut a: TopicAssignment = serde_json::from_slice(&data).map_err(|e| ClusterError::BadData { path: topic_path(t), reason: e.to_string() })?;
        let id = match a.topic_id.as_deref().and_then(uuid_from_string) {
            Some(id) => id,
            None if is_controller => {
                // Written by an older tool without an id: add one, as Kafka 2.8+ controllers do.
                let (id, s) = random_uuid();
                a.topic_id = Some(s);
                a.version = 3;
                let _ = c.set_data(&topic_path(t), &serde_json::to_vec(&a).expect("json"), None).await;
                id
            }
            None => [0; 16],
        };
        let replicas = a.replicas();
        let states = futures::future::join_all(replicas.iter().map(|(p, _)| {
            let c = c.clone();
            let path = state_path(t, *p);
            async move { c.get_data(&path).await }
        }))
        .await;
        let mut partitions = Vec::with_capacity(replicas.len());
        for ((p, reps), st) in replicas.iter().zip(states) {
            let state = match existing(st, || format!("read {}", state_path(t, *p)))? {
                Some((d, stat)) => serde_json::from_slice::<PartitionState>(&d).ok().map(|s| (s, stat.version)),
                None => None,
            };
            let (state, state_version) = match state {
                Some(s) => s,
                None if is_controller && !reps.is_empty() => {
                    // Written by a tool that creates only the assignment (as Kafka's admin
                    // scripts did): the controller starts the partition with every replica in
                    // sync, as Kafka's does for a new partition.
                    let s = PartitionState { controller_epoch, leader: reps[0], version: 1, leader_epoch: 0, isr: reps.clone() };
                    // Plain creates, parent first: a topic deleted meanwhile makes them fail with
                    // NoNode instead of coming back as empty znodes (mkdir would create parents).
                    let _ = c.create(&partitions_path(t), b"", &persistent()).await;
                    let _ = c.create(&partition_path(t, *p), b"", &persistent()).await;
                    match c.create(&state_path(t, *p), &serde_json::to_vec(&s).expect("json"), &persistent()).await {
                        Ok(_) => (s, 0),
                        Err(_) => (PartitionState { controller_epoch, leader: -1, version: 1, leader_epoch: -1, isr: vec![] }, -1),
                    }
                }
                None => (PartitionState { controller_epoch, leader: -1, version: 1, leader_epoch: -1, isr: vec![] }, -1),
            };
            let key = p.to_string();
            let adding = a.adding_replicas.get(&key).cloned().unwrap_or_default();
            let removing = a.removing_replicas.get(&key).cloned().unwrap_or_default();
            partitions.push(PartitionInfo { replicas: reps.clone(), leader: state.leader, leader_epoch: state.leader_epoch, isr: state.isr, controller_epoch: state.controller_epoch, state_version, adding, removing });
        }
        let config = match existing(c.get_data(&config_path(t)).await, || format!("read {}", config_path(t)))? {
            Some((d, _)) => serde_json::from_slice::<EntityConfig>(&d).map(|e| e.config).unwrap_or_default(),
            None => BTreeMap::new(),
        };
        Ok(Some(TopicInfo { name: t.to_string(), id, partitions, config, assignment_version: assignment_stat.version }))
    }

    /// Watches for changes and keeps the snapshot current; re-establishes the session (and the
    /// registration) after expiry. Runs forever.
    pub async fn run(self: Arc<Self>) {
        loop {
            let c = self.client().await;
            let watches = async {
                let a = c.watch("/brokers", zk::AddWatchMode::PersistentRecursive).await?;
                let b = c.watch(CONFIG_TOPICS, zk::AddWatchMode::PersistentRecursive).await?;
                let d = c.watch(CONTROLLER, zk::AddWatchMode::Persistent).await?;
                let e = c.watch(SHUTTING_DOWN, zk::AddWatchMode::PersistentRecursive).await?;
                Ok::<_, zk::Error>((a, b, d, e))
            };
            let (mut a, mut b, mut d, mut e) = match watches.await {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!(error = %e, "failed to watch the coordinator; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if matches!(e, zk::Error::SessionExpired | zk::Error::ClientClosed) {
                        self.renew_session().await;
                    }
                    continue;
                }
            };
            let _ = self.reload().await;
            'events: loop {
                // A failed reload (wherever it ran) is tried again every half second until one
                // succeeds, and the controller acts only on a complete snapshot.
                let stale = self.stale.load(std::sync::atomic::Ordering::Relaxed);
                let ev = tokio::select! {
                    ev = a.changed() => Some(ev),
                    ev = b.changed() => Some(ev),
                    ev = d.changed() => Some(ev),
                    ev = e.changed() => Some(ev),
                    _ = tokio::time::sleep(Duration::from_millis(500)), if stale => None,
                };
                if let Some(ev) = ev {
                    match self.on_event(ev).await {
                        Seen::SessionEnded => break 'events,
                        Seen::Nothing => continue 'events,
                        Seen::Change => {}
                    }
                    // Coalesce bursts (a topic creation is two znodes per partition, and
                    // __consumer_offsets has 50): whatever else arrived meanwhile is taken in
                    // now, and one reload covers it all.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    loop {
                        let mut more = false;
                        for w in [&mut a, &mut b, &mut d, &mut e] {
                            // Cancel-safe: a pending channel receive consumes nothing.
                            while let Some(ev) = w.changed().now_or_never() {
                                more = true;
                                if let Seen::SessionEnded = self.on_event(ev).await {
                                    break 'events;
                                }
                            }
                        }
                        if !more {
                            break;
                        }
                    }
                }
                if self.reload().await.is_ok() {
                    self.control().await;
                }
            }
            self.renew_session().await;
        }
    }

    /// What a watch event means for the watch loop (a new controller election is held here).
    async fn on_event(&self, ev: zk::WatchedEvent) -> Seen {
        if ev.event_type == zk::EventType::Session {
            if matches!(ev.session_state, zk::SessionState::Expired | zk::SessionState::Closed | zk::SessionState::AuthFailed) {
                tracing::warn!(state = ?ev.session_state, "coordinator session ended; reconnecting");
                return Seen::SessionEnded;
            }
            if ev.session_state != zk::SessionState::SyncConnected {
                return Seen::Nothing;
            }
            // Connected again (perhaps to another server): persistent watches fire no event for
            // changes made while the connection was down, so read it all.
            tracing::info!("coordinator connection back; reloading the cluster state");
        }
        if ev.path == CONTROLLER && ev.event_type == zk::EventType::NodeDeleted {
            self.elect().await;
        }
        Seen::Change
    }

    async fn renew_session(&self) {
        loop {
            match Self::open_session(&self.config).await {
                Ok(c) => {
                    *self.client.lock().await = c;
                    match self.register().await {
                        Ok(()) => return,
                        Err(e) => tracing::error!(error = %e, "re-registration failed"),
                    }
                }
                Err(e) => tracing::warn!(error = %e, "coordinator unreachable"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Creates a topic (assignment, config, partition states) in one transaction.
    pub async fn create_topic(&self, name: &str, replicas: &[Vec<i32>], config: &BTreeMap<String, String>) -> Result<(), ClusterError> {
        let c = self.client().await;
        let epoch = self.snapshot().controller_epoch;
        let (_, id) = random_uuid();
        let assignment = serde_json::to_vec(&TopicAssignment::new(replicas, id)).expect("json");
        let cfg = serde_json::to_vec(&EntityConfig { version: 1, config: config.clone() }).expect("json");
        let states: Vec<Vec<u8>> = replicas
            .iter()
            .map(|r| serde_json::to_vec(&PartitionState { controller_epoch: epoch, leader: r[0], version: 1, leader_epoch: 0, isr: r.clone() }).expect("json"))
            .collect();
        let mut w = c.new_multi_writer();
        let opts = persistent();
        let add = |r: Result<(), zk::Error>| r.map_err(ctx("build the topic transaction"));
        // A config left by an earlier deletion is replaced.
        if c.check_stat(&config_path(name)).await.map_err(ctx("check topic config"))?.is_some() {
            add(w.add_set_data(&config_path(name), &cfg, None))?;
        } else {
            add(w.add_create(&config_path(name), &cfg, &opts))?;
        }
        add(w.add_create(&topic_path(name), &assignment, &opts))?;
        add(w.add_create(&partitions_path(name), b"", &opts))?;
        for (p, s) in states.iter().enumerate() {
            add(w.add_create(&partition_path(name, p as i32), b"", &opts))?;
            add(w.add_create(&state_path(name, p as i32), s, &opts))?;
        }
        match w.commit().await {
            Ok(_) => {}
            Err(zk::MultiWriteError::OperationFailed { source: zk::Error::NodeExists, .. }) => {
                return Err(ClusterError::Refused(format!("Topic '{name}' already exists.")));
            }
            Err(e) => return Err(ctx(format!("create topic {name}"))(e.into())),
        }
        tracing::info!(topic = name, partitions = replicas.len(), "created topic");
        self.reload().await
    }

    /// Adds partitions to a topic.
    pub async fn add_partitions(&self, name: &str, existing: usize, new_replicas: &[Vec<i32>]) -> Result<(), ClusterError> {
        let c = self.client().await;
        let (data, stat) = c.get_data(&topic_path(name)).await.map_err(ctx(format!("read topic {name}")))?;
        let mut a: TopicAssignment = serde_json::from_slice(&data).map_err(|e| ClusterError::BadData { path: topic_path(name), reason: e.to_string() })?;
        if a.partitions.len() != existing {
            return Err(ClusterError::Refused(format!("topic {name} changed concurrently")));
        }
        let epoch = self.snapshot().controller_epoch;
        let mut w = c.new_multi_writer();
        let opts = persistent();
        let add = |r: Result<(), zk::Error>| r.map_err(ctx("build the partition transaction"));
        for (i, r) in new_replicas.iter().enumerate() {
            let p = (existing + i) as i32;
            a.partitions.insert(p.to_string(), r.clone());
            let s = serde_json::to_vec(&PartitionState { controller_epoch: epoch, leader: r[0], version: 1, leader_epoch: 0, isr: r.clone() }).expect("json");
            add(w.add_create(&partition_path(name, p), b"", &opts))?;
            add(w.add_create(&state_path(name, p), &s, &opts))?;
        }
        add(w.add_set_data(&topic_path(name), &serde_json::to_vec(&a).expect("json"), Some(stat.version)))?;
        w.commit().await.map_err(|e| ctx(format!("add partitions to {name}"))(e.into()))?;
        self.reload().await
    }

    /// Deletes a topic's znodes (assignment, states, config) in one transaction.
    pub async fn delete_topic(&self, name: &str) -> Result<(), ClusterError> {
        let c = self.client().await;
        let parts = match c.list_children(&partitions_path(name)).await {
            Ok(p) => p,
            Err(zk::Error::NoNode) => vec![],
            Err(e) => return Err(ctx(format!("list partitions of {name}"))(e)),
        };
        let mut w = c.new_multi_writer();
        let add = |r: Result<(), zk::Error>| r.map_err(ctx("build the deletion transaction"));
        for p in &parts {
            let Ok(p) = p.parse::<i32>() else { continue };
            if c.check_stat(&state_path(name, p)).await.ok().flatten().is_some() {
                add(w.add_delete(&state_path(name, p), None))?;
            }
            add(w.add_delete(&partition_path(name, p), None))?;
        }
        if c.check_stat(&partitions_path(name)).await.ok().flatten().is_some() {
            add(w.add_delete(&partitions_path(name), None))?;
        }
        add(w.add_delete(&topic_path(name), None))?;
        if c.check_stat(&config_path(name)).await.ok().flatten().is_some() {
            add(w.add_delete(&config_path(name), None))?;
        }
        match w.commit().await {
            Ok(_) => {}
            Err(zk::MultiWriteError::OperationFailed { source: zk::Error::NoNode, .. }) => {
                return Err(ClusterError::Refused(format!("topic {name} does not exist")));
            }
            Err(e) => return Err(ctx(format!("delete topic {name}"))(e.into())),
        }
        tracing::info!(topic = name, "deleted topic");
        self.reload().await
    }

    /// Replaces a topic's config overrides.
    pub async fn set_topic_config(&self, name: &str, config: &BTreeMap<String, String>) -> Result<(), ClusterError> {
        let c = self.client().await;
        let data = serde_json::to_vec(&EntityConfig { version: 1, config: config.clone() }).expect("json");
        match c.set_data(&config_path(name), &data, None).await {
            Ok(_) => {}
            Err(zk::Error::NoNode) => {
                c.create(&config_path(name), &data, &persistent()).await.map_err(ctx(format!("create config of {name}")))?;
            }
            Err(e) => return Err(ctx(format!("write config of {name}"))(e)),
        }
        // Kafka's change notification, for tools and brokers that watch /config/changes.
        let note = serde_json::to_vec(&ConfigChange { version: 2, entity_path: format!("topics/{name}") }).expect("json");
        let seq = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
        if let Err(e) = c.create(&format!("{CONFIG_CHANGES}/config_change_"), &note, &seq).await {
            tracing::warn!(topic = name, error = %e, "failed to write the config change notification");
        }
        self.reload().await
    }

    /// Reserves the next block of 1000 producer ids through `/latest_producer_id_block`.
    pub async fn allocate_producer_ids(&self) -> Result<(i64, i64), ClusterError> {
        let c = self.client().await;
        loop {
            let (start, version) = match c.get_data(PRODUCER_ID_BLOCK).await {
                Ok((d, stat)) if !d.is_empty() => {
                    let b: ProducerIdBlock = serde_json::from_slice(&d).map_err(|e| ClusterError::BadData { path: PRODUCER_ID_BLOCK.into(), reason: e.to_string() })?;
                    (b.block_end.parse::<i64>().unwrap_or(-1) + 1, Some(stat.version))
                }
                Ok((_, stat)) => (0, Some(stat.version)),
                Err(zk::Error::NoNode) => (0, None),
                Err(e) => return Err(ctx("read /latest_producer_id_block")(e)),
            };
            let end = start + 999;
            let rec = serde_json::to_vec(&ProducerIdBlock { version: 1, broker: self.config.broker_id, block_start: start.to_string(), block_end: end.to_string() }).expect("json");
            let res = match version {
                Some(v) => c.set_data(PRODUCER_ID_BLOCK, &rec, Some(v)).await.map(|_| ()),
                None => c.create(PRODUCER_ID_BLOCK, &rec, &persistent()).await.map(|_| ()),
            };
            match res {
                Ok(()) => return Ok((start, end)),
                Err(zk::Error::BadVersion | zk::Error::NodeExists) => continue,
                Err(e) => return Err(ctx("reserve producer ids")(e)),
            }
        }
    }

    /// Closes the session (the ephemeral registration goes at once).
    /// Controlled shutdown: asks the controller to move leadership and ISR membership off this
    /// broker, and waits (up to `timeout`) until no partition it leads has another live in-sync
    /// replica to take over. Returns how many partitions it still leads.
    pub async fn drain(&self, timeout: Duration) -> usize {
        let me = self.config.broker_id;
        let Some(reg) = self.snapshot().brokers.get(&me).cloned() else { return 0 };
        let c = self.client().await;
        let path = format!("{SHUTTING_DOWN}/{me}");
        // A node left by an earlier run of this broker (its session not expired yet) holds that
        // run's registration timestamp, which the controller ignores: replace it.
        let mut created = c.create(&path, reg.timestamp.as_bytes(), &ephemeral()).await;
        if matches!(created, Err(zk::Error::NodeExists)) {
            let _ = c.delete(&path, None).await;
            created = c.create(&path, reg.timestamp.as_bytes(), &ephemeral()).await;
        }
        if let Err(e) = created {
            tracing::warn!(error = %e, "cannot ask for a controlled shutdown; stopping without it");
            return 0;
        }
        // The controller may be this broker: its own pass does the moving.
        let _ = self.reload().await;
        self.control().await;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changes = self.subscribe();
        loop {
            let snap = self.snapshot();
            let movable = snap
                .topics
                .values()
                .flat_map(|t| t.partitions.iter())
                .filter(|p| p.leader == me && p.isr.iter().any(|r| *r != me && snap.brokers.contains_key(r)))
                .count();
            let led = snap.topics.values().flat_map(|t| t.partitions.iter()).filter(|p| p.leader == me).count();
            if movable == 0 {
                tracing::info!(still_leading = led, "controlled shutdown: leadership moved");
                return led;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(movable, "controlled shutdown timed out; stopping anyway");
                return led;
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep_until(deadline) => {}
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }

    pub async fn close(&self) {
        let c = self.client.lock().await;
        if let Ok(()) = c.delete(&broker_path(self.config.broker_id), None).await {
            tracing::info!("deregistered from the coordinator");
        }
        // Ephemerals outlive a process whose session is not closed until the session expires.
        let _ = c.delete(&format!("{SHUTTING_DOWN}/{}", self.config.broker_id), None).await;
        if let Ok((d, _)) = c.get_data(CONTROLLER).await {
            if serde_json::from_slice::<ControllerRecord>(&d).ok().map(|r| r.brokerid) == Some(self.config.broker_id) {
                let _ = c.delete(CONTROLLER, None).await;
            }
        }
    }
}
