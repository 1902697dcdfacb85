//! All partition logs of this broker across `log.dirs`: loading at start, creation and deletion,
//! and the background work (retention, `flush.ms`, compaction).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::watch;

use super::partition::PartitionLog;
use super::segment::now_ms;
use super::{LogConfig, TopicPartition};
use crate::config::LogDefaults;

pub type SharedLog = Arc<Mutex<PartitionLog>>;

pub struct LogManager {
    dirs: Vec<PathBuf>,
    pub defaults: LogDefaults,
    logs: RwLock<HashMap<TopicPartition, SharedLog>>,
    /// Bumped after every append, so long-polling fetches re-check.
    appended: watch::Sender<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("{dir}/meta.properties says broker.id={found}, but this broker is broker.id={expected}; refusing to use another broker's data")]
    BrokerId { dir: String, found: String, expected: i32 },
    #[error("{dir}/meta.properties says cluster.id={found}, but the coordinator's cluster is {expected}; refusing to mix clusters (check zookeeper.connect and its chroot)")]
    ClusterId { dir: String, found: String, expected: String },
    #[error("failed to prepare log directory {dir}: {source}")]
    Io { dir: String, source: io::Error },
}

impl LogManager {
    pub fn new(dirs: Vec<PathBuf>, defaults: LogDefaults) -> Arc<LogManager> {
        Arc::new(LogManager { dirs, defaults, logs: RwLock::new(HashMap::new()), appended: watch::channel(0).0 })
    }

    /// Checks (or writes) `meta.properties` in every log dir, as Kafka does.
    pub fn check_meta(&self, broker_id: i32, cluster_id: &str) -> Result<(), MetaError> {
        for d in &self.dirs {
            let io_err = |source| MetaError::Io { dir: d.display().to_string(), source };
            std::fs::create_dir_all(d).map_err(io_err)?;
            let path = d.join("meta.properties");
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let get = |k: &str| text.lines().find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('='))).map(|v| v.trim().to_string());
                    if let Some(found) = get("broker.id") {
                        if found != broker_id.to_string() {
                            return Err(MetaError::BrokerId { dir: d.display().to_string(), found, expected: broker_id });
                        }
                    }
                    if let Some(found) = get("cluster.id") {
                        if found != cluster_id {
                            return Err(MetaError::ClusterId { dir: d.display().to_string(), found, expected: cluster_id.into() });
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    let text = format!("#\n#{}\nversion=0\nbroker.id={broker_id}\ncluster.id={cluster_id}\n", now_ms());
                    let tmp = d.join("meta.properties.tmp");
                    std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, &path)).map_err(io_err)?;
                }
                Err(e) => return Err(io_err(e)),
            }
        }
        Ok(())
    }

    /// Opens every partition directory found in `log.dirs`; `config_of` gives each topic's config.
    pub fn load_all(&self, config_of: &dyn Fn(&str) -> LogConfig) -> io::Result<usize> {
        let mut n = 0;
        for d in &self.dirs {
            let Ok(entries) = std::fs::read_dir(d) else { continue };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if !e.path().is_dir() {
                    continue;
                }
                if name.ends_with("-delete") {
                    let _ = std::fs::remove_dir_all(e.path());
                    continue;
                }
                let Some(tp) = TopicPartition::from_dir_name(&name) else { continue };
                let (log, report) = PartitionLog::open(d, tp.clone(), config_of(&tp.topic))?;
                if report.truncated_bytes > 0 {
                    tracing::warn!(partition = %tp, bytes = report.truncated_bytes, "truncating the log at the last valid batch after an unclean shutdown");
                }
                tracing::debug!(partition = %tp, next_offset = log.next_offset, segments = report.segments, "loaded log");
                self.logs.write().expect("logs lock").insert(tp, Arc::new(Mutex::new(log)));
                n += 1;
            }
        }
        Ok(n)
    }

    pub fn get(&self, tp: &TopicPartition) -> Option<SharedLog> {
        self.logs.read().expect("logs lock").get(tp).cloned()
    }

    pub fn partitions(&self) -> Vec<TopicPartition> {
        self.logs.read().expect("logs lock").keys().cloned().collect()
    }

    fn pick_dir(&self) -> &Path {
        let logs = self.logs.read().expect("logs lock");
        let count = |d: &Path| logs.values().filter(|l| l.lock().map(|l| l.dir.parent() == Some(d)).unwrap_or(false)).count();
        self.dirs.iter().min_by_key(|d| count(d)).expect("at least one log dir")
    }

    /// The partition's log, created if missing. A log whose recorded topic id differs from
    /// `topic_id` belongs to a deleted topic of the same name and is replaced.
    pub fn get_or_create(&self, tp: &TopicPartition, config: impl FnOnce() -> LogConfig, topic_id: &str) -> io::Result<SharedLog> {
        if let Some(l) = self.get(tp) {
            let recorded = l.lock().expect("log lock").topic_id.clone();
            match recorded {
                Some(r) if r != topic_id => {
                    tracing::info!(partition = %tp, old = r, new = topic_id, "log belongs to an earlier topic of the same name; replacing it");
                    self.delete(tp)?;
                }
                Some(_) => return Ok(l),
                None => {
                    l.lock().expect("log lock").set_topic_id(topic_id)?;
                    return Ok(l);
                }
            }
        }
        let dir = self.pick_dir().to_path_buf();
        let mut logs = self.logs.write().expect("logs lock");
        if let Some(l) = logs.get(tp) {
            return Ok(l.clone());
        }
        let (mut log, _) = PartitionLog::open(&dir, tp.clone(), config())?;
        log.set_topic_id(topic_id)?;
        let shared = Arc::new(Mutex::new(log));
        logs.insert(tp.clone(), shared.clone());
        tracing::info!(partition = %tp, dir = %dir.display(), "created log");
        Ok(shared)
    }

    /// Removes a partition's log: renamed to `<dir>.<n>-delete` at once, files removed after.
    pub fn delete(&self, tp: &TopicPartition) -> io::Result<()> {
        let Some(log) = self.logs.write().expect("logs lock").remove(tp) else { return Ok(()) };
        let dir = log.lock().expect("log lock").dir.clone();
        let doomed = dir.with_file_name(format!("{}.{}-delete", tp.dir_name(), now_ms()));
        std::fs::rename(&dir, &doomed)?;
        std::thread::spawn(move || {
            let _ = std::fs::remove_dir_all(doomed);
        });
        tracing::info!(partition = %tp, "deleted log");
        Ok(())
    }

    pub fn set_config(&self, topic: &str, config: &LogConfig) {
        for (tp, log) in self.logs.read().expect("logs lock").iter() {
            if tp.topic == topic {
                log.lock().expect("log lock").config = config.clone();
            }
        }
    }

    pub fn notify_appended(&self) {
        self.appended.send_modify(|g| *g = g.wrapping_add(1));
    }

    pub fn subscribe_appends(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// Retention, `flush.ms` and compaction, forever.
    pub async fn run_background(self: Arc<Self>) {
        let retention_every = Duration::from_millis(self.defaults.retention_check_interval_ms);
        let mut last_retention = tokio::time::Instant::now();
        let mut last_compaction = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let all: Vec<SharedLog> = self.logs.read().expect("logs lock").values().cloned().collect();
            let do_retention = last_retention.elapsed() >= retention_every;
            let do_compaction = last_compaction.elapsed() >= Duration::from_secs(30).min(retention_every);
            for log in &all {
                let mut l = log.lock().expect("log lock");
                if let Err(e) = l.flush_if_due() {
                    tracing::error!(partition = %l.tp, error = %e, "flush failed");
                }
                if do_retention {
                    match l.enforce_retention(now_ms()) {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(partition = %l.tp, segments = n, log_start_offset = l.log_start_offset, "deleted segments by retention"),
                        Err(e) => tracing::error!(partition = %l.tp, error = %e, "retention failed"),
                    }
                }
                if do_compaction && l.config.compact() {
                    match l.compact() {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(partition = %l.tp, segments = n, "compacted segments"),
                        Err(e) => tracing::error!(partition = %l.tp, error = %e, "compaction failed"),
                    }
                }
            }
            if do_retention {
                last_retention = tokio::time::Instant::now();
            }
            if do_compaction {
                last_compaction = tokio::time::Instant::now();
            }
        }
    }

    pub fn close_all(&self) {
        for log in self.logs.read().expect("logs lock").values() {
            let mut l = log.lock().expect("log lock");
            if let Err(e) = l.flush() {
                tracing::error!(partition = %l.tp, error = %e, "flush at shutdown failed");
            }
        }
    }
}
