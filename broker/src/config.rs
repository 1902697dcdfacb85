//! `server.properties`: Kafka's broker configuration file, read unchanged.
//!
//! Java properties syntax (`key=value`, `key: value`, `#`/`!` comments, `\` line continuation).
//! Every key Kafka's seed files use is understood; unknown keys are logged as warnings; a value
//! that does not parse is an error naming the file, line and key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{file}:{line}: invalid value {value:?} for {key}: {reason}")]
    Invalid { file: String, line: usize, key: String, value: String, reason: String },
    #[error("{file}: {key} is required")]
    Missing { file: String, key: String },
    #[error("invalid --override {0:?}: expected key=value")]
    Override(String),
}

/// One raw `key=value` with where it came from.
#[derive(Debug, Clone)]
struct Entry {
    value: String,
    line: usize,
}

/// A listener such as `PLAINTEXT://127.0.0.1:9092`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub host: String,
    pub port: u16,
}

impl Listener {
    pub fn parse(s: &str) -> Result<Listener, String> {
        let (name, rest) = s.split_once("://").ok_or("expected NAME://host:port")?;
        let (host, port) = rest.rsplit_once(':').ok_or("expected NAME://host:port")?;
        let port = port.parse::<u16>().map_err(|_| format!("bad port {port:?}"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        if name.is_empty() {
            return Err("listener name is empty".into());
        }
        Ok(Listener { name: name.to_string(), host, port })
    }
}

/// Broker settings, with Kafka's defaults.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub broker_id: i32,
    pub listeners: Vec<Listener>,
    pub advertised_listeners: Vec<Listener>,
    pub security_protocol_map: BTreeMap<String, String>,
    pub log_dirs: Vec<PathBuf>,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub min_insync_replicas: i32,
    pub zookeeper_connect: String,
    pub zookeeper_session_timeout_ms: u64,
    pub delete_topic_enable: bool,
    pub auto_create_topics_enable: bool,
    pub offsets_topic_replication_factor: i16,
    pub offsets_topic_num_partitions: i32,
    pub offsets_retention_ms: i64,
    pub message_max_bytes: i32,
    pub socket_request_max_bytes: usize,
    pub group_initial_rebalance_delay_ms: u64,
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    /// Replication (Kafka's names and defaults).
    pub replica_lag_time_max_ms: i64,
    pub replica_fetch_wait_max_ms: i32,
    pub replica_fetch_max_bytes: i32,
    pub replica_fetch_response_max_bytes: i32,
    pub unclean_leader_election_enable: bool,
    pub controlled_shutdown_enable: bool,
    pub auto_leader_rebalance_enable: bool,
    pub leader_imbalance_check_interval_ms: u64,
    pub leader_imbalance_per_broker_percentage: i32,
    pub broker_rack: Option<String>,
    /// `strom.rack.annotations.file`: a Kubernetes downward-API file of the pod's annotations,
    /// whose `strom.io/rack` (set by the operator from a label of the pod's node) becomes
    /// broker.rack when broker.rack is not given (see `rack`).
    pub rack_annotations_file: Option<std::path::PathBuf>,
    pub log: LogDefaults,
    pub sasl_plain_users: BTreeMap<String, String>,
    /// The file the settings came from, for messages.
    pub source: String,
    /// Every key as written in the file (and overrides), for DescribeConfigs.
    pub raw: BTreeMap<String, String>,
}

/// Log settings: broker-wide defaults that topic configs override.
#[derive(Debug, Clone, PartialEq)]
pub struct LogDefaults {
    pub segment_bytes: u64,
    pub segment_ms: i64,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub cleanup_policy: String,
    pub flush_messages: i64,
    pub flush_ms: i64,
    pub index_interval_bytes: u64,
    pub retention_check_interval_ms: u64,
    pub max_message_bytes: i32,
    pub min_insync_replicas: i32,
    pub message_timestamp_type: String,
    pub compression_type: String,
}

/// Keys accepted without effect (threads and socket buffers are tokio's business), listed so that
/// they do not warn.
const ACCEPTED: &[&str] = &[
    "num.network.threads",
    "num.io.threads",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "num.recovery.threads.per.data.dir",
    "num.replica.fetchers",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "zookeeper.connection.timeout.ms",
    "log.cleaner.enable",
    "inter.broker.listener.name",
    "security.inter.broker.protocol",
    "sasl.mechanism.inter.broker.protocol",
    "log.message.format.version",
    "inter.broker.protocol.version",
    "confluent.support.metrics.enable",
];

impl BrokerConfig {
    pub fn load(path: &Path, overrides: &[String]) -> Result<BrokerConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text, &path.display().to_string(), overrides)
    }

    pub fn parse(text: &str, file: &str, overrides: &[String]) -> Result<BrokerConfig, ConfigError> {
        let mut entries = parse_properties(text);
        for o in overrides {
            let (k, v) = o.split_once('=').ok_or_else(|| ConfigError::Override(o.clone()))?;
            entries.insert(k.trim().to_string(), Entry { value: v.trim().to_string(), line: 0 });
        }
        let r = Reader { file, entries: &entries };
        let hostname = std::env::var("HOSTNAME").ok().or_else(read_hostname).unwrap_or_default();
        let expand = |s: &str| s.replace("${HOSTNAME}", &hostname);

        let broker_id = match entries.get("broker.id") {
            Some(_) => r.int("broker.id", -1)?,
            None => -1,
        };
        let broker_id = if broker_id >= 0 {
            broker_id
        } else {
            // One config shared by a StatefulSet: the ordinal after the hostname's last '-'.
            match hostname.rsplit_once('-').and_then(|(_, n)| n.parse::<i32>().ok()) {
                Some(n) => n,
                None => return Err(ConfigError::Missing { file: file.into(), key: "broker.id".into() }),
            }
        };
        let listeners = r.listeners("listeners", "PLAINTEXT://:9092", &expand)?;
        let advertised_listeners = match entries.get("advertised.listeners") {
            Some(_) => r.listeners("advertised.listeners", "", &expand)?,
            None => listeners.clone(),
        };
        let mut security_protocol_map: BTreeMap<String, String> = [
            ("PLAINTEXT", "PLAINTEXT"),
            ("SASL_PLAINTEXT", "SASL_PLAINTEXT"),
            ("SSL", "SSL"),
            ("SASL_SSL", "SASL_SSL"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        if let Some(e) = entries.get("listener.security.protocol.map") {
            for pair in e.value.split(',').filter(|s| !s.trim().is_empty()) {
                let (n, p) = pair.split_once(':').ok_or_else(|| r.invalid("listener.security.protocol.map", "expected NAME:PROTOCOL pairs"))?;
                security_protocol_map.insert(n.trim().to_string(), p.trim().to_string());
            }
        }
        for l in &listeners {
            match security_protocol_map.get(&l.name).map(String::as_str) {
                Some("PLAINTEXT") | Some("SASL_PLAINTEXT") => {}
                Some(p) => return Err(r.invalid("listeners", &format!("security protocol {p} of listener {} is not supported (PLAINTEXT and SASL_PLAINTEXT are)", l.name))),
                None => return Err(r.invalid("listeners", &format!("listener {} has no entry in listener.security.protocol.map", l.name))),
            }
        }
        let log_dirs_s = entries
            .get("log.dirs")
            .or_else(|| entries.get("log.dir"))
            .map(|e| e.value.clone())
            .unwrap_or_else(|| "/tmp/kafka-logs".into());
        let log_dirs: Vec<PathBuf> = log_dirs_s.split(',').map(|s| PathBuf::from(s.trim())).filter(|p| !p.as_os_str().is_empty()).collect();
        if log_dirs.is_empty() {
            return Err(r.invalid("log.dirs", "no directory given"));
        }
        let zookeeper_connect = match entries.get("zookeeper.connect") {
            Some(e) if !e.value.is_empty() => e.value.clone(),
            _ => return Err(ConfigError::Missing { file: file.into(), key: "zookeeper.connect".into() }),
        };

        let hours = r.long("log.retention.hours", 168)?;
        let retention_ms = match (entries.get("log.retention.ms"), entries.get("log.retention.minutes")) {
            (Some(_), _) => r.long("log.retention.ms", -1)?,
            (None, Some(_)) => r.long("log.retention.minutes", -1)? * 60_000,
            _ => hours * 3_600_000,
        };
        let roll_ms = match entries.get("log.roll.ms") {
            Some(_) => r.long("log.roll.ms", 0)?,
            None => r.long("log.roll.hours", 168)? * 3_600_000,
        };
        let message_max_bytes = r.int("message.max.bytes", 1_048_588)?;
        let min_insync_replicas = r.int("min.insync.replicas", 1)?;
        let cleanup_policy = r.string("log.cleanup.policy", "delete");
        check_cleanup_policy(&cleanup_policy).map_err(|e| r.invalid("log.cleanup.policy", &e))?;
        let log = LogDefaults {
            segment_bytes: r.positive("log.segment.bytes", 1 << 30)? as u64,
            segment_ms: roll_ms,
            retention_ms,
            retention_bytes: r.long("log.retention.bytes", -1)?,
            cleanup_policy,
            flush_messages: r.long("log.flush.interval.messages", i64::MAX)?,
            flush_ms: r.long("log.flush.interval.ms", i64::MAX)?,
            index_interval_bytes: r.positive("log.index.interval.bytes", 4096)? as u64,
            retention_check_interval_ms: r.positive("log.retention.check.interval.ms", 300_000)? as u64,
            max_message_bytes: message_max_bytes,
            min_insync_replicas,
            message_timestamp_type: r.string("log.message.timestamp.type", "CreateTime"),
            compression_type: r.string("compression.type", "producer"),
        };
        if log.segment_bytes < 14 {
            return Err(r.invalid("log.segment.bytes", "must be at least 14"));
        }

        let mut sasl_plain_users = BTreeMap::new();
        for (k, e) in &entries {
            if k == "sasl.jaas.config" || (k.starts_with("listener.name.") && k.ends_with(".plain.sasl.jaas.config")) {
                for (u, p) in parse_jaas_users(&e.value) {
                    sasl_plain_users.insert(u, p);
                }
            }
        }

        for (k, e) in &entries {
            if !KNOWN.contains(&k.as_str()) && !ACCEPTED.contains(&k.as_str()) && !k.starts_with("listener.name.") {
                tracing::warn!(file, line = e.line, key = %k, "unknown configuration key ignored");
            }
        }

        Ok(BrokerConfig {
            broker_id,
            listeners,
            advertised_listeners,
            security_protocol_map,
            log_dirs,
            num_partitions: r.positive("num.partitions", 1)? as i32,
            default_replication_factor: r.positive("default.replication.factor", 1)? as i16,
            min_insync_replicas,
            zookeeper_connect,
            zookeeper_session_timeout_ms: r.positive("zookeeper.session.timeout.ms", 18_000)? as u64,
            delete_topic_enable: r.boolean("delete.topic.enable", true)?,
            auto_create_topics_enable: r.boolean("auto.create.topics.enable", true)?,
            offsets_topic_replication_factor: r.positive("offsets.topic.replication.factor", 3)? as i16,
            offsets_topic_num_partitions: r.positive("offsets.topic.num.partitions", 50)? as i32,
            offsets_retention_ms: r.long("offsets.retention.minutes", 10_080)? * 60_000,
            message_max_bytes,
            socket_request_max_bytes: r.positive("socket.request.max.bytes", 104_857_600)? as usize,
            group_initial_rebalance_delay_ms: r.long("group.initial.rebalance.delay.ms", 3000)?.max(0) as u64,
            group_min_session_timeout_ms: r.int("group.min.session.timeout.ms", 6000)?,
            group_max_session_timeout_ms: r.int("group.max.session.timeout.ms", 1_800_000)?,
            replica_lag_time_max_ms: r.positive("replica.lag.time.max.ms", 30_000)?,
            replica_fetch_wait_max_ms: r.positive("replica.fetch.wait.max.ms", 500)? as i32,
            replica_fetch_max_bytes: r.positive("replica.fetch.max.bytes", 1_048_576)? as i32,
            replica_fetch_response_max_bytes: r.positive("replica.fetch.response.max.bytes", 10_485_760)? as i32,
            unclean_leader_election_enable: r.boolean("unclean.leader.election.enable", false)?,
            controlled_shutdown_enable: r.boolean("controlled.shutdown.enable", true)?,
            auto_leader_rebalance_enable: r.boolean("auto.leader.rebalance.enable", true)?,
            leader_imbalance_check_interval_ms: r.positive("leader.imbalance.check.interval.seconds", 300)? as u64 * 1000,
            leader_imbalance_per_broker_percentage: r.int("leader.imbalance.per.broker.percentage", 10)?,
            broker_rack: entries.get("broker.rack").map(|e| e.value.trim().to_string()).filter(|v| !v.is_empty()),
            rack_annotations_file: entries.get("strom.rack.annotations.file").map(|e| e.value.trim().to_string()).filter(|v| !v.is_empty()).map(Into::into),
            log,
            sasl_plain_users,
            source: file.to_string(),
            raw: entries.iter().map(|(k, e)| (k.clone(), e.value.clone())).collect(),
        })
    }

    /// Whether any of the broker keys behind a setting was written in the file.
    pub fn is_set(&self, keys: &[&str]) -> bool {
        keys.iter().any(|k| self.raw.contains_key(*k))
    }

    /// The security protocol of a listener (`PLAINTEXT` or `SASL_PLAINTEXT`).
    pub fn protocol_of(&self, listener: &str) -> &str {
        self.security_protocol_map.get(listener).map(String::as_str).unwrap_or("PLAINTEXT")
    }
}

const KNOWN: &[&str] = &[
    "broker.id",
    "broker.rack",
    "strom.rack.annotations.file",
    "replica.lag.time.max.ms",
    "replica.fetch.wait.max.ms",
    "replica.fetch.max.bytes",
    "replica.fetch.response.max.bytes",
    "unclean.leader.election.enable",
    "controlled.shutdown.enable",
    "auto.leader.rebalance.enable",
    "leader.imbalance.check.interval.seconds",
    "leader.imbalance.per.broker.percentage",
    "listeners",
    "advertised.listeners",
    "listener.security.protocol.map",
    "log.dirs",
    "log.dir",
    "num.partitions",
    "default.replication.factor",
    "min.insync.replicas",
    "zookeeper.connect",
    "zookeeper.session.timeout.ms",
    "delete.topic.enable",
    "auto.create.topics.enable",
    "offsets.topic.replication.factor",
    "offsets.topic.num.partitions",
    "offsets.retention.minutes",
    "message.max.bytes",
    "socket.request.max.bytes",
    "group.initial.rebalance.delay.ms",
    "group.min.session.timeout.ms",
    "group.max.session.timeout.ms",
    "log.retention.hours",
    "log.retention.minutes",
    "log.retention.ms",
    "log.retention.bytes",
    "log.segment.bytes",
    "log.roll.hours",
    "log.roll.ms",
    "log.cleanup.policy",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "log.index.interval.bytes",
    "log.retention.check.interval.ms",
    "log.message.timestamp.type",
    "compression.type",
    "sasl.enabled.mechanisms",
    "sasl.jaas.config",
];

pub fn check_cleanup_policy(v: &str) -> Result<(), String> {
    for p in v.split(',') {
        match p.trim() {
            "delete" | "compact" => {}
            other => return Err(format!("unknown cleanup policy {other:?} (delete, compact)")),
        }
    }
    Ok(())
}

/// `user_alice="secret"` pairs of a PlainLoginModule JAAS line.
fn parse_jaas_users(v: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = v;
    while let Some(i) = rest.find("user_") {
        rest = &rest[i + 5..];
        let Some((name, after)) = rest.split_once('=') else { break };
        let after = after.trim_start();
        let Some(after) = after.strip_prefix('"') else { continue };
        let Some((pw, tail)) = after.split_once('"') else { break };
        out.push((name.trim().to_string(), pw.to_string()));
        rest = tail;
    }
    out
}

fn read_hostname() -> Option<String> {
    std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_string())
}

struct Reader<'a> {
    file: &'a str,
    entries: &'a BTreeMap<String, Entry>,
}

impl Reader<'_> {
    fn invalid(&self, key: &str, reason: &str) -> ConfigError {
        let (value, line) = self.entries.get(key).map(|e| (e.value.clone(), e.line)).unwrap_or_default();
        ConfigError::Invalid { file: self.file.into(), line, key: key.into(), value, reason: reason.into() }
    }
    fn string(&self, key: &str, default: &str) -> String {
        self.entries.get(key).map(|e| e.value.clone()).unwrap_or_else(|| default.to_string())
    }
    fn long(&self, key: &str, default: i64) -> Result<i64, ConfigError> {
        match self.entries.get(key) {
            None => Ok(default),
            Some(e) => e.value.parse::<i64>().map_err(|_| self.invalid(key, "not a number")),
        }
    }
    fn int(&self, key: &str, default: i32) -> Result<i32, ConfigError> {
        let v = self.long(key, default as i64)?;
        i32::try_from(v).map_err(|_| self.invalid(key, "out of range"))
    }
    fn positive(&self, key: &str, default: i64) -> Result<i64, ConfigError> {
        let v = self.long(key, default)?;
        if v <= 0 || (key.ends_with("factor") && v > i16::MAX as i64) || v > i32::MAX as i64 {
            return Err(self.invalid(key, "must be a positive number"));
        }
        Ok(v)
    }
    fn boolean(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.entries.get(key).map(|e| e.value.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            Some(_) => Err(self.invalid(key, "expected true or false")),
        }
    }
    fn listeners(&self, key: &str, default: &str, expand: &dyn Fn(&str) -> String) -> Result<Vec<Listener>, ConfigError> {
        let raw = expand(&self.string(key, default));
        let mut out: Vec<Listener> = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let l = Listener::parse(part).map_err(|e| self.invalid(key, &e))?;
            if out.iter().any(|o| o.name == l.name) {
                return Err(self.invalid(key, &format!("listener name {} appears twice", l.name)));
            }
            out.push(l);
        }
        if out.is_empty() {
            return Err(self.invalid(key, "no listener given"));
        }
        Ok(out)
    }
}

/// Java properties: returns key → (value, line).
fn parse_properties(text: &str) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let mut l = line.trim_start().to_string();
        if l.is_empty() || l.starts_with('#') || l.starts_with('!') {
            continue;
        }
        while l.ends_with('\\') && !l.ends_with("\\\\") {
            l.pop();
            match lines.next() {
                Some((_, next)) => l.push_str(next.trim_start()),
                None => break,
            }
        }
        let sep = l.find(['=', ':']).unwrap_or(l.len());
        let key = l[..sep].trim().to_string();
        let value = if sep < l.len() { l[sep + 1..].trim().to_string() } else { String::new() };
        out.insert(key, Entry { value, line: i + 1 });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "broker.id=0\nlisteners=PLAINTEXT://192.168.1.10:9092\nnum.network.threads=3\nnum.io.threads=8\nsocket.send.buffer.bytes=102400\nsocket.receive.buffer.bytes=102400\nsocket.request.max.bytes=104857600\nlog.dirs=/usr/local/kafka/logs\nnum.partitions=1\nnum.recovery.threads.per.data.dir=1\noffsets.topic.replication.factor=1\ntransaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\nlog.retention.hours=168\nlog.segment.bytes=1073741824\nlog.retention.check.interval.ms=300000\nzookeeper.connect=192.168.1.10:2181,192.168.1.11:2181,192.168.1.12:2181\nzookeeper.connection.timeout.ms=18000\ngroup.initial.rebalance.delay.ms=0\ndelete.topic.enable=true\n";

    #[test]
    fn reads_the_seed_file() {
        let c = BrokerConfig::parse(SEED, "server.properties", &[]).unwrap();
        assert_eq!(c.broker_id, 0);
        assert_eq!(c.listeners, vec![Listener { name: "PLAINTEXT".into(), host: "192.168.1.10".into(), port: 9092 }]);
        assert_eq!(c.advertised_listeners, c.listeners);
        assert_eq!(c.log.retention_ms, 168 * 3_600_000);
        assert_eq!(c.log.segment_bytes, 1 << 30);
        assert_eq!(c.offsets_topic_replication_factor, 1);
        assert_eq!(c.zookeeper_connect, "192.168.1.10:2181,192.168.1.11:2181,192.168.1.12:2181");
        assert!(c.delete_topic_enable);
    }

    #[test]
    fn invalid_values_name_file_line_and_key() {
        let err = BrokerConfig::parse("broker.id=0\nzookeeper.connect=a:1\nnum.partitions=three\n", "s.p", &[]).unwrap_err();
        assert_eq!(err.to_string(), "s.p:3: invalid value \"three\" for num.partitions: not a number");
        let err = BrokerConfig::parse("broker.id=0\nzookeeper.connect=a:1\nlisteners=PLAINTEXT://h:x\n", "s.p", &[]).unwrap_err();
        assert!(err.to_string().contains("listeners"), "{err}");
        let err = BrokerConfig::parse("broker.id=0\n", "s.p", &[]).unwrap_err();
        assert_eq!(err.to_string(), "s.p: zookeeper.connect is required");
        let err = BrokerConfig::parse("broker.id=0\nzookeeper.connect=a:1\ndelete.topic.enable=yes\n", "s.p", &[]).unwrap_err();
        assert!(err.to_string().contains("delete.topic.enable"), "{err}");
    }

    #[test]
    fn overrides_win_and_continuations_join() {
        let c = BrokerConfig::parse(
            "broker.id=0\nzookeeper.connect=a:1,\\\n  b:2\nlog.retention.ms=1000\n",
            "s.p",
            &["broker.id=7".into(), "listeners=PLAINTEXT://127.0.0.1:19092".into()],
        )
        .unwrap();
        assert_eq!(c.broker_id, 7);
        assert_eq!(c.zookeeper_connect, "a:1,b:2");
        assert_eq!(c.log.retention_ms, 1000);
        assert_eq!(c.listeners[0].port, 19092);
    }

    #[test]
    fn jaas_users() {
        let users = parse_jaas_users(r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="a" user_admin="a" user_alice="s3cret";"#);
        assert_eq!(users, vec![("admin".into(), "a".into()), ("alice".into(), "s3cret".into())]);
    }
}
