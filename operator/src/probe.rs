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
    /// A consumer group's lag on a topic (records behind the partitions' ends, summed).
    fn group_lag(&self, bootstrap: String, group: String, topic: String) -> BoxFuture<'static, Result<i64, String>>;
    /// The ensemble's membership: the text of `/zookeeper/config`.
    fn ensemble_config(&self, connect: String) -> BoxFuture<'static, Result<String, String>>;
    /// `reconfig` as the super user (`digest super:<password>`): adds the `joining` server
    /// specs and removes the `leaving` ids; the new config text.
    fn reconfigure(&self, connect: String, super_password: String, joining: Vec<String>, leaving: Vec<i64>) -> BoxFuture<'static, Result<String, String>>;
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

/// For actions (connecting to reconfig).
const TIMEOUT: Duration = Duration::from_secs(3);
/// For questions a reconcile asks every time (a server's mode, the membership): servers on the
/// cluster network answer in milliseconds; one that is down (a deleted pod whose address still
/// resolves drops the connection attempt) must not hold the reconcile.
const ASK: Duration = Duration::from_millis(300);
/// For the brokers' answers a reconcile asks for every time (health: a connection and a Metadata
/// request; a group's lag: a few requests): a broker that is shutting down accepts a connection
/// and answers late, which must not hold the reconcile either.
const ASK_BROKERS: Duration = Duration::from_millis(700);

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
            tokio::time::timeout(ASK, ask).await.ok().flatten()
        })
    }

    fn broker_health(&self, bootstrap: String) -> BoxFuture<'static, Result<BrokerHealth, String>> {
        Box::pin(async move { ask_brokers(&bootstrap, crate::kafka::health(&bootstrap)).await })
    }

    fn group_lag(&self, bootstrap: String, group: String, topic: String) -> BoxFuture<'static, Result<i64, String>> {
        Box::pin(async move { ask_brokers(&bootstrap, crate::kafka::group_lag(&bootstrap, &group, &topic)).await })
    }

    fn ensemble_config(&self, connect: String) -> BoxFuture<'static, Result<String, String>> {
        Box::pin(async move {
            let read = async {
                let zk = zk_connect(&connect, None, ASK).await?;
                let (data, _) = zk.get_config().await.map_err(|e| format!("reading /zookeeper/config from {connect}: {e}"))?;
                Ok(String::from_utf8_lossy(&data).into_owned())
            };
            let within = ASK + ASK / 3;
            tokio::time::timeout(within, read).await.map_err(|_| format!("reading /zookeeper/config from {connect}: no answer within {within:?}"))?
        })
    }

    fn reconfigure(&self, connect: String, super_password: String, joining: Vec<String>, leaving: Vec<i64>) -> BoxFuture<'static, Result<String, String>> {
        Box::pin(async move {
            let zk = zk_connect(&connect, Some(&super_password), TIMEOUT).await?;
            let leaving: Vec<String> = leaving.iter().map(|i| i.to_string()).collect();
            let update = zookeeper_client::EnsembleUpdate::Incremental { joinings: joining.iter().map(String::as_str).collect::<Vec<_>>().into_iter(), leavings: leaving.iter().map(String::as_str).collect::<Vec<_>>().into_iter() };
            // A reconfig commits once a majority of the new membership has it.
            let (data, _) = tokio::time::timeout(Duration::from_secs(30), zk.update_ensemble(update, None)).await.map_err(|_| format!("reconfig through {connect} timed out"))?.map_err(|e| format!("reconfig through {connect}: {e}"))?;
            Ok(String::from_utf8_lossy(&data).into_owned())
        })
    }
}

/// A question to the brokers at `bootstrap`, bounded by `ASK_BROKERS`.
async fn ask_brokers<T>(bootstrap: &str, question: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::time::timeout(ASK_BROKERS, question).await.map_err(|_| format!("no answer from {bootstrap} within {ASK_BROKERS:?}"))?
}

/// A ZooKeeper session, authenticated as the super user when a password is given.
async fn zk_connect(connect: &str, super_password: Option<&str>, timeout: Duration) -> Result<zookeeper_client::Client, String> {
    let mut c = zookeeper_client::Client::connector().with_connection_timeout(timeout).with_session_timeout(Duration::from_secs(10));
    if let Some(pw) = super_password {
        c = c.with_auth("digest", format!("super:{pw}").as_bytes());
    }
    tokio::time::timeout(timeout * 2, c.connect(connect)).await.map_err(|_| format!("connecting to {connect} timed out"))?.map_err(|e| format!("connecting to {connect}: {e}"))
}

/// zoo.cfg's `DigestAuthenticationProvider.superDigest` value for the super user's password
/// (ZooKeeper's digest: base64 of SHA-1 of `super:<password>`).
pub fn super_digest(password: &str) -> String {
    use base64::Engine;
    use sha1::{Digest, Sha1};
    format!("super:{}", base64::engine::general_purpose::STANDARD.encode(Sha1::digest(format!("super:{password}").as_bytes())))
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

    #[test]
    fn the_super_digest_is_zookeepers() {
        // ZooKeeper's docs: super:test gives this digest
        assert_eq!(super_digest("test"), "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
    }
}
