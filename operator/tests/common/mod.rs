//! A coordinator and brokers running in the test's process, for the controllers' tests.

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
