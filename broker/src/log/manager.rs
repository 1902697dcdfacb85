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

/// Kafka's per-log-dir file of high watermarks (`0`, a count, then `topic partition offset` lines).
const HW_CHECKPOINT: &str = "replication-offset-checkpoint";

/// The high watermarks recorded in a log dir; `None` without the file (a log dir written before
/// replication existed: everything stored counts as committed).
fn read_hw_checkpoint(dir: &Path) -> Option<HashMap<TopicPartition, i64>> {
    let text = std::fs::read_to_string(dir.join(HW_CHECKPOINT)).ok()?;
    let mut out = HashMap::new();
    for line in text.lines().skip(2) {
        let mut f = line.split_whitespace();
        let (Some(t), Some(p), Some(o)) = (f.next(), f.next(), f.next()) else { continue };
        if let (Ok(p), Ok(o)) = (p.parse::<i32>(), o.parse::<i64>()) {
            out.insert(TopicPartition::new(t, p), o);
        }
    }
    Some(out)
}

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
            let hws = read_hw_checkpoint(d);
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
                let (mut log, report) = PartitionLog::open(d, tp.clone(), config_of(&tp.topic))?;
                if let Some(hws) = &hws {
                    // What was committed when the broker last recorded it; the rest of the log
                    // becomes visible once the ISR has it again.
                    log.high_watermark = hws.get(&tp).copied().unwrap_or(0).clamp(log.log_start_offset, log.next_offset);
                }
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
        let mut last_checkpoint = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if last_checkpoint.elapsed() >= Duration::from_secs(5) {
                // Kafka's replica.high.watermark.checkpoint.interval.ms default
                self.checkpoint_high_watermarks();
                last_checkpoint = tokio::time::Instant::now();
            }
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

    /// Writes every log dir's high watermark checkpoint (atomically: a temporary file renamed).
    pub fn checkpoint_high_watermarks(&self) {
        let logs = self.logs.read().expect("logs lock");
        for d in &self.dirs {
            let mut lines = Vec::new();
            for (tp, log) in logs.iter() {
                let l = log.lock().expect("log lock");
                if l.dir.parent() == Some(d.as_path()) {
                    lines.push(format!("{} {} {}", tp.topic, tp.partition, l.high_watermark));
                }
            }
            let text = format!("0\n{}\n{}", lines.len(), lines.iter().map(|l| format!("{l}\n")).collect::<String>());
            let tmp = d.join(format!("{HW_CHECKPOINT}.tmp"));
            if let Err(e) = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, d.join(HW_CHECKPOINT))) {
                tracing::warn!(dir = %d.display(), error = %e, "cannot write the high watermark checkpoint");
            }
        }
    }

    pub fn close_all(&self) {
        self.checkpoint_high_watermarks();
        for log in self.logs.read().expect("logs lock").values() {
            let mut l = log.lock().expect("log lock");
            if let Err(e) = l.flush() {
                tracing::error!(partition = %l.tp, error = %e, "flush at shutdown failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch;

    #[test]
    fn high_watermarks_survive_a_restart_through_the_checkpoint() {
        let dir = std::env::temp_dir().join(format!("strom-hw-checkpoint-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let b = crate::config::BrokerConfig::parse("broker.id=0\nzookeeper.connect=x:1\n", "t", &[]).unwrap();
        let cfg = || LogConfig::resolve(&b.log, &Default::default()).unwrap();
        let tp = TopicPartition::new("t", 0);
        let m = LogManager::new(vec![dir.clone()], b.log.clone());
        {
            let log = m.get_or_create(&tp, cfg, "id").unwrap();
            let mut l = log.lock().unwrap();
            for i in 0..4 {
                let data = batch::build(&[(None, Some(format!("v{i}").as_bytes()))], 1);
                let bs = batch::split_batches(&data, 1 << 20).unwrap();
                l.append(data, &bs, 0).unwrap();
            }
            l.advance_high_watermark(3);
        }
        // a log dir from before the checkpoint existed: everything counts as committed
        let legacy = LogManager::new(vec![dir.clone()], b.log.clone());
        legacy.load_all(&|_| cfg()).unwrap();
        assert_eq!(legacy.get(&tp).unwrap().lock().unwrap().high_watermark, 4);
        m.close_all();
        let again = LogManager::new(vec![dir.clone()], b.log.clone());
        again.load_all(&|_| cfg()).unwrap();
        let l = again.get(&tp).unwrap();
        let l = l.lock().unwrap();
        assert_eq!((l.next_offset, l.high_watermark), (4, 3));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
