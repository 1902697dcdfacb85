//! `stromctl zk status`: every ensemble member's view at once, like running
//! `zkServer.sh status` on each host. Works against strom-coordinator and Apache ZooKeeper
//! (it asks each server the `srvr` four-letter word, and the leader `mntr`).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum Action {
    /// Mode, epoch, zxid and leader of every server, and whether the ensemble has a quorum.
    Status {
        /// host:port of every server's client port (comma separated).
        #[arg(long, default_value = "127.0.0.1:2181")]
        servers: String,
        /// Seconds to wait for each server.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
        /// Seconds to wait for a healthy ensemble (one leader, a quorum serving) before
        /// reporting; 0 reports at once.
        #[arg(long, default_value_t = 0)]
        wait: u64,
    },
}

/// One server's answer to `srvr` (None: unreachable or not serving).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Member {
    pub mode: String,
    pub zxid: Option<u64>,
    pub epoch: Option<u64>,
    pub leader: Option<String>,
    pub nodes: Option<u64>,
    pub connections: Option<u64>,
}

/// Parses `srvr` text. ZooKeeper puts the epoch in the zxid's high 32 bits; strom-coordinator
/// reports it on its own line (its zxids are log positions).
pub fn parse_srvr(text: &str) -> Member {
    if text.contains("not currently serving requests") {
        return Member { mode: "not serving".into(), ..Default::default() };
    }
    let mut m = Member::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else { continue };
        let v = v.trim();
        match k.trim() {
            "Mode" => m.mode = v.to_string(),
            "Zxid" => m.zxid = u64::from_str_radix(v.trim_start_matches("0x"), 16).ok(),
            "Epoch" => m.epoch = v.parse().ok(),
            "Leader" => m.leader = Some(v.to_string()),
            "Node count" => m.nodes = v.parse().ok(),
            "Connections" => m.connections = v.parse().ok(),
            _ => {}
        }
    }
    if m.epoch.is_none() && m.leader.is_none() {
        m.epoch = m.zxid.map(|z| z >> 32);
    }
    m
}

fn four_letter(addr: &str, word: &str, timeout: Duration) -> Result<String, String> {
    let sock = addr.to_socket_addrs().map_err(|e| e.to_string())?.next().ok_or("no address")?;
    let mut s = TcpStream::connect_timeout(&sock, timeout).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    s.write_all(word.as_bytes()).map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    if out.is_empty() {
        return Err("closed without an answer".into());
    }
    Ok(out)
}

fn mntr_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('\t')).map(str::to_string))
}

pub fn run(action: Action) -> Result<(), String> {
    let Action::Status { servers, timeout, wait } = action;
    let timeout = Duration::from_secs(timeout.max(1));
    let addrs: Vec<String> = servers.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    if addrs.is_empty() {
        return Err("--servers lists no server".into());
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(wait);
    loop {
        let (report, result) = status(&addrs, timeout);
        if result.is_ok() || std::time::Instant::now() >= deadline {
            print!("{report}");
            return result;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The table and summary, and whether the ensemble is healthy.
fn status(addrs: &[String], timeout: Duration) -> (String, Result<(), String>) {
    use std::fmt::Write as _;
    let mut out = String::new();
    macro_rules! println {
        ($($t:tt)*) => {{ let _ = writeln!(out, $($t)*); }};
    }
    println!("{:<24} {:<12} {:>6} {:>14} {:>7} {:>8} {:>6}", "SERVER", "MODE", "EPOCH", "ZXID", "LEADER", "ZNODES", "CONNS");
    let mut leaders = Vec::new();
    let mut serving = 0;
    let dash = || "-".to_string();
    for a in addrs {
        let (m, note) = match four_letter(a, "srvr", timeout) {
            Ok(text) => (parse_srvr(&text), String::new()),
            Err(e) => (Member { mode: "down".into(), ..Default::default() }, format!("  ({e})")),
        };
        if matches!(m.mode.as_str(), "leader" | "follower" | "observer" | "standalone") {
            serving += 1;
        }
        if m.mode == "leader" || m.mode == "standalone" {
            leaders.push(a.clone());
        }
        println!(
            "{:<24} {:<12} {:>6} {:>14} {:>7} {:>8} {:>6}{note}",
            a,
            m.mode,
            m.epoch.map_or_else(dash, |e| e.to_string()),
            m.zxid.map_or_else(dash, |z| format!("{z:#x}")),
            m.leader.clone().unwrap_or_else(dash),
            m.nodes.map_or_else(dash, |n| n.to_string()),
            m.connections.map_or_else(dash, |n| n.to_string()),
        );
    }
    let quorum = addrs.len() / 2 + 1;
    let mut summary = format!("{} servers, {serving} serving (quorum {quorum})", addrs.len());
    if let [leader] = leaders.as_slice() {
        summary.push_str(&format!(", leader {leader}"));
        if let Ok(text) = four_letter(leader, "mntr", timeout) {
            if let (Some(f), Some(s)) = (mntr_value(&text, "zk_followers"), mntr_value(&text, "zk_synced_followers")) {
                summary.push_str(&format!(", {s} of {f} followers in sync"));
            }
        }
    }
    println!("{summary}");
    let result = if leaders.len() == 1 && serving >= quorum {
        Ok(())
    } else if leaders.len() > 1 {
        Err(format!("{} servers call themselves leader: {}", leaders.len(), leaders.join(", ")))
    } else {
        Err(format!("no quorum: {serving} of {} servers serving, {} leader(s)", addrs.len(), leaders.len()))
    };
    (out, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_dialects() {
        let zk = "Zookeeper version: 3.8.4\nLatency min/avg/max: 0/0.1/3\nReceived: 9\nSent: 8\nConnections: 2\nOutstanding: 0\nZxid: 0x300000007\nMode: follower\nNode count: 5\n";
        let m = parse_srvr(zk);
        assert_eq!((m.mode.as_str(), m.epoch, m.zxid, m.connections, m.nodes), ("follower", Some(3), Some(0x3_0000_0007), Some(2), Some(5)));
        let strom = "Zxid: 0x7d8\nMode: leader\nNode count: 2005\nEpoch: 4\nLeader: 3\nQuorum size: 2\n";
        let m = parse_srvr(strom);
        assert_eq!((m.mode.as_str(), m.epoch, m.leader.as_deref()), ("leader", Some(4), Some("3")));
        assert_eq!(parse_srvr("This ZooKeeper instance is not currently serving requests\n").mode, "not serving");
        assert_eq!(mntr_value("zk_followers\t2\nzk_synced_followers\t1\n", "zk_followers").as_deref(), Some("2"));
    }
}
