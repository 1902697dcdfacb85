//! `stromctl up` run again on a state directory in use: the running one applies the resources
//! as the operator would. The new command writes `apply-request.json` (its resource paths and an
//! id) into the state directory and sends SIGHUP; the running one applies and writes
//! `apply-<id>.result` (`ok` or `refused`, then what it did), which the new command prints.
//!
//! What is applied: config changes by a rolling restart, one process at a time, the ensemble's
//! leader and the broker controller last, a broker only while no partition is under-replicated;
//! brokers added; brokers removed only when they hold no partition replica (as the operator
//! refuses, and `stromctl brokers drain <id>` empties one); topics created or grown; pipelines
//! restarted, started or stopped. Refused: adding or removing an ensemble or a broker cluster,
//! and scaling an ensemble (the operator does that by reconfig; here, `down` then `up`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use strom_operator::render::local::{self, Member};

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
        for e in &new.ensembles {
            let (ns, name) = name_of(&e.metadata);
            let old = self.resources.ensembles.iter().find(|o| name_of(&o.metadata) == (ns.clone(), name.clone())).map(|o| o.spec.replicas).unwrap_or_default();
            if old != e.spec.replicas {
                return Err(format!("CoordinatorEnsemble {ns}/{name}: scaling from {old} to {} servers is not applied by stromctl up (the operator scales an ensemble by reconfig); stromctl down, then up", e.spec.replicas));
            }
        }
        self.apply_ensembles(&new, done).await?;
        self.apply_clusters(&new, done).await?;
        self.apply_topics(&new, done).await;
        self.apply_pipelines(&new, done).await?;
        self.resources = new;
        Ok(())
    }

    async fn apply_ensembles(&mut self, new: &Resources, done: &mut Vec<String>) -> Result<(), String> {
        for (i, (ns, name, procs)) in self.ensembles.iter_mut().enumerate() {
            let Some(e) = new.ensembles.iter().find(|e| name_of(&e.metadata) == (ns.clone(), name.clone())) else { continue };
            let members = local::ensemble_members(ns, name, i, &e.spec, &self.state);
            let changed: Vec<usize> = (0..procs.len()).filter(|&o| members.get(o).is_some_and(|m| m.config != procs[o].member.config)).collect();
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
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    if matches!(mode(&p.member.address, p.member.port).await.as_deref(), Some("leader" | "follower" | "standalone")) {
                        break;
                    }
                    if Instant::now() >= deadline {
                        return Err(format!("{} does not serve 60s after its restart; see its server.log", p.member.pod));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                done.push(format!("CoordinatorEnsemble {ns}/{name}: restarted {} with its new zoo.cfg{}", p.member.pod, if Some(o) == leader { " (the leader, last)" } else { "" }));
            }
        }
        Ok(())
    }

    async fn apply_clusters(&mut self, new: &Resources, done: &mut Vec<String>) -> Result<(), String> {
        let connects: BTreeMap<(String, String), String> = self.resources.ensembles.iter().enumerate().map(|(i, e)| (name_of(&e.metadata), local::ensemble_connect(i, &e.spec))).collect();
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

/// The member's directory and config file (and myid for a coordinator).
fn write_member(m: &Member) -> std::io::Result<()> {
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
