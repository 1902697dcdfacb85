//! For the controllers' tests: a mocked API server's request/answer helpers, and a coordinator
//! and brokers running in the test's process.
#![allow(dead_code)] // each test file uses its own part of these helpers

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use http::{Request, Response};
use kube::client::Body;
use kube::Client;
use serde_json::Value;
use strom_operator::controller::Context;
use strom_operator::metrics::Metrics;
use strom_operator::probe::{BrokerHealth, Probe};

pub type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// One request: (method, path without query, parsed body) and its answer slot.
pub async fn next(h: &mut Handle) -> (String, String, Value, tower_test::mock::SendResponse<Response<Body>>) {
    let (req, send) = h.next_request().await.expect("a request");
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let bytes = req.into_body().collect_bytes().await.unwrap();
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    (method, path, body, send)
}

pub fn reply(send: tower_test::mock::SendResponse<Response<Body>>, body: &Value) {
    send.send_response(Response::builder().body(Body::from(serde_json::to_vec(body).unwrap())).unwrap());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A standalone coordinator and `brokers` brokers (ids 0..) in this process; returns the
/// bootstrap addresses and the running brokers.
pub async fn stack(dir: &std::path::Path, brokers: i32) -> (String, Vec<strom_broker::server::Running>) {
    let zk_port = free_port();
    let zk_dir = dir.join("zk");
    std::fs::create_dir_all(&zk_dir).unwrap();
    let cfg = strom_coordinator::config::Config::parse("zoo.cfg", &format!("tickTime=500\ndataDir={}\nclientPort={zk_port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n", zk_dir.display())).unwrap();
    let (btx, brx) = tokio::sync::oneshot::channel();
    tokio::spawn(strom_coordinator::server::run(cfg, std::future::pending(), Some(btx)));
    brx.await.unwrap();
    let mut running = Vec::new();
    let mut addrs = Vec::new();
    for id in 0..brokers {
        let port = free_port();
        let props = format!(
            "broker.id={id}\nlisteners=PLAINTEXT://127.0.0.1:{port}\nadvertised.listeners=PLAINTEXT://127.0.0.1:{port}\nlog.dirs={}\nzookeeper.connect=127.0.0.1:{zk_port}\noffsets.topic.replication.factor=1\n",
            dir.join(format!("logs-{id}")).display()
        );
        let config = strom_broker::config::BrokerConfig::parse(&props, "server.properties", &[]).unwrap();
        running.push(strom_broker::server::start(config).await.unwrap());
        addrs.push(format!("127.0.0.1:{port}"));
    }
    (addrs.join(","), running)
}

/// A reconfig as asked: (password, joining specs, leaving ids).
pub type Reconfig = (String, Vec<String>, Vec<i64>);

/// Answers for the servers: a coordinator's mode by the start of its address (`zk-1.`), and the
/// broker cluster's health (an error when unset, as when no broker answers).
#[derive(Default, Clone)]
pub struct FakeProbe {
    pub modes: BTreeMap<String, String>,
    pub health: Option<BrokerHealth>,
    /// The text of /zookeeper/config (an error when unset).
    pub config: Option<String>,
    /// A consumer group's lag (an error when unset).
    pub lag: Option<i64>,
    /// Every reconfig asked: (password, joining, leaving).
    pub reconfigs: Arc<std::sync::Mutex<Vec<Reconfig>>>,
}

impl Probe for FakeProbe {
    fn coordinator_mode(&self, addr: String) -> BoxFuture<'static, Option<String>> {
        let m = self.modes.iter().find(|(k, _)| addr.starts_with(k.as_str())).map(|(_, v)| v.clone());
        Box::pin(async move { m })
    }
    fn broker_health(&self, _bootstrap: String) -> BoxFuture<'static, Result<BrokerHealth, String>> {
        let h = self.health.clone().ok_or_else(|| "no broker answers".to_string());
        Box::pin(async move { h })
    }
    fn group_lag(&self, _bootstrap: String, _group: String, _topic: String) -> BoxFuture<'static, Result<i64, String>> {
        let lag = self.lag.ok_or_else(|| "no broker answers".to_string());
        Box::pin(async move { lag })
    }
    fn ensemble_config(&self, _connect: String) -> BoxFuture<'static, Result<String, String>> {
        let c = self.config.clone().ok_or_else(|| "no server answers".to_string());
        Box::pin(async move { c })
    }
    fn reconfigure(&self, _connect: String, password: String, joining: Vec<String>, leaving: Vec<i64>) -> BoxFuture<'static, Result<String, String>> {
        self.reconfigs.lock().unwrap().push((password, joining, leaving));
        Box::pin(async move { Ok(String::new()) })
    }
}

/// A context on the mocked API server, asking `probe` for the servers.
pub fn context(probe: FakeProbe) -> (Arc<Context>, Handle) {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Arc::new(Context::new(Client::new(svc, "default"), Arc::new(probe), Arc::new(Metrics::default()))), handle)
}

/// Whether a request is an Event being recorded (answered by echoing it).
pub fn is_event(method: &str, path: &str) -> bool {
    method == "POST" && path.starts_with("/apis/events.k8s.io/v1/namespaces/") && path.ends_with("/events")
}
