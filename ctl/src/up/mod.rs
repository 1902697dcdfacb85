//! `stromctl up <dir|file>...`: the same CoordinatorEnsemble, BrokerCluster, Topic and
//! LogPipeline resources the operator reconciles, run as local processes: every replica on its
//! own loopback address with the standard ports, configs from the operator's own rendering,
//! state under `--state-dir` (kept across runs, like persistent volumes), one log file per
//! replica; a pipeline's shipper (reading this machine's files) and processor run as two more
//! processes. A replica that dies is restarted with backoff, as a kubelet would. Ctrl-C (or
//! SIGTERM) stops everything: pipelines first, then brokers, then the ensembles.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde::Deserialize;
use strom_operator::crd::broker::BrokerCluster;
use strom_operator::crd::ensemble::CoordinatorEnsemble;
use strom_operator::crd::pipeline::LogPipeline;
use strom_operator::crd::topic::Topic;
use strom_operator::render::local::{self, Member};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::CtlError;

mod apply;

#[derive(Args)]
pub struct Opts {
    /// Resource files, or directories of them (*.yaml, *.yml).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Where every replica keeps its data and log.
    #[arg(long, default_value = ".strom")]
    pub state_dir: PathBuf,
    /// Seconds to wait for the stack to be ready.
    #[arg(long, default_value_t = 90)]
    pub timeout: u64,
    /// Return once the stack is ready, leaving it running (its output in <state-dir>/up.log;
    /// `stromctl down` stops it).
    #[arg(long)]
    pub detach: bool,
}

#[derive(Args)]
pub struct StateOpts {
    #[arg(long, default_value = ".strom")]
    pub state_dir: PathBuf,
}

#[derive(Args)]
pub struct DownOpts {
    #[arg(long, default_value = ".strom")]
    pub state_dir: PathBuf,
    /// Also delete the state directory (every replica's data).
    #[arg(long)]
    pub purge: bool,
}

#[derive(Args)]
pub struct LogsOpts {
    /// A replica, as `<resource>-<ordinal>` (`kafka-0`, `zk-2`).
    pub replica: String,
    #[arg(long, default_value = ".strom")]
    pub state_dir: PathBuf,
    /// Keep printing what is appended.
    #[arg(short, long)]
    pub follow: bool,
}

/// The pid of the `stromctl up` running on a state directory, if any.
fn running_up(state: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(state.join("up.pid")).ok()?.trim().parse().ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

/// Replica directories under a state directory: (namespace/resource, replica name, dir).
fn replicas(state: &Path) -> Vec<(String, String, PathBuf)> {
    let mut out = Vec::new();
    let dirs = |p: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(p).map(|r| r.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect()).unwrap_or_default();
        v.sort();
        v
    };
    for ns in dirs(state) {
        for res in dirs(&ns) {
            for rep in dirs(&res) {
                let (n, r, o) = (ns.file_name().unwrap_or_default().to_string_lossy().to_string(), res.file_name().unwrap_or_default().to_string_lossy().to_string(), rep.file_name().unwrap_or_default().to_string_lossy().to_string());
                if o.parse::<i32>().is_ok() {
                    out.push((format!("{n}/{r}"), format!("{r}-{o}"), rep));
                }
            }
        }
    }
    out
}

/// `stromctl status`: each replica, whether its process runs, its address.
pub fn status(o: StateOpts) -> Result<(), CtlError> {
    let state = &o.state_dir;
    match running_up(state) {
        Some(pid) => println!("stromctl up (pid {pid}) runs on {}", state.display()),
        None => println!("no stromctl up runs on {}", state.display()),
    }
    for (res, name, dir) in replicas(state) {
        let pid = std::fs::read_to_string(dir.join("pid")).ok().and_then(|p| p.trim().parse::<u32>().ok()).filter(|p| Path::new(&format!("/proc/{p}")).exists());
        let cfg = std::fs::read_to_string(dir.join("zoo.cfg")).or_else(|_| std::fs::read_to_string(dir.join("server.properties"))).unwrap_or_default();
        let key = |k: &str| cfg.lines().find_map(|l| l.strip_prefix(k).map(str::to_string));
        let addr = match (key("clientPortAddress="), key("clientPort=")) {
            (Some(a), Some(p)) => format!("{a}:{p}"),
            _ => key("listeners=PLAINTEXT://").unwrap_or_default(),
        };
        println!("{res}\t{name}\t{}\t{addr}", pid.map_or("stopped".to_string(), |p| format!("running (pid {p})")));
    }
    Ok(())
}

/// `stromctl logs <replica> [-f]`.
pub fn logs(o: LogsOpts) -> Result<(), CtlError> {
    let Some((_, _, dir)) = replicas(&o.state_dir).into_iter().find(|(_, n, _)| *n == o.replica) else {
        return Err(usage(format!("no replica {} under {}", o.replica, o.state_dir.display())));
    };
    let path = dir.join("server.log");
    let mut f = std::fs::File::open(&path)?;
    let mut out = std::io::stdout();
    std::io::copy(&mut f, &mut out)?;
    if !o.follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(Duration::from_millis(250));
        std::io::copy(&mut f, &mut out)?;
    }
}

/// `stromctl down [--purge]`: stops the `stromctl up` running on the state directory (as Ctrl-C
/// does) and waits for it.
pub fn down(o: DownOpts) -> Result<(), CtlError> {
    if let Some(pid) = running_up(&o.state_dir) {
        unsafe_sigterm(pid);
        let deadline = Instant::now() + Duration::from_secs(120);
        while Path::new(&format!("/proc/{pid}")).exists() {
            if Instant::now() >= deadline {
                return Err(CtlError::Kafka(format!("stromctl up (pid {pid}) did not stop within 120s")));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        println!("stopped stromctl up (pid {pid})");
    } else {
        println!("no stromctl up runs on {}", o.state_dir.display());
    }
    if o.purge {
        std::fs::remove_dir_all(&o.state_dir).or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) })?;
        println!("removed {}", o.state_dir.display());
    }
    Ok(())
}

/// `--detach`: the same command in the background (in its own session, output to
/// <state>/up.log), returning once it is ready or has failed.
fn detach(o: &Opts) -> Result<(), CtlError> {
    std::fs::create_dir_all(&o.state_dir)?;
    let log_path = o.state_dir.join("up.log");
    let log = std::fs::File::create(&log_path)?;
    let mut args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--detach").collect();
    if args.first().map(String::as_str) != Some("up") {
        args.insert(0, "up".into());
    }
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args(&args).stdout(log.try_clone()?).stderr(log).stdin(std::process::Stdio::null());
    // Its own session: the terminal's Ctrl-C no longer reaches it.
    unsafe_setsid(&mut cmd);
    let mut child = cmd.spawn()?;
    let deadline = Instant::now() + Duration::from_secs(o.timeout + 30);
    loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if text.lines().any(|l| l.starts_with("ready in")) {
            print!("{text}");
            println!("running in the background (pid {}); stromctl status / logs <replica> / down", child.id());
            return Ok(());
        }
        if let Some(st) = child.try_wait()? {
            print!("{text}");
            return Err(CtlError::Kafka(format!("stromctl up exited ({st}) before it was ready")));
        }
        if Instant::now() >= deadline {
            return Err(CtlError::Kafka("stromctl up was not ready in time; see its output in the state directory's up.log".into()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn unsafe_setsid(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid is async-signal-safe; it runs in the child between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
}

#[derive(Default)]
struct Resources {
    ensembles: Vec<CoordinatorEnsemble>,
    brokers: Vec<BrokerCluster>,
    topics: Vec<Topic>,
    pipelines: Vec<LogPipeline>,
    skipped: Vec<String>,
}

fn usage(msg: String) -> CtlError {
    CtlError::Usage(msg)
}

/// The resource files: the files given, and the *.yaml / *.yml under the directories given.
fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CtlError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?.flatten().map(|e| e.path()).collect();
            entries.sort();
            for e in entries {
                if e.is_dir() {
                    out.extend(files(std::slice::from_ref(&e))?);
                } else if e.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                    out.push(e);
                }
            }
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(usage(format!("{}: no such file or directory", p.display())));
        }
    }
    Ok(out)
}

fn load(paths: &[PathBuf]) -> Result<Resources, CtlError> {
    let mut r = Resources::default();
    for f in files(paths)? {
        let text = std::fs::read_to_string(&f)?;
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v = serde_yaml::Value::deserialize(doc).map_err(|e| usage(format!("{}: {e}", f.display())))?;
            if v.is_null() {
                continue;
            }
            let kind = v["kind"].as_str().unwrap_or_default().to_string();
            let bad = |e: serde_yaml::Error| usage(format!("{}: invalid {kind}: {e}", f.display()));
            let with_ns = |mut meta: kube::core::ObjectMeta| {
                meta.namespace.get_or_insert_with(|| "default".into());
                meta
            };
            match kind.as_str() {
                "CoordinatorEnsemble" => {
                    let mut e: CoordinatorEnsemble = serde_yaml::from_value(v).map_err(bad)?;
                    e.metadata = with_ns(e.metadata);
                    r.ensembles.push(e);
                }
                "BrokerCluster" => {
                    let mut b: BrokerCluster = serde_yaml::from_value(v).map_err(bad)?;
                    b.metadata = with_ns(b.metadata);
                    r.brokers.push(b);
                }
                "Topic" => {
                    let mut t: Topic = serde_yaml::from_value(v).map_err(bad)?;
                    t.metadata = with_ns(t.metadata);
                    r.topics.push(t);
                }
                "LogPipeline" => {
                    let mut p: LogPipeline = serde_yaml::from_value(v).map_err(bad)?;
                    p.metadata = with_ns(p.metadata);
                    r.pipelines.push(p);
                }
                other => return Err(usage(format!("{}: kind {other:?} is not a Strom resource (CoordinatorEnsemble, BrokerCluster, Topic, LogPipeline)", f.display()))),
            }
        }
    }
    let key = |m: &kube::core::ObjectMeta| (m.namespace.clone(), m.name.clone());
    r.ensembles.sort_by_key(|e| key(&e.metadata));
    r.brokers.sort_by_key(|b| key(&b.metadata));
    Ok(r)
}

fn name_of(m: &kube::core::ObjectMeta) -> (String, String) {
    (m.namespace.clone().unwrap_or_else(|| "default".into()), m.name.clone().unwrap_or_default())
}

/// The checks the CRD's schema and rules make, for resources that never met an API server.
fn validate(r: &Resources) -> Result<(), CtlError> {
    for e in &r.ensembles {
        if let Some(why) = strom_operator::controller::ensemble_problem(e) {
            return Err(usage(format!("CoordinatorEnsemble {}: {why}", name_of(&e.metadata).1)));
        }
    }
    for b in &r.brokers {
        let (ns, name) = name_of(&b.metadata);
        let s = &b.spec;
        if s.replicas < 1 {
            return Err(usage(format!("BrokerCluster {name}: replicas must be at least 1")));
        }
        if s.config.default_replication_factor > s.replicas {
            return Err(usage(format!("BrokerCluster {name}: config.defaultReplicationFactor ({}) cannot exceed replicas ({})", s.config.default_replication_factor, s.replicas)));
        }
        match (&s.coordinator.ensemble, &s.coordinator.connect) {
            (Some(e), None) if r.ensembles.iter().any(|x| name_of(&x.metadata) == (ns.clone(), e.clone())) => {}
            (Some(e), None) => return Err(usage(format!("BrokerCluster {name}: coordinator ensemble {e} is not among the resources"))),
            (None, Some(_)) => {}
            _ => return Err(usage(format!("BrokerCluster {name}: give exactly one of coordinator.ensemble and coordinator.connect"))),
        }
    }
    for p in &r.pipelines {
        let (ns, name) = name_of(&p.metadata);
        let Some(b) = r.brokers.iter().find(|b| name_of(&b.metadata) == (ns.clone(), p.spec.cluster.clone())) else {
            return Err(usage(format!("LogPipeline {name}: cluster {} is not among the resources", p.spec.cluster)));
        };
        let t = &p.spec.topic;
        if t.partitions < 1 || t.replication_factor < 1 || t.replication_factor > b.spec.replicas {
            return Err(usage(format!("LogPipeline {name}: topic {} with replication factor {} on {} brokers cannot work", t.name, t.replication_factor, b.spec.replicas)));
        }
        if p.spec.sources.is_empty() || p.spec.sinks.is_empty() {
            return Err(usage(format!("LogPipeline {name}: a pipeline needs at least one source and one sink")));
        }
        if !["none", "nginx", "nginx-combined", "nginx-error"].contains(&p.spec.processor.parse.as_str()) {
            return Err(usage(format!("LogPipeline {name}: parse must be none, nginx, nginx-combined or nginx-error")));
        }
        // Without the CA a private certificate is refused on every request: say so now rather
        // than run a processor that retries forever.
        if let Some(secret) = p.spec.sinks.iter().find_map(|s| s.tls_secret.as_ref()) {
            return Err(usage(format!("LogPipeline {name}: tlsSecret {secret} is a Kubernetes Secret, which stromctl up cannot read; remove tlsSecret (HTTPS then trusts only the public roots) or run this pipeline under the operator")));
        }
    }
    for t in &r.topics {
        let (ns, name) = name_of(&t.metadata);
        let Some(b) = r.brokers.iter().find(|b| name_of(&b.metadata) == (ns.clone(), t.spec.cluster.clone())) else {
            return Err(usage(format!("Topic {name}: cluster {} is not among the resources", t.spec.cluster)));
        };
        if t.spec.partitions < 1 || t.spec.replication_factor < 1 || t.spec.replication_factor > b.spec.replicas {
            return Err(usage(format!("Topic {name}: {} partitions with replication factor {} on {} brokers cannot work", t.spec.partitions, t.spec.replication_factor, b.spec.replicas)));
        }
    }
    Ok(())
}

/// A server binary next to stromctl or on PATH.
fn binary(name: &str) -> Result<PathBuf, CtlError> {
    if let Some(dir) = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf)) {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(usage(format!("{name} not found next to stromctl or on PATH (build it: cargo build --release -p {name})")))
}

struct Proc {
    member: Member,
    bin: PathBuf,
    /// Arguments before the config path (`ship --config` for a shipper).
    args: Vec<String>,
    child: Option<tokio::process::Child>,
    restarts: u32,
    next_start: Instant,
}

impl Proc {
    fn start(&mut self) -> Result<(), CtlError> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.member.dir.join("server.log"))?;
        let child = tokio::process::Command::new(&self.bin)
            .args(&self.args)
            .arg(&self.member.config_path)
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(std::process::Stdio::null())
            .env("NO_COLOR", "1")
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| usage(format!("cannot start {}: {e}", self.bin.display())))?;
        if let Some(pid) = child.id() {
            let _ = std::fs::write(self.member.dir.join("pid"), pid.to_string());
        }
        self.child = Some(child);
        Ok(())
    }

    async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Some(pid) = c.id() {
                // SIGTERM: a graceful stop (brokers move their leadership away first).
                unsafe_sigterm(pid);
            }
            if tokio::time::timeout(Duration::from_secs(30), c.wait()).await.is_err() {
                let _ = c.kill().await;
            }
        }
    }
}

fn unsafe_sigterm(pid: u32) {
    let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
}

/// `srvr`'s Mode line of a coordinator ("leader", "follower"), if it answers.
async fn mode(addr: &str, port: i32) -> Option<String> {
    let mut s = tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect((addr, port as u16))).await.ok()?.ok()?;
    s.write_all(b"srvr").await.ok()?;
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(1), s.read_to_string(&mut out)).await.ok()?.ok()?;
    out.lines().find_map(|l| l.strip_prefix("Mode: ").map(str::to_string))
}

/// The password of an ensemble's super user (who may reconfig it), made once and kept in
/// `<state>/<namespace>/<name>/admin-password` (owner-only), as the operator keeps it in a Secret.
fn admin_password(state: &Path, ns: &str, name: &str) -> Result<String, CtlError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = state.join(ns).join(name).join("admin-password");
    if let Ok(pw) = std::fs::read_to_string(&path) {
        if !pw.trim().is_empty() {
            return Ok(pw.trim().to_string());
        }
    }
    use rand::distr::{Alphanumeric, SampleString};
    let pw = Alphanumeric.sample_string(&mut rand::rng(), 32);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path)?;
    std::io::Write::write_all(&mut f, pw.as_bytes())?;
    Ok(pw)
}

/// The layout of a state directory this stromctl writes (`state-format` in it). A directory
/// written by a stromctl with another layout is refused rather than misread.
const STATE_FORMAT: &str = "1";

/// Checks (or, on a new directory, writes) the state directory's format.
fn check_state_format(state: &Path) -> Result<(), CtlError> {
    let path = state.join("state-format");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let format = text.lines().next().unwrap_or_default().trim().to_string();
            if format != STATE_FORMAT {
                let by = text.lines().nth(1).unwrap_or("an unknown stromctl").trim().to_string();
                return Err(usage(format!("{} holds state format {format:?} (written by {by}); this stromctl {} reads format {STATE_FORMAT}: use that stromctl, or another --state-dir (stromctl down --purge deletes it)", state.display(), env!("CARGO_PKG_VERSION"))));
            }
            Ok(())
        }
        // A new directory (or one from before the format was written down: the same layout).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::write(&path, format!("{STATE_FORMAT}\nstromctl {}\n", env!("CARGO_PKG_VERSION")))?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn lock(state: &Path) -> Result<PathBuf, CtlError> {
    std::fs::create_dir_all(state)?;
    check_state_format(state)?;
    let path = state.join("up.pid");
    if let Ok(pid) = std::fs::read_to_string(&path) {
        let pid = pid.trim();
        if !pid.is_empty() && Path::new(&format!("/proc/{pid}")).exists() {
            return Err(usage(format!("stromctl up (pid {pid}) is already running on {}", state.display())));
        }
    }
    std::fs::write(&path, std::process::id().to_string())?;
    Ok(path)
}

pub fn run(o: Opts) -> Result<(), CtlError> {
    if o.detach {
        // Fail fast in the foreground on what is wrong with the resources.
        validate(&load(&o.paths)?)?;
        if let Some(pid) = running_up(&o.state_dir) {
            return Err(usage(format!("stromctl up (pid {pid}) is already running on {}", o.state_dir.display())));
        }
        return detach(&o);
    }
    if let Some(pid) = running_up(&o.state_dir) {
        return apply::ask_running(pid, &o.paths, &o.state_dir, Duration::from_secs(o.timeout + 600));
    }
    let r = load(&o.paths)?;
    validate(&r)?;
    if r.ensembles.is_empty() && r.brokers.is_empty() {
        return Err(usage("no CoordinatorEnsemble or BrokerCluster among the resources".into()));
    }
    let zk_bin = binary("strom-coordinator")?;
    let broker_bin = if r.brokers.is_empty() { None } else { Some(binary("strom-broker")?) };
    let pipeline_bin = if r.pipelines.is_empty() { None } else { Some(binary("strom-pipeline")?) };
    let state = std::path::absolute(&o.state_dir)?;
    let lock_path = lock(&state)?;
    let result = tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(up(r, &state, zk_bin, broker_bin, pipeline_bin, Duration::from_secs(o.timeout)));
    let _ = std::fs::remove_file(lock_path);
    result
}

async fn up(r: Resources, state: &Path, zk_bin: PathBuf, broker_bin: Option<PathBuf>, pipeline_bin: Option<PathBuf>, timeout: Duration) -> Result<(), CtlError> {
    for s in &r.skipped {
        println!("skipping {s}");
    }
    // Render every member, then check every address is free before starting anything.
    let mut ensembles: Vec<(String, String, Vec<Proc>)> = Vec::new();
    let mut connects: BTreeMap<(String, String), String> = BTreeMap::new();
    for (i, e) in r.ensembles.iter().enumerate() {
        let (ns, name) = name_of(&e.metadata);
        let digest = strom_operator::probe::super_digest(&admin_password(state, &ns, &name)?);
        let members = local::ensemble_members_with(&ns, &name, i, &e.spec, state, Some(&digest));
        connects.insert((ns.clone(), name.clone()), local::ensemble_connect(i, &e.spec));
        let procs = members.into_iter().map(|m| Proc { member: m, bin: zk_bin.clone(), args: vec![], child: None, restarts: 0, next_start: Instant::now() }).collect();
        ensembles.push((ns, name, procs));
    }
    let mut clusters: Vec<(String, String, String, Vec<Proc>)> = Vec::new();
    for (i, b) in r.brokers.iter().enumerate() {
        let (ns, name) = name_of(&b.metadata);
        let connect = match (&b.spec.coordinator.ensemble, &b.spec.coordinator.connect) {
            (Some(e), _) => connects[&(ns.clone(), e.clone())].clone(),
            (None, Some(c)) => c.clone(),
            _ => unreachable!("validated"),
        };
        let members = local::broker_members(&ns, &name, i, &b.spec, &connect, state);
        let bin = broker_bin.clone().expect("a broker binary when there are brokers");
        let procs = members.into_iter().map(|m| Proc { member: m, bin: bin.clone(), args: vec![], child: None, restarts: 0, next_start: Instant::now() }).collect();
        clusters.push((ns, name, local::bootstrap(i, &b.spec), procs));
    }
    // Pipelines: a shipper and a processor each, on their cluster.
    let mut pipelines: Vec<Proc> = Vec::new();
    let mut pipeline_topics: Vec<(String, String, i32, i32)> = Vec::new();
    for p in &r.pipelines {
        let (ns, name) = name_of(&p.metadata);
        let Some((_, _, bootstrap, _)) = clusters.iter().find(|(n, c, _, _)| *n == ns && *c == p.spec.cluster) else { continue };
        if p.spec.sinks.iter().any(|s| s.credentials_secret.is_some()) {
            println!("LogPipeline {ns}/{name}: sink credentials come from Kubernetes Secrets; here its sinks are used without them");
        }
        pipeline_topics.push((bootstrap.clone(), p.spec.topic.name.clone(), p.spec.topic.partitions, p.spec.topic.replication_factor));
        pipeline_topics.push((bootstrap.clone(), format!("{}-dead-letter", p.spec.topic.name), 1, p.spec.topic.replication_factor));
        let bin = pipeline_bin.clone().expect("a pipeline binary when there are pipelines");
        for m in local::pipeline_members(&ns, &name, &p.spec, bootstrap, state) {
            let role = if m.pod.ends_with("-shipper-0") { "ship" } else { "process" };
            pipelines.push(Proc { member: m, bin: bin.clone(), args: vec![role.into(), "--config".into()], child: None, restarts: 0, next_start: Instant::now() });
        }
    }
    let all = ensembles.iter().flat_map(|(_, _, p)| p.iter()).chain(clusters.iter().flat_map(|(_, _, _, p)| p.iter())).chain(pipelines.iter());
    for p in all {
        let m = &p.member;
        if m.port > 0 {
            if let Err(e) = std::net::TcpListener::bind((m.address.as_str(), m.port as u16)) {
                return Err(usage(format!("{}:{} ({}) is taken or unusable: {e}", m.address, m.port, m.pod)));
            }
        }
        apply::write_member(m)?;
    }
    let started = Instant::now();
    let deadline = started + timeout;
    let mut stop = Box::pin(shutdown_signal());
    // Ensembles first, each until it has a leader.
    for i in 0..ensembles.len() {
        for p in ensembles[i].2.iter_mut() {
            p.start()?;
            println!("started {} ({}:{})", p.member.pod, p.member.address, p.member.port);
        }
        let (ns, name) = (ensembles[i].0.clone(), ensembles[i].1.clone());
        let leader = loop {
            let mut found = None;
            for p in ensembles[i].2.iter() {
                // one server runs standalone: it leads itself
                if matches!(mode(&p.member.address, p.member.port).await.as_deref(), Some("leader" | "standalone")) {
                    found = Some(p.member.pod.clone());
                }
            }
            if let Some(l) = found {
                break l;
            }
            if Instant::now() >= deadline {
                stop_all(&mut clusters, &mut ensembles).await;
                return Err(CtlError::Kafka(format!("CoordinatorEnsemble {ns}/{name} elected no leader within {}s; see its server.log files under {}", timeout.as_secs(), state.display())));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        println!("CoordinatorEnsemble {ns}/{name}: leader {leader}, connect {}", connects[&(ns.clone(), name.clone())]);
    }
    for i in 0..clusters.len() {
        for p in clusters[i].3.iter_mut() {
            p.start()?;
            println!("started {} ({}:{})", p.member.pod, p.member.address, p.member.port);
        }
        let (ns, name, bootstrap) = (clusters[i].0.clone(), clusters[i].1.clone(), clusters[i].2.clone());
        let want = clusters[i].3.len();
        let seen = loop {
            let b = bootstrap.clone();
            let n = tokio::task::spawn_blocking(move || broker_count(&b)).await.unwrap_or(0);
            if n >= want {
                break n;
            }
            if Instant::now() >= deadline {
                stop_all(&mut clusters, &mut ensembles).await;
                return Err(CtlError::Kafka(format!("BrokerCluster {ns}/{name}: {n} of {want} brokers registered within {}s; see their server.log files under {}", timeout.as_secs(), state.display())));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        println!("BrokerCluster {ns}/{name}: {seen} brokers, bootstrap {bootstrap}");
    }
    for t in &r.topics {
        let (ns, name) = name_of(&t.metadata);
        let Some((_, _, bootstrap, _)) = clusters.iter().find(|(n, c, _, _)| *n == ns && *c == t.spec.cluster) else { continue };
        let topic = t.spec.topic_name.clone().unwrap_or(name);
        let (b, spec) = (bootstrap.clone(), t.spec.clone());
        let tn = topic.clone();
        let res = tokio::task::spawn_blocking(move || ensure_topic(&b, &tn, spec.partitions, spec.replication_factor, &spec.config)).await.map_err(|e| CtlError::Kafka(e.to_string()))?;
        match res {
            Ok(line) => println!("Topic {topic}: {line}"),
            Err(e) => println!("Topic {topic}: not created: {e}"),
        }
    }
    for (bootstrap, topic, partitions, rf) in pipeline_topics {
        let (b, tn) = (bootstrap.clone(), topic.clone());
        match tokio::task::spawn_blocking(move || ensure_topic(&b, &tn, partitions, rf, &BTreeMap::new())).await.map_err(|e| CtlError::Kafka(e.to_string()))? {
            Ok(line) => println!("Topic {topic}: {line}"),
            Err(e) => println!("Topic {topic}: not created: {e}"),
        }
    }
    for p in pipelines.iter_mut() {
        p.start()?;
        println!("started {} ({})", p.member.pod, p.member.config_path.display());
    }
    println!("ready in {:.1}s; state in {}; Ctrl-C stops everything", started.elapsed().as_secs_f64(), state.display());
    let mut stack = Stack { ensembles, clusters, pipelines, resources: r, state: state.to_path_buf(), zk_bin, broker_bin, pipeline_bin };
    // `stromctl up` run again on this state directory asks (SIGHUP) to apply its resources.
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = hup.recv() => stack.answer_apply_request().await,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        stack.restart_exited();
    }
    println!("stopping: pipelines, then brokers, then coordinators");
    // A processor finishes its batch and a shipper saves its registry before the brokers go.
    futures::future::join_all(stack.pipelines.iter_mut().map(|p| p.stop())).await;
    stop_all(&mut stack.clusters, &mut stack.ensembles).await;
    println!("stopped");
    Ok(())
}

/// What a running `stromctl up` supervises.
struct Stack {
    ensembles: Vec<(String, String, Vec<Proc>)>,
    /// (namespace, name, bootstrap servers, brokers)
    clusters: Vec<(String, String, String, Vec<Proc>)>,
    pipelines: Vec<Proc>,
    /// The resources it runs now.
    resources: Resources,
    state: PathBuf,
    zk_bin: PathBuf,
    broker_bin: Option<PathBuf>,
    pipeline_bin: Option<PathBuf>,
}

impl Stack {
    /// A replica that exited is started again, with backoff, as a kubelet would.
    fn restart_exited(&mut self) {
        let procs = self.ensembles.iter_mut().flat_map(|(_, _, p)| p.iter_mut()).chain(self.clusters.iter_mut().flat_map(|(_, _, _, p)| p.iter_mut())).chain(self.pipelines.iter_mut());
        for p in procs {
            let exited = match p.child.as_mut() {
                Some(c) => c.try_wait().ok().flatten(),
                None => None,
            };
            if let Some(status) = exited {
                p.child = None;
                p.restarts += 1;
                let backoff = Duration::from_millis(500 * 2u64.pow(p.restarts.min(6)));
                p.next_start = Instant::now() + backoff;
                println!("{} exited ({status}); restarting in {:.1}s", p.member.pod, backoff.as_secs_f64());
            }
            if p.child.is_none() && Instant::now() >= p.next_start {
                match p.start() {
                    Ok(()) => println!("restarted {} (restart {})", p.member.pod, p.restarts),
                    Err(e) => println!("cannot restart {}: {e}", p.member.pod),
                }
            }
        }
    }
}

async fn stop_all(clusters: &mut [(String, String, String, Vec<Proc>)], ensembles: &mut [(String, String, Vec<Proc>)]) {
    // Brokers one at a time: each moves its leadership to the others still running (controlled
    // shutdown), which is quick when they are not all stopping at once.
    for (_, _, _, procs) in clusters.iter_mut() {
        for p in procs.iter_mut().rev() {
            p.stop().await;
        }
    }
    for (_, _, procs) in ensembles.iter_mut() {
        futures::future::join_all(procs.iter_mut().map(|p| p.stop())).await;
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn broker_count(bootstrap: &str) -> usize {
    let c: Result<BaseConsumer, _> = rdkafka::ClientConfig::new().set("bootstrap.servers", bootstrap).set("log_level", "0").create();
    c.ok().and_then(|c| c.fetch_metadata(None, Duration::from_secs(2)).ok()).map_or(0, |m| m.brokers().len())
}

/// Creates the topic, or grows its partitions; returns a line about its partitions.
fn ensure_topic(bootstrap: &str, topic: &str, partitions: i32, rf: i32, config: &BTreeMap<String, String>) -> Result<String, CtlError> {
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new().set("bootstrap.servers", bootstrap).set("log_level", "0").create()?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let mut nt = NewTopic::new(topic, partitions, TopicReplication::Fixed(rf));
    for (k, v) in config {
        nt = nt.set(k, v);
    }
    let c: BaseConsumer = rdkafka::ClientConfig::new().set("bootstrap.servers", bootstrap).set("log_level", "0").create()?;
    let existing = c.fetch_metadata(Some(topic), Duration::from_secs(10)).ok().and_then(|m| m.topics().first().filter(|t| t.error().is_none()).map(|t| t.partitions().len() as i32));
    match existing {
        Some(n) if n < partitions => {
            futures::executor::block_on(admin.create_partitions([&NewPartitions::new(topic, partitions as usize)], &opts))?;
        }
        Some(_) => {}
        None => {
            for res in futures::executor::block_on(admin.create_topics([&nt], &opts))? {
                if let Err((_, code)) = res {
                    if code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                        return Err(CtlError::Kafka(format!("{code}")));
                    }
                }
            }
        }
    }
    // Leaders, once every partition has one.
    for _ in 0..50 {
        if let Ok(md) = c.fetch_metadata(Some(topic), Duration::from_secs(5)) {
            if let Some(t) = md.topics().first() {
                let leaders: Vec<String> = t.partitions().iter().map(|p| format!("{}->{}", p.id(), p.leader())).collect();
                if t.partitions().len() as i32 >= partitions && t.partitions().iter().all(|p| p.leader() >= 0) {
                    return Ok(format!("{} partitions, replication factor {rf}, leaders {}", t.partitions().len(), leaders.join(" ")));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(format!("{partitions} partitions requested; leaders not known yet"))
}
