//! Operational commands: ZooKeeper's four-letter words (text) and the AdminServer's
//! `/commands/<name>` (JSON), computed from the processor's state.

use serde_json::{json, Value};

use crate::config::Config;
use crate::processor::Processor;

pub const VERSION: &str = concat!("3.9.2-strom-", env!("CARGO_PKG_VERSION"));

pub struct Ctx<'a> {
    pub p: &'a Processor,
    pub cfg: &'a Config,
    pub started: std::time::Instant,
    /// The connection asking (a four-letter word's own connection), listed as ZooKeeper does.
    pub asking: Option<&'a str>,
    /// The ensemble as this member sees it (None: standalone).
    pub quorum: Option<&'a crate::server::ensemble::QuorumView>,
}

fn mode(c: &Ctx) -> &'static str {
    use crate::processor::Role;
    match c.p.role {
        Role::Standalone => "standalone",
        Role::Leader => "leader",
        Role::Follower => "follower",
        Role::Looking => "looking",
    }
}

/// ZooKeeper answers most commands so while it has no quorum.
const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

fn serving(c: &Ctx) -> bool {
    c.p.role != crate::processor::Role::Looking
}

fn latency(c: &Ctx) -> (u64, f64, u64) {
    let k = &c.p.counters;
    let avg = if k.latency_count == 0 { 0.0 } else { k.latency_total as f64 / k.latency_count as f64 };
    (k.latency_min, avg, k.latency_max)
}

fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn srvr(c: &Ctx, with_clients: bool) -> String {
    let (min, avg, max) = latency(c);
    let mut s = format!("Zookeeper version: {VERSION}, built for Strom\n");
    if with_clients {
        s.push_str("Clients:\n");
        s.push_str(&cons(c));
        s.push('\n');
    }
    s.push_str(&format!(
        "Latency min/avg/max: {min}/{avg:.4}/{max}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: 0\nZxid: {:#x}\nMode: {}\nNode count: {}\n",
        c.p.counters.received,
        c.p.counters.sent,
        c.p.conns.len(),
        c.p.tree.last_zxid,
        mode(c),
        c.p.tree.node_count()
    ));
    if let Some(q) = c.quorum {
        s.push_str(&format!("Epoch: {}\nLeader: {}\nQuorum size: {}\n", q.term, q.leader.map_or("none".into(), |l| l.to_string()), q.voters / 2 + 1));
    }
    s
}

fn cons(c: &Ctx) -> String {
    let mut lines: Vec<String> = c
        .p
        .conns
        .values()
        .map(|k| {
            format!(
                " /{}[1](queued=0,recved={},sent={},sid={:#x},lop=NA,est=0,to={},lcxid=0x0,lzxid=0x0,lresp=0,llat=0,minlat=0,avglat=0,maxlat=0)\n",
                k.peer, k.received, k.sent, k.session_id, k.timeout
            )
        })
        .collect();
    lines.sort();
    if let Some(peer) = c.asking {
        lines.push(format!(" /{peer}[0](queued=0,recved=1,sent=0)\n"));
    }
    lines.concat()
}

fn mntr_pairs(c: &Ctx) -> Vec<(&'static str, Value)> {
    let (min, avg, max) = latency(c);
    let (_, watched_paths, watches) = c.p.watches.summary();
    let mut v = vec![
        ("zk_version", json!(VERSION)),
        ("zk_server_state", json!(mode(c))),
        ("zk_avg_latency", json!(avg)),
        ("zk_max_latency", json!(max)),
        ("zk_min_latency", json!(min)),
        ("zk_packets_received", json!(c.p.counters.received)),
        ("zk_packets_sent", json!(c.p.counters.sent)),
        ("zk_num_alive_connections", json!(c.p.conns.len())),
        ("zk_outstanding_requests", json!(0)),
        ("zk_znode_count", json!(c.p.tree.node_count())),
        ("zk_watch_count", json!(watches)),
        ("zk_watched_paths", json!(watched_paths)),
        ("zk_ephemerals_count", json!(c.p.tree.ephemeral_count())),
        ("zk_approximate_data_size", json!(c.p.tree.approximate_data_size())),
        ("zk_global_sessions", json!(c.p.session_count())),
        ("zk_last_zxid", json!(c.p.tree.last_zxid)),
        ("zk_uptime", json!(c.started.elapsed().as_millis() as u64)),
        ("zk_resident_memory_bytes", json!(resident_bytes())),
        ("zk_max_file_descriptor_count", json!(max_fds())),
    ];
    if let Some(q) = c.quorum {
        v.push(("zk_epoch", json!(q.term)));
        v.push(("zk_quorum_size", json!(q.voters / 2 + 1)));
        v.push(("zk_peer_state", json!(match c.p.role {
            crate::processor::Role::Leader => "leading - broadcast",
            crate::processor::Role::Follower => "following - broadcast",
            _ => "looking",
        })));
        if c.p.role == crate::processor::Role::Leader {
            v.push(("zk_learners", json!(q.followers)));
            v.push(("zk_followers", json!(q.followers)));
            v.push(("zk_synced_followers", json!(q.synced_followers)));
            v.push(("zk_pending_syncs", json!(0)));
            v.push(("zk_max_follower_lag", json!(q.max_follower_lag)));
        }
    }
    v
}

fn max_fds() -> u64 {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we pass and has no other effect.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 {
        r.rlim_cur
    } else {
        0
    }
}

fn conf_pairs(c: &Ctx) -> Vec<(String, String)> {
    let cfg = c.cfg;
    let mut v = vec![
        ("clientPort".to_string(), cfg.client_port.to_string()),
        ("clientPortAddress".into(), cfg.client_addr().to_string()),
        ("dataDir".into(), cfg.data_dir.join("version-2").display().to_string()),
        ("dataLogDir".into(), cfg.data_log_dir.join("version-2").display().to_string()),
        ("tickTime".into(), cfg.tick_time.to_string()),
        ("maxClientCnxns".into(), cfg.max_client_cnxns.to_string()),
        ("minSessionTimeout".into(), cfg.min_session_timeout.to_string()),
        ("maxSessionTimeout".into(), cfg.max_session_timeout.to_string()),
        ("serverId".into(), cfg.my_id.to_string()),
        ("initLimit".into(), cfg.init_limit.to_string()),
        ("syncLimit".into(), cfg.sync_limit.to_string()),
        ("snapCount".into(), cfg.snap_count.to_string()),
        ("jute.maxbuffer".into(), cfg.max_buffer.to_string()),
    ];
    for s in &cfg.servers {
        v.push((format!("server.{}", s.id), format!("{}:{}:{}:{}", s.host, s.quorum_port, s.election_port, s.role)));
    }
    v
}

fn envi_pairs() -> Vec<(&'static str, String)> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_default();
    vec![
        ("zookeeper.version", format!("{VERSION}, built for Strom")),
        ("host.name", host),
        ("os.name", std::env::consts::OS.to_string()),
        ("os.arch", std::env::consts::ARCH.to_string()),
        ("user.dir", std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default()),
        ("strom.version", env!("CARGO_PKG_VERSION").to_string()),
    ]
}

fn dump(c: &Ctx) -> String {
    let mut s = format!("SessionTracker dump:\nGlobal Sessions({}):\n", c.p.session_count());
    for (id, rec) in &c.p.tree.sessions {
        s.push_str(&format!("{id:#x}\t{}ms\n", rec.timeout));
    }
    s.push_str("ephemeral nodes dump:\n");
    let mut by_session = std::collections::BTreeMap::new();
    for (p, n) in c.p.tree.nodes() {
        if let crate::proto::codes::OwnerKind::Session(o) = crate::proto::codes::owner_kind(n.stat.ephemeral_owner) {
            by_session.entry(o).or_insert_with(Vec::new).push(p.clone());
        }
    }
    s.push_str(&format!("Sessions with Ephemerals ({}):\n", by_session.len()));
    for (o, mut paths) in by_session {
        paths.sort();
        s.push_str(&format!("{o:#x}:\n"));
        for p in paths {
            s.push_str(&format!("\t{p}\n"));
        }
    }
    s
}

/// A four-letter word's text answer (`None`: unknown word).
pub fn four_letter(c: &Ctx, word: &str) -> String {
    if !c.cfg.four_letter_allowed(word) {
        return format!("{word} is not executed because it is not in the whitelist.\n");
    }
    if !serving(c) && matches!(word, "srvr" | "stat" | "mntr" | "cons" | "wchs" | "dump") {
        return NOT_SERVING.into();
    }
    match word {
        "ruok" => "imok".into(),
        "srvr" => srvr(c, false),
        "stat" => srvr(c, true),
        "mntr" => mntr_pairs(c)
            .into_iter()
            .map(|(k, v)| format!("{k}\t{}\n", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
            .collect(),
        "conf" => conf_pairs(c).into_iter().map(|(k, v)| format!("{k}={v}\n")).collect(),
        "cons" => format!("{}\n", cons(c)),
        "envi" => {
            let mut s = "Environment:\n".to_string();
            for (k, v) in envi_pairs() {
                s.push_str(&format!("{k}={v}\n"));
            }
            s
        }
        "isro" => if c.p.role == crate::processor::Role::Looking { "ro".into() } else { "rw".into() },
        "wchs" => {
            let (conns, paths, total) = c.p.watches.summary();
            format!("{conns} connections watching {paths} paths\nTotal watches:{total}\n")
        }
        "dump" => dump(c),
        "dirs" => "datadir_size: 0\nlogdir_size: 0\n".into(),
        "crst" | "srst" => "Connection stats reset.\n".into(),
        _ => format!("{word} is not supported by this server.\n"),
    }
}

/// An AdminServer command (`/commands/<name>`), by full name or four-letter alias.
pub fn admin(c: &Ctx, name: &str) -> Option<Value> {
    let command = match name {
        "ruok" => "ruok",
        "srvr" | "server_stats" => "server_stats",
        "stat" | "stats" => "stats",
        "mntr" | "monitor" => "monitor",
        "conf" | "configuration" => "configuration",
        "cons" | "connections" => "connections",
        "envi" | "environment" => "environment",
        "isro" | "is_read_only" => "is_read_only",
        "wchs" | "watch_summary" => "watch_summary",
        "dump" => "dump",
        _ => return None,
    };
    let mut v = json!({ "command": command, "error": Value::Null });
    let o = v.as_object_mut()?;
    match command {
        "ruok" => {}
        "server_stats" | "stats" => {
            let (min, avg, max) = latency(c);
            o.insert("version".into(), json!(VERSION));
            o.insert("server_stats".into(), json!({
                "packets_sent": c.p.counters.sent,
                "packets_received": c.p.counters.received,
                "avg_latency": avg, "min_latency": min, "max_latency": max,
                "num_alive_client_connections": c.p.conns.len(),
                "last_processed_zxid": c.p.tree.last_zxid,
                "data_dir_size": 0, "log_dir_size": 0,
                "server_state": mode(c),
                "uptime": c.started.elapsed().as_millis() as u64,
            }));
            o.insert("node_count".into(), json!(c.p.tree.node_count()));
            o.insert("read_only".into(), json!(c.p.role == crate::processor::Role::Looking));
        }
        "monitor" => {
            for (k, val) in mntr_pairs(c) {
                o.insert(k.trim_start_matches("zk_").into(), val);
            }
        }
        "configuration" => {
            // The AdminServer's names and types (ZooKeeper's ServerConfig), not zoo.cfg's.
            let cfg = c.cfg;
            o.insert("client_port".into(), json!(cfg.client_port));
            o.insert("client_port_address".into(), json!(cfg.client_addr().to_string()));
            o.insert("data_dir".into(), json!(cfg.data_dir.join("version-2")));
            o.insert("data_log_dir".into(), json!(cfg.data_log_dir.join("version-2")));
            o.insert("tick_time".into(), json!(cfg.tick_time));
            o.insert("max_client_cnxns".into(), json!(cfg.max_client_cnxns));
            o.insert("min_session_timeout".into(), json!(cfg.min_session_timeout));
            o.insert("max_session_timeout".into(), json!(cfg.max_session_timeout));
            o.insert("server_id".into(), json!(cfg.my_id));
            o.insert("init_limit".into(), json!(cfg.init_limit));
            o.insert("sync_limit".into(), json!(cfg.sync_limit));
            o.insert("snap_count".into(), json!(cfg.snap_count));
        }
        "connections" => {
            let list: Vec<Value> = c
                .p
                .conns
                .values()
                .map(|k| json!({"remote_socket_address": k.peer, "session_id": format!("{:#x}", k.session_id),
                    "packets_received": k.received, "packets_sent": k.sent}))
                .collect();
            o.insert("connections".into(), json!(list));
        }
        "environment" => {
            for (k, val) in envi_pairs() {
                o.insert(k.into(), json!(val));
            }
        }
        "is_read_only" => {
            o.insert("read_only".into(), json!(c.p.role == crate::processor::Role::Looking));
        }
        "watch_summary" => {
            let (conns, paths, total) = c.p.watches.summary();
            o.insert("num_connections".into(), json!(conns));
            o.insert("num_paths".into(), json!(paths));
            o.insert("num_total_watches".into(), json!(total));
        }
        "dump" => {
            o.insert("text".into(), json!(dump(c)));
        }
        _ => {}
    }
    Some(v)
}
