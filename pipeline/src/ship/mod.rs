//! The `ship` role (Filebeat's job): tail files into Kafka, at least once.
//!
//! Flow: `tail::scan` finds files and starts a `tail::reader` per file; a reader turns lines into
//! events (`input`), events into records (`record`), and hands them to the `producer`, which folds
//! broker acknowledgements into the `registry`, written as soon as they move it; shutdown
//! stops the readers, waits (bounded) for deliveries in flight, and persists it once more.

pub mod delivery;
pub mod input;
pub mod metrics;
pub mod producer;
pub mod record;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use crate::config::ShipConfig;
use crate::registry::store::{self, StoreError};
use crate::registry::Registry;
use crate::tail;
use input::{Input, InputError};
use metrics::ShipMetrics;
use producer::{ProducerError, Shipper};
use record::Output;

#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error(transparent)]
    Registry(#[from] StoreError),
    #[error(transparent)]
    Producer(#[from] ProducerError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("stopped: the Kafka producer hit a fatal error: {0}")]
    Fatal(String),
    #[error("failed to join the registry writer: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Knobs that are not part of the user's configuration.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Events read and not yet acknowledged, at most; reading pauses there.
    pub max_in_flight: usize,
    pub max_line_bytes: usize,
    /// The least time between two registry writes (Filebeat's `registry.flush`). Zero, the
    /// default: written as soon as acknowledgements move it (coalesced while a write runs), so
    /// that a SIGKILL repeats little more than what was not yet acknowledged.
    pub registry_flush: Duration,
    /// How long shutdown waits for deliveries in flight.
    pub drain_timeout: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            max_in_flight: producer::DEFAULT_MAX_IN_FLIGHT,
            max_line_bytes: tail::lines::DEFAULT_MAX_LINE_BYTES,
            registry_flush: Duration::ZERO,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// What every task of the role shares.
pub struct Shared {
    registry: Arc<Mutex<Registry>>,
    /// Files with a reader: key → (path it was opened under, whether it was seen renamed).
    active: Mutex<HashMap<String, (PathBuf, bool)>>,
    pub metrics: Arc<ShipMetrics>,
    pub shipper: Shipper,
    pub output: Output,
    pub shutdown: watch::Receiver<bool>,
    pub tuning: Tuning,
}

impl Shared {
    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        // A poisoned lock means a panic elsewhere; the bookkeeping itself stays consistent.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn active(&self) -> MutexGuard<'_, HashMap<String, (PathBuf, bool)>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_active(&self, key: &str) -> bool {
        self.active().contains_key(key)
    }

    /// Whether a reader still holds `path` for the file it opened there (not yet seen renamed): a new
    /// file at that path waits, so that the old one is read to its end first.
    pub fn path_held(&self, path: &std::path::Path) -> bool {
        self.active().values().any(|(p, renamed)| p == path && !renamed)
    }

    pub fn active_insert(&self, key: &str, path: PathBuf) {
        self.active().insert(key.to_string(), (path, false));
    }

    pub fn active_renamed(&self, key: &str) {
        if let Some(entry) = self.active().get_mut(key) {
            entry.1 = true;
        }
    }

    pub fn active_remove(&self, key: &str) {
        self.active().remove(key);
    }

    pub fn active_keys(&self) -> HashSet<String> {
        self.active().keys().cloned().collect()
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Events still unacknowledged when shutdown gave up waiting (they are read again next start).
    pub unacknowledged: usize,
}

/// Runs the role until `stop` completes.
pub async fn run(
    config: ShipConfig,
    tuning: Tuning,
    metrics: Arc<ShipMetrics>,
    stop: impl Future<Output = ()>,
) -> Result<Summary, ShipError> {
    let registry_path = config.registry.clone();
    let loaded = {
        let path = registry_path.clone();
        tokio::task::spawn_blocking(move || store::load(&path)).await??
    };
    tracing::info!(path = %registry_path.display(), files = loaded.files.len(), "registry loaded");
    let registry = Arc::new(Mutex::new(Registry::from_file(loaded)));
    // host.name: the node's name on Kubernetes (NODE_NAME, which the operator sets from the
    // downward API, as Filebeat's DaemonSet does), else this machine's host name.
    let host_name = std::env::var("NODE_NAME").ok().filter(|n| !n.is_empty()).unwrap_or_else(|| hostname::get().map(|h| h.to_string_lossy().into_owned()).unwrap_or_else(|_| "localhost".into()));
    let inputs = config
        .inputs
        .iter()
        .map(|i| Input::new(i.clone(), host_name.clone()).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    let shipper = Shipper::new(&config.output.kafka, tuning.max_in_flight, registry.clone(), metrics.clone())?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        registry: registry.clone(),
        active: Mutex::new(HashMap::new()),
        metrics,
        shipper: shipper.clone(),
        output: Output::new(config.output.kafka.clone()),
        shutdown: stop_rx.clone(),
        tuning: tuning.clone(),
    });
    let scanners: Vec<_> = inputs.into_iter().map(|i| tokio::spawn(tail::scan::run(shared.clone(), i))).collect();
    let writer = tokio::spawn(persist_periodically(registry.clone(), registry_path.clone(), tuning.registry_flush, stop_rx));

    let mut failed = shipper.failed();
    let fatal = tokio::select! {
        _ = stop => None,
        f = failed.wait_for(Option::is_some) => f.ok().and_then(|f| f.clone()),
    };
    tracing::info!("stopping: no more reading; waiting for deliveries in flight");
    let _ = stop_tx.send(true);
    // Readers stop at their next read or wait; one stuck (a hung file system) does not hold the exit.
    let stopped = tokio::time::timeout(tuning.drain_timeout, async {
        for s in scanners {
            let _ = s.await;
        }
    })
    .await;
    if stopped.is_err() {
        tracing::warn!("some readers did not stop in time; their files are read again from the registry");
    }
    let drained = shipper.drain(tuning.drain_timeout).await;
    let unacknowledged = shipper.in_flight();
    if !drained {
        tracing::warn!(unacknowledged, "gave up waiting for deliveries; they are read again at the next start");
    }
    let _ = writer.await;
    persist(&registry, &registry_path).await?;
    tracing::info!("registry saved; stopped");
    if let Some(reason) = fatal {
        return Err(ShipError::Fatal(reason));
    }
    Ok(Summary { unacknowledged })
}

async fn persist(registry: &Arc<Mutex<Registry>>, path: &std::path::Path) -> Result<(), ShipError> {
    let snapshot = registry.lock().unwrap_or_else(|e| e.into_inner()).to_file();
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || store::save(&path, &snapshot)).await??;
    Ok(())
}

/// Writes the registry when it changed (at most every `every`; looking every 2 ms), until
/// shutdown.
async fn persist_periodically(registry: Arc<Mutex<Registry>>, path: PathBuf, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut written = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every.max(Duration::from_millis(2))) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let changes = registry.lock().unwrap_or_else(|e| e.into_inner()).changes();
        if written == Some(changes) {
            continue;
        }
        match persist(&registry, &path).await {
            Ok(()) => written = Some(changes),
            Err(e) => tracing::error!(error = %e, "failed to save the registry; retrying"),
        }
    }
}
