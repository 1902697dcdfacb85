//! Start-up, listeners and shutdown: coordinator session → log loading → listeners →
//! registration → serving, until SIGTERM/SIGINT.

mod connection;

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::broker::Broker;
use crate::cluster::zk::Cluster;
use crate::config::BrokerConfig;
use crate::group::coordinator::GroupCoordinator;
use crate::log::manager::LogManager;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Cluster(#[from] crate::cluster::zk::ClusterError),
    #[error(transparent)]
    Meta(#[from] crate::log::manager::MetaError),
    #[error("failed to load logs: {0}")]
    Logs(std::io::Error),
    #[error("failed to listen on {addr} ({listener}): {source}")]
    Bind { addr: String, listener: String, source: std::io::Error },
}

/// A running broker, for in-process tests and `main`.
pub struct Running {
    pub broker: Arc<Broker>,
    pub addrs: Vec<std::net::SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Deregisters and flushes (a clean shutdown).
    pub async fn shutdown(self) {
        if self.broker.config.controlled_shutdown_enable {
            // Leadership moves away first, so that clients switch to the other replicas
            // before this broker goes (Kafka's controlled shutdown).
            let _ = tokio::time::timeout(std::time::Duration::from_secs(20), self.broker.cluster.drain(std::time::Duration::from_secs(15))).await;
        }
        for t in &self.tasks {
            t.abort();
        }
        // Deregistering is a courtesy (the session's expiry does it too): never wait long for an
        // unreachable coordinator.
        if tokio::time::timeout(std::time::Duration::from_secs(3), self.broker.cluster.close()).await.is_err() {
            tracing::warn!("coordinator unreachable at shutdown; the registration goes when the session expires");
        }
        self.broker.logs.close_all();
        tracing::info!("broker stopped");
    }
}

pub async fn start(config: BrokerConfig) -> Result<Running, StartError> {
    let config = Arc::new(config);
    let cluster = Cluster::connect(config.clone()).await?;
    let cluster_id = cluster.snapshot().cluster_id.clone();
    tracing::info!(cluster_id, broker_id = config.broker_id, "connected to the coordinator");
    let logs = LogManager::new(config.log_dirs.clone(), config.log.clone());
    logs.check_meta(config.broker_id, &cluster_id)?;
    let groups = GroupCoordinator::new(
        config.offsets_topic_num_partitions,
        config.group_initial_rebalance_delay_ms as i64,
        config.group_min_session_timeout_ms as i64,
        config.group_max_session_timeout_ms as i64,
    );
    let broker = Broker::new(config.clone(), cluster.clone(), logs.clone(), groups.clone());
    let snap = cluster.snapshot();
    let loaded = logs.load_all(&|t| broker.log_config(&snap.topics.get(t).map(|i| i.config.clone()).unwrap_or_default())).map_err(StartError::Logs)?;
    tracing::info!(partitions = loaded, "logs loaded");

    let mut listeners = Vec::new();
    let mut addrs = Vec::new();
    for l in &config.listeners {
        let host = if l.host.is_empty() { "0.0.0.0".to_string() } else { l.host.clone() };
        let addr = format!("{host}:{}", l.port);
        let sock = TcpListener::bind(&addr).await.map_err(|source| StartError::Bind { addr: addr.clone(), listener: l.name.clone(), source })?;
        addrs.push(sock.local_addr().map_err(|source| StartError::Bind { addr: addr.clone(), listener: l.name.clone(), source })?);
        listeners.push((sock, l.name.clone()));
    }
    cluster.register().await?;
    broker.sync_with_cluster();

    let mut tasks = vec![
        tokio::spawn(cluster.clone().run()),
        tokio::spawn(logs.clone().run_background()),
        tokio::spawn(groups.clone().run_ticker()),
        tokio::spawn(crate::replication::fetcher::run_manager(broker.clone())),
        tokio::spawn(broker.clone().maintain_isr()),
        tokio::spawn(cluster.clone().run_rebalancer()),
    ];
    let b = broker.clone();
    let mut changes = cluster.subscribe();
    tasks.push(tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            b.sync_with_cluster();
        }
    }));
    for (sock, name) in listeners {
        let b = broker.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                match sock.accept().await {
                    Ok((stream, peer)) => {
                        tokio::spawn(connection::serve(b.clone(), stream, peer, name.clone()));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            }
        }));
    }
    for (a, l) in addrs.iter().zip(&config.listeners) {
        tracing::info!(listener = %l.name, addr = %a, "serving Kafka clients");
    }
    Ok(Running { broker, addrs, tasks })
}
