//! SIGKILL under load: every acknowledged write survives, multis are all-or-nothing, and a
//! corrupted log tail is cut with a warning.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zookeeper_client as zk;

fn opts() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn value(writer: usize, n: usize) -> Vec<u8> {
    format!("writer {writer} record {n} ").repeat(20).into_bytes()
}

#[test]
fn sigkill_mid_load_loses_no_acknowledged_write() {
    let mut server = common::Process::start("crash", "snapCount=200");
    let addr = server.addr();
    let acked: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let c = zk::Client::connect(&addr).await.unwrap();
        c.create("/load", b"", &opts()).await.unwrap();
    });
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let acked = acked.clone();
            let addr = addr.clone();
            rt.spawn(async move {
                let Ok(c) = zk::Client::connect(&addr).await else { return };
                for n in 0.. {
                    // Even records: a plain create. Odd records: a multi creating a pair.
                    let path = format!("/load/w{w}-{n}");
                    let ok = if n % 2 == 0 {
                        c.create(&path, &value(w, n), &opts()).await.is_ok()
                    } else {
                        let mut m = c.new_multi_writer();
                        m.add_create(&path, &value(w, n), &opts()).unwrap();
                        m.add_create(&format!("{path}-pair"), &value(w, n), &opts()).unwrap();
                        m.commit().await.is_ok()
                    };
                    if !ok {
                        return;
                    }
                    acked.lock().unwrap().insert(path, value(w, n));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    server.kill9();
    let acked_count = acked.lock().unwrap().len();
    assert!(acked_count > 50, "the load made progress before the kill ({acked_count} writes)");
    for w in writers {
        let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), w).await });
    }
    let acked = acked.lock().unwrap().clone();

    // Damage the newest log file's tail as a crash mid-write would.
    let logs = server.dir.join("log/version-2");
    let mut files: Vec<(i64, std::path::PathBuf)> = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            Some((i64::from_str_radix(name.strip_prefix("log.")?, 16).ok()?, e.path()))
        })
        .collect();
    files.sort();
    let newest = files.last().unwrap().1.clone();
    let mut bytes = std::fs::read(&newest).unwrap();
    bytes.extend_from_slice(&[0, 0, 1, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
    std::fs::write(&newest, bytes).unwrap();

    server.spawn();
    assert!(server.log().contains("truncating the transaction log's damaged tail"), "{}", server.log());
    rt.block_on(async {
        let c = zk::Client::connect(&addr).await.unwrap();
        for (path, v) in &acked {
            let (data, _) = c.get_data(path).await.unwrap_or_else(|e| panic!("acknowledged {path} lost: {e}"));
            assert_eq!(&data, v, "{path} intact");
        }
        // Whatever else is there (durable but unacknowledged) is whole: full values, pairs
        // complete.
        let children = c.list_children("/load").await.unwrap();
        for child in &children {
            let (data, _) = c.get_data(&format!("/load/{child}")).await.unwrap();
            let base = child.trim_end_matches("-pair");
            let mut it = base.trim_start_matches('w').split('-');
            let w: usize = it.next().unwrap().parse().unwrap();
            let n: usize = it.next().unwrap().parse().unwrap();
            assert_eq!(data, value(w, n), "{child} is whole");
            if n % 2 == 1 {
                assert!(children.contains(&format!("{base}-pair")) && children.contains(&base.to_string()), "{child}: multi half applied");
            }
        }
        // And the server keeps working after recovery.
        c.create("/after", b"ok", &opts()).await.unwrap();
    });
    server.kill9();
    server.spawn();
    rt.block_on(async {
        let c = zk::Client::connect(&addr).await.unwrap();
        assert_eq!(c.get_data("/after").await.unwrap().0, b"ok");
    });
}
