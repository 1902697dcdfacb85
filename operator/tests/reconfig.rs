//! The operator's ensemble administration against real coordinators (three servers and a spare
//! in this process, with a super user and ACLs on): the membership read from
//! `/zookeeper/config`, each server's mode from `srvr`, server 4 added and removed by `reconfig` as the super user, and a wrong
//! password refused.

use std::time::Duration;

use strom_operator::probe::{super_digest, Live, Probe};
use strom_operator::scaling::voters;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Ports {
    client: u16,
    quorum: u16,
    election: u16,
}

fn line(id: usize, p: &Ports) -> String {
    format!("server.{id}=127.0.0.1:{}:{}:participant;127.0.0.1:{}", p.quorum, p.election, p.client)
}

/// Starts server `id` listing `members` (ids into `ports`, 1-based).
async fn start(dir: &std::path::Path, id: usize, members: &[usize], ports: &[Ports], digest: &str) {
    let data = dir.join(format!("s{id}"));
    std::fs::create_dir_all(&data).unwrap();
    let mut text = format!(
        "tickTime=200\ninitLimit=20\nsyncLimit=10\ndataDir={}\nclientPort={}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\nreconfigEnabled=true\nDigestAuthenticationProvider.superDigest={digest}\n",
        data.display(),
        ports[id - 1].client
    );
    for m in members {
        text.push_str(&line(*m, &ports[m - 1]));
        text.push('\n');
    }
    let mut cfg = strom_coordinator::config::Config::parse("zoo.cfg", &text).unwrap();
    cfg.my_id = id as i64;
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(strom_coordinator::server::run(cfg, std::future::pending(), Some(tx)));
    rx.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_adds_and_removes_a_server_as_the_super_user() {
    let dir = std::env::temp_dir().join(format!("strom-operator-reconfig-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ports: Vec<Ports> = (0..4).map(|_| Ports { client: free_port(), quorum: free_port(), election: free_port() }).collect();
    let password = "0perator-secret";
    let digest = super_digest(password);
    for id in 1..=3 {
        start(&dir, id, &[1, 2, 3], &ports, &digest).await;
    }
    let connect = (0..3).map(|i| format!("127.0.0.1:{}", ports[i].client)).collect::<Vec<_>>().join(",");
    let probe = Live;
    // the ensemble forms: its membership is servers 1-3
    let mut members = Vec::new();
    for _ in 0..100 {
        if let Ok(text) = probe.ensemble_config(connect.clone()).await {
            members = voters(&text);
            if members.len() == 3 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(members, [1, 2, 3]);
    // each server tells its mode (`srvr`): one leader, two followers
    let mut modes = Vec::new();
    for p in &ports[..3] {
        modes.push(probe.coordinator_mode(format!("127.0.0.1:{}", p.client)).await.unwrap_or_default());
    }
    modes.sort();
    assert_eq!(modes, ["follower", "follower", "leader"]);
    // the spare (pod zk-3) runs with the members and itself in its zoo.cfg
    start(&dir, 4, &[1, 2, 3, 4], &ports, &digest).await;
    let joining = vec![line(4, &ports[3])];
    // a wrong password: an ordinary digest user, refused
    let err = probe.reconfigure(connect.clone(), "wrong".into(), joining.clone(), vec![]).await.unwrap_err();
    assert!(err.to_lowercase().contains("auth"), "{err}");
    // as the super user: server 4 votes
    let text = probe.reconfigure(connect.clone(), password.into(), joining, vec![]).await.unwrap();
    assert_eq!(voters(&text), [1, 2, 3, 4], "{text}");
    assert_eq!(voters(&probe.ensemble_config(format!("127.0.0.1:{}", ports[3].client)).await.unwrap()), [1, 2, 3, 4], "the new server knows it");
    // and leaves again
    let text = probe.reconfigure(connect.clone(), password.into(), vec![], vec![4]).await.unwrap();
    assert_eq!(voters(&text), [1, 2, 3], "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
