//! For the shipper's tests: a coordinator and a broker in the test's process (as the operator's tests
//! run them), a TCP proxy in front of the broker that can go down, and a consumer reading a topic back.
#![allow(dead_code)] // each test file uses its own part of these helpers

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::Value;
use strom_pipeline::config::PipelineConfig;
use strom_pipeline::registry::RegistryFile;
use strom_pipeline::ship::metrics::ShipMetrics;
use strom_pipeline::ship::{Summary, Tuning};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A coordinator and one broker (id 0). The broker listens on its own port and advertises
/// `advertised` (a proxy's port) when given; returns the address clients should bootstrap from.
pub async fn stack(dir: &Path, advertised: Option<u16>) -> (String, SocketAddr, strom_broker::server::Running) {
    let zk_port = free_port();
    let zk_dir = dir.join("zk");
    std::fs::create_dir_all(&zk_dir).unwrap();
    let cfg = strom_coordinator::config::Config::parse(
        "zoo.cfg",
        &format!("tickTime=500\ndataDir={}\nclientPort={zk_port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n", zk_dir.display()),
    )
    .unwrap();
    let (btx, brx) = tokio::sync::oneshot::channel();
    tokio::spawn(strom_coordinator::server::run(cfg, std::future::pending(), Some(btx)));
    brx.await.unwrap();
    let port = free_port();
    let adv = advertised.unwrap_or(port);
    let props = format!(
        "broker.id=0\nlisteners=PLAINTEXT://127.0.0.1:{port}\nadvertised.listeners=PLAINTEXT://127.0.0.1:{adv}\nlog.dirs={}\nzookeeper.connect=127.0.0.1:{zk_port}\noffsets.topic.replication.factor=1\n",
        dir.join("logs-0").display()
    );
    let config = strom_broker::config::BrokerConfig::parse(&props, "server.properties", &[]).unwrap();
    let running = strom_broker::server::start(config).await.unwrap();
    (format!("127.0.0.1:{adv}"), format!("127.0.0.1:{port}").parse().unwrap(), running)
}

/// A proxy on `listen` to `target`; `up.send(false)` cuts every connection and refuses new ones
/// (as an unreachable broker), `up.send(true)` serves again.
pub async fn proxy(listen: u16, target: SocketAddr) -> watch::Sender<bool> {
    let (up_tx, up_rx) = watch::channel(true);
    let listener = TcpListener::bind(("127.0.0.1", listen)).await.unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else { continue };
            if !*up_rx.borrow() {
                drop(client);
                continue;
            }
            let mut up = up_rx.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(target).await else { return };
                let (mut client, mut server) = (client, server);
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    _ = up.wait_for(|u| !*u) => {}
                }
            });
        }
    });
    up_tx
}

/// A TCP proxy on `listen` in front of `target` that can lose the broker's answers: while the
/// watched value is true, requests still reach the broker (which acts on them) but its answers are
/// thrown away; when it turns false again, every connection that lost answers is cut, so that the
/// client notices and sends its unanswered requests again (on a new connection, served normally).
pub async fn answer_losing_proxy(listen: u16, target: SocketAddr) -> watch::Sender<bool> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (lose_tx, lose_rx) = watch::channel(false);
    let listener = TcpListener::bind(("127.0.0.1", listen)).await.unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else { continue };
            let lose = lose_rx.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(target).await else { return };
                let (mut client_rd, mut client_wr) = client.into_split();
                let (mut server_rd, mut server_wr) = server.into_split();
                let requests = async { tokio::io::copy(&mut client_rd, &mut server_wr).await };
                let answers = async {
                    let mut lost_some = false;
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = tokio::select! {
                            n = server_rd.read(&mut buf) => n,
                            // answers were lost and the loss is over: cut this connection
                            _ = async { lose.clone().wait_for(|l| !*l).await.map(|_| ()) }, if lost_some => return,
                        };
                        let Ok(n) = n else { return };
                        if n == 0 {
                            return;
                        }
                        if *lose.borrow() {
                            lost_some = true;
                            continue;
                        }
                        if lost_some || client_wr.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                };
                tokio::select! {
                    _ = requests => {}
                    _ = answers => {}
                }
            });
        }
    });
    lose_tx
}

/// Every message of partition 0 of `topic` from the start, as JSON, once at least `expected` arrived
/// or `within` passed (then what there is).
pub async fn consume(bootstrap: &str, topic: &str, expected: usize, within: Duration) -> Vec<Value> {
    let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "ship-test-reader")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Beginning).unwrap();
        consumer.assign(&tpl).unwrap();
        let deadline = Instant::now() + within;
        let mut out = Vec::new();
        while out.len() < expected && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                out.push(serde_json::from_slice(m.payload().unwrap_or_default()).unwrap());
            }
        }
        out
    })
    .await
    .unwrap()
}

/// A `ship` config for `paths` into `topic` on `bootstrap`, registry in `dir`; `extra_input` is added
/// to the input (YAML flow keys, e.g. `scan_frequency: 200ms`).
pub fn config_yaml(dir: &Path, paths: &[String], bootstrap: &str, topic: &str, extra_input: &str) -> String {
    let paths: Vec<String> = paths.iter().map(|p| format!("'{p}'")).collect();
    format!(
        "ship:\n  inputs:\n    - {{id: logs, paths: [{}], scan_frequency: 200ms, tags: [access], fields: {{app: web}}{extra_input}}}\n  output:\n    kafka: {{brokers: ['{bootstrap}'], topic: '{topic}', max_message_bytes: 100000}}\n  registry: {}\n",
        paths.join(", "),
        dir.join("registry.json").display()
    )
}

/// The shipper running in this process.
pub struct Shipping {
    pub metrics: Arc<ShipMetrics>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Summary>,
}

impl Shipping {
    pub fn start(yaml: &str, tuning: Tuning) -> Shipping {
        let config = PipelineConfig::from_yaml(yaml, "test").unwrap().ship.unwrap();
        let metrics = Arc::new(ShipMetrics::default());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let m = metrics.clone();
        let task = tokio::spawn(async move {
            strom_pipeline::ship::run(config, tuning, m, async move {
                let _ = rx.await;
            })
            .await
            .unwrap()
        });
        Shipping { metrics, stop: Some(tx), task }
    }

    pub async fn stop(mut self) -> Summary {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.await.unwrap()
    }
}

/// Fast tuning for tests: the registry is written every 100ms.
pub fn tuning() -> Tuning {
    Tuning { registry_flush: Duration::from_millis(100), drain_timeout: Duration::from_secs(10), ..Tuning::default() }
}

/// The registry file's offset for `path`, or 0.
pub fn registry_offset(dir: &Path, path: &Path) -> u64 {
    let Ok(bytes) = std::fs::read(dir.join("registry.json")) else { return 0 };
    let file: RegistryFile = serde_json::from_slice(&bytes).unwrap();
    file.files.values().filter(|e| Path::new(&e.path) == path).map(|e| e.offset).max().unwrap_or(0)
}

/// Appends `line-<i>` lines for `range` to `path`.
pub fn append_lines(path: &Path, range: std::ops::Range<usize>) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
    let mut text = String::new();
    for i in range {
        text.push_str(&format!("line-{i:06} some payload to make it longer\n"));
    }
    f.write_all(text.as_bytes()).unwrap();
}

/// The line numbers of messages, in arrival order.
pub fn numbers(events: &[Value]) -> Vec<usize> {
    events
        .iter()
        .map(|e| {
            let m = e["message"].as_str().unwrap();
            m["line-".len().."line-".len() + 6].parse().unwrap()
        })
        .collect()
}

/// Polls `check` every 100ms until true or `within` passed; returns its last answer.
pub async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The high watermark of partition 0 of `topic` (how many records it holds, from offset 0).
pub async fn high_watermark(bootstrap: &str, topic: &str) -> i64 {
    let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &bootstrap).set("group.id", "ship-test-wm").create().unwrap();
        consumer.fetch_watermarks(&topic, 0, Duration::from_secs(10)).map(|(_, high)| high).unwrap_or(0)
    })
    .await
    .unwrap()
}
