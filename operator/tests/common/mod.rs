//! For the controllers' tests: a mocked API server's request/answer helpers, and a coordinator
//! and brokers running in the test's process.

use http::{Request, Response};
use kube::client::Body;
use serde_json::Value;

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
