//! What the controllers ask the running servers: each coordinator's mode (ZooKeeper's `srvr`
//! four-letter word on the client port, which Apache ZooKeeper answers too when whitelisted, as
//! the rendered zoo.cfg does), and a broker cluster's controller and under-replicated partitions
//! (Kafka Metadata). Behind a trait so that the controller tests can answer for the servers.

use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the controllers learn from the servers; `None`/errors mean "could not tell".
pub trait Probe: Send + Sync {
    /// The mode (`leader`, `follower`, `observer`, `standalone`, `read-only`) of the coordinator
    /// serving clients at `addr` (host:port), or `None` when it does not answer.
    fn coordinator_mode(&self, addr: String) -> BoxFuture<'static, Option<String>>;
    /// The broker cluster's controller id and how many partitions are under-replicated.
    fn broker_health(&self, bootstrap: String) -> BoxFuture<'static, Result<BrokerHealth, String>>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerHealth {
    pub controller: i32,
    pub under_replicated: usize,
}

/// The mode line of a `srvr` answer (`Mode: leader`).
pub fn srvr_mode(answer: &str) -> Option<String> {
    answer.lines().find_map(|l| l.strip_prefix("Mode:")).map(|m| m.trim().to_string()).filter(|m| !m.is_empty())
}

/// Asks the real servers over the network.
pub struct Live;

const TIMEOUT: Duration = Duration::from_secs(3);

impl Probe for Live {
    fn coordinator_mode(&self, addr: String) -> BoxFuture<'static, Option<String>> {
        Box::pin(async move {
            let ask = async {
                let mut s = tokio::net::TcpStream::connect(&addr).await.ok()?;
                s.write_all(b"srvr").await.ok()?;
                let mut out = Vec::new();
                s.take(64 * 1024).read_to_end(&mut out).await.ok()?;
                srvr_mode(&String::from_utf8_lossy(&out))
            };
            tokio::time::timeout(TIMEOUT, ask).await.ok().flatten()
        })
    }

    fn broker_health(&self, bootstrap: String) -> BoxFuture<'static, Result<BrokerHealth, String>> {
        Box::pin(async move { crate::kafka::health(&bootstrap).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_mode_line() {
        let a = "Zookeeper version: 3.8.4\nLatency min/avg/max: 0/0.0/0\nReceived: 3\nSent: 2\nConnections: 1\nOutstanding: 0\nZxid: 0x100000002\nMode: leader\nNode count: 5\n";
        assert_eq!(srvr_mode(a).as_deref(), Some("leader"));
        assert_eq!(srvr_mode("srvr is not executed because it is not in the whitelist.\n"), None);
        assert_eq!(srvr_mode("Mode: \n"), None);
    }
}
