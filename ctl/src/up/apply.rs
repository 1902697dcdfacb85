//! `stromctl up` run again on a state directory in use: the running one applies the resources
//! as the operator would. The new command writes `apply-request.json` (its resource paths and an
//! id) into the state directory and sends SIGHUP; the running one applies and writes
//! `apply-<id>.result` (`ok` or `refused`, then what it did), which the new command prints.
//!
//! What is applied: config changes by a rolling restart, one process at a time, the ensemble's
//! leader and the broker controller last, a broker only while no partition is under-replicated;
//! brokers added; brokers removed only when they hold no partition replica (as the operator
//! refuses, and `stromctl brokers drain <id>` empties one); topics created or grown; pipelines
//! restarted, started or stopped; an ensemble scaled one server at a time by reconfig as its
//! super user (as the operator does). Refused: adding or removing an ensemble or a broker
//! cluster (`down` then `up`), scaling an ensemble to or from one server (it runs standalone).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use strom_operator::probe::{super_digest, Live, Probe};
use strom_operator::render::local::{self, Member};
use strom_operator::scaling::{self, Plan};

use super::{ensure_topic, load, mode, name_of, usage, validate, Proc, Resources, Stack};
use crate::client::CtlError;

const REQUEST: &str = "apply-request.json";

fn result_path(state: &Path, id: &str) -> PathBuf {
    state.join(format!("apply-{id}.result"))
}

/// The new command's side: asks the `stromctl up` running as `pid` to apply `paths`, prints
/// its answer.
pub(super) fn ask_running(pid: u32, paths: &[PathBuf], state: &Path, wait: Duration) -> Result<(), CtlError> {
    // Refuse what cannot work here, before bothering the running one.
    validate(&load(paths)?)?;
    let id = format!("{}-{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    let abs: Vec<String> = paths.iter().map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()).display().to_string()).collect();
    let req = serde_json::json!({"id": id, "paths": abs});
    let tmp = state.join(format!("{REQUEST}.{id}"));
    std::fs::write(&tmp, req.to_string())?;
    std::fs::rename(&tmp, state.join(REQUEST))?;
    println!("stromctl up (pid {pid}) runs on {}: asking it to apply the resources", state.display());
    let _ = std::process::Command::new("kill").arg("-HUP").arg(pid.to_string()).status();
    let path = result_path(state, &id);
    let deadline = Instant::now() + wait;
    loop {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Some(body) = text.strip_suffix("\nend\n") {
                let _ = std::fs::remove_file(&path);
                let (verdict, lines) = body.split_once('\n').unwrap_or((body, ""));
                print!("{lines}{}", if lines.is_empty() { "" } else { "\n" });
                return if verdict == "ok" { Ok(()) } else { Err(usage(verdict.trim_start_matches("refused: ").to_string())) };
            }
        }
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return Err(CtlError::Kafka(format!("stromctl up (pid {pid}) exited before answering")));
        }
        if Instant::now() >= deadline {
            return Err(CtlError::Kafka(format!("stromctl up (pid {pid}) did not answer within {}s; see its output", wait.as_secs())));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl Stack {
    /// The running side: reads the request, applies it, writes the answer.
    pub(super) async fn answer_apply_request(&mut self) {
        let Ok(text) = std::fs::read_to_string(self.state.join(REQUEST)) else { return };
        let _ = std::fs::remove_file(self.state.join(REQUEST));
        let Ok(req) = serde_json::from_str::<serde_json::Value>(&text) else { return };
        let Some(id) = req["id"].as_str().map(str::to_string) else { return };
        let paths: Vec<PathBuf> = req["paths"].as_array().map(|a| a.iter().filter_map(|p| p.as_str().map(PathBuf::from)).collect()).unwrap_or_default();
        println!("applying {}", paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" "));
        let mut done = Vec::new();
        let outcome = match load(&paths).and_then(|r| validate(&r).map(|()| r)) {
            Ok(r) => self.apply(r, &mut done).await,
            Err(e) => Err(e.to_string()),
        };
        for l in &done {
            println!("{l}");
        }
        let verdict = match &outcome {
            Ok(()) if done.is_empty() => {
                done.push("no changes".into());
                "ok".to_string()
            }
            Ok(()) => "ok".to_string(),
            Err(why) => {
                println!("not applied: {why}");
                format!("refused: {why}")
            }
        };
        let body = format!("{verdict}\n{}\nend\n", done.join("\n"));
        let tmp = result_path(&self.state, &format!("{id}.tmp"));
        if std::fs::write(&tmp, body).is_ok() {
            let _ = std::fs::rename(&tmp, result_path(&self.state, &id));
        }
    }

    /// Applies `new`; `done` lists what was changed, also when a later step is refused.
    async fn apply(&mut self, new: Resources, done: &mut Vec<String>) -> Result<(), String> {
        let names = |v: Vec<(String, String)>| -> Vec<(String, String)> {
            let mut v = v;
            v.sort();
            v
        };
        let old_e = names(self.resources.ensembles.iter().map(|e| name_of(&e.metadata)).collect());
        let new_e = names(new.ensembles.iter().map(|e| name_of(&e.metadata)).collect());
        let old_b = names(self.resources.brokers.iter().map(|b| name_of(&b.metadata)).collect());
        let new_b = names(new.brokers.iter().map(|b| name_of(&b.metadata)).collect());
        if old_e != new_e || old_b != new_b {
            return Err("adding or removing a CoordinatorEnsemble or a BrokerCluster is not applied to a running stack: stromctl down, then up".into());
        }
        // Brokers list the ensemble's servers in zookeeper.connect. Growing, the servers come
        // first and the brokers then learn of them; shrinking, the brokers first move to the
        // servers that stay, so that none of them hangs on to a server being removed.
        let shrinking = new.ensembles.iter().any(|e| self.ensembles.iter().any(|(ns, name, procs)| name_of(&e.metadata) == (ns.clone(), name.clone()) && (e.spec.replicas as usize) < procs.len()));
        if shrinking {
            self.apply_clusters(&new, done).await?;
            self.apply_ensembles(&new, done).await?;
        } else {
            self.apply_ensembles(&new, done).await?;
            self.apply_clusters(&new, done).await?;
        }
        self.apply_topics(&new, done).await;
        self.apply_pipelines(&new, done).await?;
        self.resources = new;
        Ok(())
    }

    async fn apply_ensembles(&mut self, new: &Resources, done: &mut Vec<String>) -> Result<(), String> {
        for (i, (ns, name, procs)) in self.ensembles.iter_mut().enumerate() {
            let Some(e) = new.ensembles.iter().find(|e| name_of(&e.metadata) == (ns.clone(), name.clone())) else { continue };
            let password = super::admin_password(&self.state, ns, name).map_err(|e| e.to_string())?;
            let digest = super_digest(&password);
            scale_ensemble(ns, name, i, &e.spec, procs, &self.state, &self.zk_bin, &password, &digest, done).await?;
            let members = local::ensemble_members_with(ns, name, i, &e.spec, &self.state, Some(&digest));
            // Settings (server lines aside: membership changes by reconfig, not by restarts).
            let settings = |c: &str| strom_operator::render::ensemble::settings_hash(c);
            let changed: Vec<usize> = (0..procs.len()).filter(|&o| members.get(o).is_some_and(|m| settings(&m.config) != settings(&procs[o].member.config))).collect();
            if changed.is_empty() {
                continue;
            }
            // Followers first, the leader last: leadership moves once.
            let mut leader = None;
            for &o in &changed {
                if mode(&procs[o].member.address, procs[o].member.port).await.as_deref() == Some("leader") {
                    leader = Some(o);
                }
            }
            let mut order: Vec<usize> = changed.iter().copied().filter(|o| Some(*o) != leader).collect();
            order.extend(leader);
            for o in order {
                let p = &mut procs[o];
                restart_with(p, members[o].clone()).await.map_err(|e| e.to_string())?;
                serving(p, Duration::from_secs(60)).await?;
                done.push(format!("CoordinatorEnsemble {ns}/{name}: restarted {} with its new zoo.cfg{}", p.member.pod, if Some(o) == leader { " (the leader, last)" } else { "" }));
            }
        }
        Ok(())
    }

    async fn apply_clusters(&mut self, new: &Resources, done: &mut Vec<String>) -> Result<(), String> {
        // The ensembles' connect strings at their wanted size (see `apply` for the order).
        let connects: BTreeMap<(String, String), String> = self
            .ensembles
            .iter()
            .enumerate()
            .filter_map(|(i, (ns, name, _))| new.ensembles.iter().find(|e| name_of(&e.metadata) == (ns.clone(), name.clone())).map(|e| ((ns.clone(), name.clone()), local::ensemble_connect(i, &e.spec))))
            .collect();
        for (i, (ns, name, bootstrap, procs)) in self.clusters.iter_mut().enumerate() {
            let Some(b) = new.brokers.iter().find(|b| name_of(&b.metadata) == (ns.clone(), name.clone())) else { continue };
            let connect = match (&b.spec.coordinator.ensemble, &b.spec.coordinator.connect) {
                (Some(e), _) => connects.get(&(ns.clone(), e.clone())).cloned().unwrap_or_default(),
                (None, Some(c)) => c.clone(),
                _ => return Err(format!("BrokerCluster {ns}/{name}: no coordinator")),
            };
            let members = local::broker_members(ns, name, i, &b.spec, &connect, &self.state);
            let (old_n, new_n) = (procs.len(), members.len());
            // Scale-down, refused while the brokers that would go hold replicas (as the operator).
            if new_n < old_n {
                let hosting = strom_operator::kafka::brokers_with_replicas(bootstrap).await?;
                let held: Vec<i32> = (new_n as i32..old_n as i32).filter(|id| hosting.contains(id)).collect();
                if !held.is_empty() {
                    return Err(format!("BrokerCluster {ns}/{name}: scale-down from {old_n} to {new_n} refused: brokers {held:?} still hold partition replicas; move them first (stromctl brokers drain <id>)"));
                }
                while procs.len() > new_n {
                    if let Some(mut p) = procs.pop() {
                        p.stop().await;
                        done.push(format!("BrokerCluster {ns}/{name}: stopped {} (it held no replica)", p.member.pod));
                    }
                }
                *bootstrap = local::bootstrap(i, &b.spec);
            }
            // Config changes: one broker at a time, the controller last, none while a partition
            // is under-replicated.
            let changed: Vec<usize> = (0..procs.len().min(new_n)).filter(|&o| members[o].config != procs[o].member.config).collect();
            if !changed.is_empty() {
                let controller = strom_operator::kafka::brokers(bootstrap).await.map(|(_, c)| c).unwrap_or(-1);
                let mut order: Vec<usize> = changed.iter().rev().copied().filter(|o| *o as i32 != controller).collect();
                order.extend(changed.iter().copied().filter(|o| *o as i32 == controller));
                for o in order {
                    wait_for(Duration::from_secs(120), || async { strom_operator::kafka::health(bootstrap).await.is_ok_and(|h| h.under_replicated == 0) }, &format!("BrokerCluster {ns}/{name}: partitions still under-replicated before restarting broker {o}")).await?;
                    restart_with(&mut procs[o], members[o].clone()).await.map_err(|e| e.to_string())?;
                    registered(bootstrap, o as i32).await?;
                    done.push(format!("BrokerCluster {ns}/{name}: restarted {} with its new server.properties{}", procs[o].member.pod, if o as i32 == controller { " (the controller, last)" } else { "" }));
                }
            }
            // Scale-up: the new brokers.
            if new_n > procs.len() {
                let bin = self.broker_bin.clone().ok_or("no strom-broker binary")?;
                for m in members.into_iter().skip(procs.len()) {
                    if let Err(e) = std::net::TcpListener::bind((m.address.as_str(), m.port as u16)) {
                        return Err(format!("{}:{} ({}) is taken or unusable: {e}", m.address, m.port, m.pod));
                    }
                    let mut p = Proc { member: m, bin: bin.clone(), args: vec![], child: None, restarts: 0, next_start: Instant::now() };
                    write_member(&p.member).map_err(|e| e.to_string())?;
                    p.start().map_err(|e| e.to_string())?;
                    *bootstrap = local::bootstrap(i, &b.spec);
                    registered(bootstrap, p.member.ordinal).await?;
                    done.push(format!("BrokerCluster {ns}/{name}: started {} ({}:{})", p.member.pod, p.member.address, p.member.port));
                    procs.push(p);
                }
            }
        }
        Ok(())
    }

    async fn apply_topics(&mut self, new: &Resources, done: &mut Vec<String>) {
        for t in &new.topics {
            let (ns, name) = name_of(&t.metadata);
            if self.resources.topics.iter().any(|o| name_of(&o.metadata) == (ns.clone(), name.clone()) && o.spec == t.spec) {
                continue;
            }
            let Some((_, _, bootstrap, _)) = self.clusters.iter().find(|(n, c, _, _)| *n == ns && *c == t.spec.cluster) else { continue };
            let topic = t.spec.topic_name.clone().unwrap_or(name);
            let (b, spec, tn) = (bootstrap.clone(), t.spec.clone(), topic.clone());
            match tokio::task::spawn_blocking(move || ensure_topic(&b, &tn, spec.partitions, spec.replication_factor, &spec.config)).await {
                Ok(Ok(line)) => done.push(format!("Topic {topic}: {line}")),
                Ok(Err(e)) => done.push(format!("Topic {topic}: not applied: {e}")),
                Err(e) => done.push(format!("Topic {topic}: not applied: {e}")),
            }
        }
    }

    async fn apply_pipelines(&mut self, new: &Resources, done: &mut Vec<String>) -> Result<(), String> {
        let mut wanted: Vec<(Member, &'static str)> = Vec::new();
        for p in &new.pipelines {
            let (ns, name) = name_of(&p.metadata);
            let Some((_, _, bootstrap, _)) = self.clusters.iter().find(|(n, c, _, _)| *n == ns && *c == p.spec.cluster) else { continue };
            for (b, topic, partitions) in [(bootstrap.clone(), p.spec.topic.name.clone(), p.spec.topic.partitions), (bootstrap.clone(), format!("{}-dead-letter", p.spec.topic.name), 1)] {
                let rf = p.spec.topic.replication_factor;
                let _ = tokio::task::spawn_blocking(move || ensure_topic(&b, &topic, partitions, rf, &BTreeMap::new())).await;
            }
            for m in local::pipeline_members(&ns, &name, &p.spec, bootstrap, &self.state) {
                let role = if m.pod.ends_with("-shipper-0") { "ship" } else { "process" };
                wanted.push((m, role));
            }
        }
        // Gone: stopped.
        let mut kept = Vec::new();
        for mut p in std::mem::take(&mut self.pipelines) {
            if wanted.iter().any(|(m, _)| m.pod == p.member.pod && m.dir == p.member.dir) {
                kept.push(p);
            } else {
                p.stop().await;
                done.push(format!("stopped {} (its LogPipeline is gone)", p.member.pod));
            }
        }
        self.pipelines = kept;
        for (m, role) in wanted {
            match self.pipelines.iter_mut().find(|p| p.member.pod == m.pod && p.member.dir == m.dir) {
                Some(p) if p.member.config != m.config => {
                    let pod = m.pod.clone();
                    restart_with(p, m).await.map_err(|e| e.to_string())?;
                    done.push(format!("restarted {pod} with its new config"));
                }
                Some(_) => {}
                None => {
                    let bin = self.pipeline_bin.clone().or_else(|| super::binary("strom-pipeline").ok()).ok_or("strom-pipeline not found next to stromctl or on PATH")?;
                    let mut p = Proc { member: m, bin, args: vec![role.into(), "--config".into()], child: None, restarts: 0, next_start: Instant::now() };
                    write_member(&p.member).map_err(|e| e.to_string())?;
                    p.start().map_err(|e| e.to_string())?;
                    done.push(format!("started {}", p.member.pod));
                    self.pipelines.push(p);
                }
            }
        }
        Ok(())
    }
}

/// Scales a running ensemble to `spec.replicas` servers as the operator does (`scaling::plan`):
/// one server at a time by reconfig as its super user; a new server starts first with the
/// members and itself in its zoo.cfg, a leaving one stops (and its directory goes) after.
#[allow(clippy::too_many_arguments)]
async fn scale_ensemble(ns: &str, name: &str, index: usize, spec: &strom_operator::crd::ensemble::CoordinatorEnsembleSpec, procs: &mut Vec<Proc>, state: &Path, bin: &Path, password: &str, digest: &str, done: &mut Vec<String>) -> Result<(), String> {
    let what = format!("CoordinatorEnsemble {ns}/{name}");
    for _ in 0..8 {
        let connect = procs.iter().map(|p| format!("{}:{}", p.member.address, p.member.port)).collect::<Vec<_>>().join(",");
        let running = procs.len() as i32;
        if running == spec.replicas {
            return Ok(());
        }
        let text = Live.ensemble_config(connect.clone()).await.map_err(|e| format!("{what}: {e}"))?;
        let members_at = |pods: i32| {
            let mut s = spec.clone();
            s.replicas = pods;
            local::ensemble_members_with(ns, name, index, &s, state, Some(digest))
        };
        match scaling::plan(&scaling::voters(&text), spec.replicas, running) {
            Plan::Steady { .. } => return Ok(()),
            Plan::Unexpected { why, .. } => return Err(format!("{what}: {why}")),
            Plan::Grow { pods, add } => {
                let members = members_at(pods);
                let m = members[(add - 1) as usize].clone();
                if let Err(e) = std::net::TcpListener::bind((m.address.as_str(), m.port as u16)) {
                    return Err(format!("{}:{} ({}) is taken or unusable: {e}", m.address, m.port, m.pod));
                }
                let prefix = format!("server.{add}=");
                let line = m.config.lines().find(|l| l.starts_with(&prefix)).map(str::to_string).ok_or_else(|| format!("{what}: no {prefix} line rendered"))?;
                let mut p = Proc { member: m, bin: bin.to_path_buf(), args: vec![], child: None, restarts: 0, next_start: Instant::now() };
                let _ = std::fs::remove_dir_all(&p.member.dir); // a server joins from an empty directory
                write_member(&p.member).map_err(|e| e.to_string())?;
                p.start().map_err(|e| e.to_string())?;
                tokio::time::sleep(Duration::from_millis(500)).await;
                if let Err(e) = Live.reconfigure(connect, password.to_string(), vec![line], vec![]).await {
                    p.stop().await;
                    return Err(format!("{what}: adding server {add}: {e}"));
                }
                serving(&mut p, Duration::from_secs(60)).await?;
                done.push(format!("{what}: added server {add} ({}) by reconfig", p.member.pod));
                procs.push(p);
                rewrite(procs, &members);
            }
            Plan::Shrink { pods, remove } => {
                Live.reconfigure(connect, password.to_string(), vec![], vec![remove]).await.map_err(|e| format!("{what}: removing server {remove}: {e}"))?;
                if let Some(pos) = procs.iter().position(|p| p.member.ordinal as i64 == remove - 1) {
                    let mut p = procs.remove(pos);
                    p.stop().await;
                    // its volume goes with it, as the operator's StatefulSet deletes the claim
                    let _ = std::fs::remove_dir_all(&p.member.dir);
                    done.push(format!("{what}: removed server {remove} ({}) by reconfig, then stopped it", p.member.pod));
                }
                rewrite(procs, &members_at(pods - 1));
            }
        }
    }
    Err(format!("{what}: the membership did not settle"))
}

/// The members' zoo.cfg files list the new membership (read at their next start; the current
/// membership is in their logs).
fn rewrite(procs: &mut [Proc], members: &[Member]) {
    for (p, m) in procs.iter_mut().zip(members) {
        p.member = m.clone();
        let _ = std::fs::write(&p.member.config_path, &p.member.config);
    }
}

/// Waits until a coordinator serves (leader, follower or standalone).
async fn serving(p: &mut Proc, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if matches!(mode(&p.member.address, p.member.port).await.as_deref(), Some("leader" | "follower" | "standalone")) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("{} does not serve {}s after its start; see its server.log", p.member.pod, limit.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The member's directory and config file (and myid for a coordinator).
pub(super) fn write_member(m: &Member) -> std::io::Result<()> {
    std::fs::create_dir_all(m.dir.join("data"))?;
    std::fs::write(&m.config_path, &m.config)?;
    if m.config_path.file_name().is_some_and(|f| f == "zoo.cfg") {
        std::fs::write(m.dir.join("data").join("myid"), format!("{}\n", m.ordinal + 1))?;
    }
    Ok(())
}

/// Stops the process gracefully, writes its new config, starts it again.
async fn restart_with(p: &mut Proc, m: Member) -> Result<(), CtlError> {
    p.stop().await;
    p.member = m;
    write_member(&p.member)?;
    p.restarts = 0;
    p.start()
}

async fn wait_for<F, Fut>(limit: Duration, mut ok: F, what: &str) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if ok().await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("{what} after {}s", limit.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until broker `id` is registered again.
async fn registered(bootstrap: &str, id: i32) -> Result<(), String> {
    wait_for(Duration::from_secs(60), || async move { strom_operator::kafka::brokers(bootstrap).await.is_ok_and(|(ids, _)| ids.contains(&id)) }, &format!("broker {id} is not registered")).await
}
