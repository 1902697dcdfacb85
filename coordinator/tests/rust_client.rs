//! The `zookeeper-client` crate (the client the broker uses) against this server.

mod common;

use std::time::Duration;

use zookeeper_client as zk;

fn opts(mode: zk::CreateMode) -> zk::CreateOptions<'static> {
    mode.with_acls(zk::Acls::anyone_all())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_children_watches_multi_and_ephemerals() {
    let server = common::InProcess::start("rust-client", "znode.container.checkIntervalMs=100");
    let client = zk::Client::connect(&server.connect_string()).await.unwrap();

    let (stat, _) = client.create("/app", b"v1", &opts(zk::CreateMode::Persistent)).await.unwrap();
    assert_eq!(stat.version, 0);
    assert!(matches!(
        client.create("/app", b"", &opts(zk::CreateMode::Persistent)).await,
        Err(zk::Error::NodeExists)
    ));
    let (data, stat) = client.get_data("/app").await.unwrap();
    assert_eq!((data.as_slice(), stat.data_length), (b"v1".as_slice(), 2));

    // A data watch fires once with NodeDataChanged.
    let (_, _, watcher) = client.get_and_watch_data("/app").await.unwrap();
    let stat = client.set_data("/app", b"v2", Some(0)).await.unwrap();
    assert_eq!(stat.version, 1);
    let ev = tokio::time::timeout(Duration::from_secs(5), watcher.changed()).await.unwrap();
    assert_eq!(ev.event_type, zk::EventType::NodeDataChanged);
    assert!(matches!(client.set_data("/app", b"v3", Some(0)).await, Err(zk::Error::BadVersion)));

    // Sequential children and a child watch.
    let (_, _, child_watch) = client.get_and_watch_children("/app").await.unwrap();
    let (_, seq) = client.create("/app/job-", b"", &opts(zk::CreateMode::PersistentSequential)).await.unwrap();
    assert_eq!(seq.into_i64(), 0);
    let ev = tokio::time::timeout(Duration::from_secs(5), child_watch.changed()).await.unwrap();
    assert_eq!(ev.event_type, zk::EventType::NodeChildrenChanged);
    assert_eq!(client.list_children("/app").await.unwrap(), vec!["job-0000000000".to_string()]);
    assert_eq!(client.count_descendants_number("/app").await.unwrap(), 1);

    // Persistent recursive watch (addWatch).
    let mut pw = client.watch("/app", zk::AddWatchMode::PersistentRecursive).await.unwrap();
    client.create("/app/job-0000000000/step", b"", &opts(zk::CreateMode::Persistent)).await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(5), pw.changed()).await.unwrap();
    assert_eq!((ev.event_type, ev.path.as_str()), (zk::EventType::NodeCreated, "/app/job-0000000000/step"));

    // Multi: all or nothing.
    let mut w = client.new_multi_writer();
    w.add_create("/app/m1", b"", &opts(zk::CreateMode::Persistent)).unwrap();
    w.add_delete("/app/missing", None).unwrap();
    assert!(w.commit().await.is_err());
    assert!(client.check_stat("/app/m1").await.unwrap().is_none());
    let mut w = client.new_multi_writer();
    w.add_create("/app/m1", b"", &opts(zk::CreateMode::Persistent)).unwrap();
    w.add_check_version("/app", 1).unwrap();
    w.add_set_data("/app/m1", b"x", None).unwrap();
    assert_eq!(w.commit().await.unwrap().len(), 3);

    // Ephemerals belong to the session.
    let other = zk::Client::connect(&server.connect_string()).await.unwrap();
    other.create("/app/owner", b"", &opts(zk::CreateMode::Ephemeral)).await.unwrap();
    assert_eq!(other.list_ephemerals("/").await.unwrap(), vec!["/app/owner".to_string()]);
    drop(other);
    let gone = async {
        loop {
            if client.check_stat("/app/owner").await.unwrap().is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), gone).await.expect("ephemeral removed when its session closed");

    // Containers go once their last child is deleted.
    client.create("/box", b"", &opts(zk::CreateMode::Container)).await.unwrap();
    client.create("/box/item", b"", &opts(zk::CreateMode::Persistent)).await.unwrap();
    client.delete("/box/item", None).await.unwrap();
    let gone = async {
        while client.check_stat("/box").await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), gone).await.expect("container removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_auth_and_acls() {
    let server = common::InProcess::start("rust-acl", "");
    let alice = zk::Client::connector().with_auth("digest", b"alice:secret").connect(&server.connect_string()).await.unwrap();
    let acls = zk::Acls::creator_all();
    alice.create("/private", b"x", &zk::CreateMode::Persistent.with_acls(acls)).await.unwrap();
    assert_eq!(alice.get_data("/private").await.unwrap().0, b"x");
    let eve = zk::Client::connect(&server.connect_string()).await.unwrap();
    assert!(matches!(eve.get_data("/private").await, Err(zk::Error::NoAuth)));
    let users = alice.list_auth_users().await.unwrap();
    assert!(users.iter().any(|u| u.scheme() == "digest" && u.user() == "alice"), "{users:?}");
}

/// A TCP proxy to `target` whose connections can all be cut at once (the client then reconnects
/// through it, to the same server, with its session).
struct CuttableProxy {
    addr: std::net::SocketAddr,
    conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl CuttableProxy {
    async fn start(target: String) -> CuttableProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Default::default();
        let held = conns.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                held.lock().unwrap().push(task);
            }
        });
        CuttableProxy { addr, conns }
    }

    fn cut(&self) {
        for t in self.conns.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

/// After a reconnection the client re-sends its watches (SetWatches2): a persistent recursive
/// watch (`AddWatch`, what strom-broker relies on) still fires for a change made after the client
/// reconnected. The crate as published re-sent only data, exist and child watches
/// (broker/vendor/zookeeper-client/STROM-PATCH.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_watches_survive_a_reconnection() {
    let server = common::InProcess::start("rust-client-rewatch", "");
    let proxy = CuttableProxy::start(server.connect_string()).await;
    let client = zk::Client::connector().with_session_timeout(Duration::from_secs(20)).connect(&proxy.addr.to_string()).await.unwrap();
    let other = zk::Client::connect(&server.connect_string()).await.unwrap();
    client.create("/w", b"", &opts(zk::CreateMode::Persistent)).await.unwrap();
    let mut recursive = client.watch("/w", zk::AddWatchMode::PersistentRecursive).await.unwrap();
    let mut persistent = client.watch("/w", zk::AddWatchMode::Persistent).await.unwrap();
    let mut state = client.state_watcher();
    other.create("/w/before", b"", &opts(zk::CreateMode::Persistent)).await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(5), recursive.changed()).await.unwrap();
    assert_eq!((ev.event_type, ev.path.as_str()), (zk::EventType::NodeCreated, "/w/before"));

    proxy.cut();
    // Disconnected, then connected again with the same session.
    let reconnected = async {
        loop {
            if state.changed().await == zk::SessionState::SyncConnected {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), reconnected).await.expect("the client reconnects");
    let session = client.session_id();
    // The client is connected again: a change made now must reach both watches.
    client.sync("/w").await.unwrap();
    other.create("/w/after", b"", &opts(zk::CreateMode::Persistent)).await.unwrap();
    other.set_data("/w", b"x", None).await.unwrap();
    let mut seen = Vec::new();
    while let Ok(ev) = tokio::time::timeout(Duration::from_secs(5), recursive.changed()).await {
        if ev.event_type == zk::EventType::Session {
            continue;
        }
        seen.push((ev.event_type, ev.path.clone()));
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen, vec![(zk::EventType::NodeCreated, "/w/after".to_string()), (zk::EventType::NodeDataChanged, "/w".to_string())], "the recursive watch after the reconnection");
    let mut direct = Vec::new();
    while let Ok(ev) = tokio::time::timeout(Duration::from_secs(5), persistent.changed()).await {
        if ev.event_type == zk::EventType::Session {
            continue;
        }
        direct.push(ev.event_type);
        if ev.event_type == zk::EventType::NodeDataChanged {
            break;
        }
    }
    assert!(direct.contains(&zk::EventType::NodeDataChanged), "the persistent watch after the reconnection: {direct:?}");
    assert_eq!(client.session_id(), session);
}
