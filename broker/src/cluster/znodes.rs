//! Kafka's ZooKeeper layout (ZkData.scala): paths and the JSON each znode holds. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const BROKER_IDS: &str = "/brokers/ids";
pub const TOPICS: &str = "/brokers/topics";
pub const CONFIG_TOPICS: &str = "/config/topics";
pub const CONTROLLER: &str = "/controller";
pub const CONTROLLER_EPOCH: &str = "/controller_epoch";
pub const CLUSTER_ID: &str = "/cluster/id";
pub const PRODUCER_ID_BLOCK: &str = "/latest_producer_id_block";
/// Strom's own (Kafka's ZooKeeper mode used the ControlledShutdown API instead, which Kafka 4's
/// protocol dropped): an ephemeral `<id>` child, holding the broker's registration timestamp,
/// asks the controller to move leadership off a broker that is shutting down.
pub const SHUTTING_DOWN: &str = "/strom/shutting_down";

/// Persistent paths a Kafka cluster creates at start.
pub const PERSISTENT_PATHS: &[&str] = &[
    "/brokers/ids",
    "/brokers/topics",
    "/brokers/seqid",
    "/config/topics",
    "/config/changes",
    "/config/clients",
    "/config/users",
    "/config/brokers",
    "/admin/delete_topics",
    "/isr_change_notification",
    "/log_dir_event_notification",
    "/latest_producer_id_block",
    "/config/ips",
    "/consumers",
    "/cluster",
    "/strom",
    SHUTTING_DOWN,
];

pub const FEATURE: &str = "/feature";
/// `/feature` as a Kafka 3.9 broker in ZooKeeper mode writes it.
pub const FEATURE_JSON: &str = r#"{"features":{},"version":2,"status":1}"#;
pub const CONFIG_CHANGES: &str = "/config/changes";

pub fn broker_path(id: i32) -> String {
    format!("{BROKER_IDS}/{id}")
}
pub fn topic_path(t: &str) -> String {
    format!("{TOPICS}/{t}")
}
pub fn partitions_path(t: &str) -> String {
    format!("{TOPICS}/{t}/partitions")
}
pub fn partition_path(t: &str, p: i32) -> String {
    format!("{TOPICS}/{t}/partitions/{p}")
}
pub fn state_path(t: &str, p: i32) -> String {
    format!("{TOPICS}/{t}/partitions/{p}/state")
}
pub fn config_path(t: &str) -> String {
    format!("{CONFIG_TOPICS}/{t}")
}

/// `/brokers/ids/<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    #[serde(default)]
    pub features: BTreeMap<String, Value>,
    pub listener_security_protocol_map: BTreeMap<String, String>,
    pub endpoints: Vec<String>,
    pub jmx_port: i32,
    pub port: i32,
    pub host: Option<String>,
    pub version: i32,
    pub timestamp: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rack: Option<String>,
}

impl BrokerRegistration {
    /// The (host, port) of the named listener's endpoint.
    pub fn endpoint(&self, listener: &str) -> Option<(String, i32)> {
        self.endpoints.iter().find_map(|e| {
            let l = crate::config::Listener::parse(e).ok()?;
            (l.name == listener).then_some((l.host, l.port as i32))
        })
    }
}

/// `/brokers/topics/<t>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicAssignment {
    pub partitions: BTreeMap<String, Vec<i32>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub topic_id: Option<String>,
    #[serde(default)]
    pub adding_replicas: BTreeMap<String, Vec<i32>>,
    #[serde(default)]
    pub removing_replicas: BTreeMap<String, Vec<i32>>,
    pub version: i32,
}

impl TopicAssignment {
    pub fn new(replicas: &[Vec<i32>], topic_id: String) -> Self {
        TopicAssignment {
            partitions: replicas.iter().enumerate().map(|(p, r)| (p.to_string(), r.clone())).collect(),
            topic_id: Some(topic_id),
            adding_replicas: BTreeMap::new(),
            removing_replicas: BTreeMap::new(),
            version: 3,
        }
    }
    /// Replicas by partition number, in order.
    pub fn replicas(&self) -> Vec<(i32, Vec<i32>)> {
        let mut v: Vec<(i32, Vec<i32>)> = self.partitions.iter().filter_map(|(p, r)| Some((p.parse().ok()?, r.clone()))).collect();
        v.sort_by_key(|(p, _)| *p);
        v
    }
}

/// `/brokers/topics/<t>/partitions/<p>/state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    pub controller_epoch: i32,
    pub leader: i32,
    pub version: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
}

/// `/config/topics/<t>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct EntityConfig {
    pub version: i32,
    pub config: BTreeMap<String, String>,
}

/// `/controller`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControllerRecord {
    pub version: i32,
    pub brokerid: i32,
    pub timestamp: String,
    #[serde(rename = "kraftControllerEpoch", default = "minus_one")]
    pub kraft_controller_epoch: i32,
}

fn minus_one() -> i32 {
    -1
}

/// `/config/changes/config_change_<seq>`: tells brokers an entity's config changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigChange {
    pub version: i32,
    pub entity_path: String,
}

/// `/cluster/id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterId {
    pub version: String,
    pub id: String,
}

/// `/latest_producer_id_block`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProducerIdBlock {
    pub version: i32,
    pub broker: i32,
    pub block_start: String,
    pub block_end: String,
}

/// Kafka's topic name rule: 1..249 chars of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(t: &str) -> Result<(), String> {
    if t.is_empty() {
        return Err("topic name is empty".into());
    }
    if t == "." || t == ".." {
        return Err(format!("topic name {t:?} is not allowed"));
    }
    if t.len() > 249 {
        return Err(format!("topic name is {} characters long, the maximum is 249", t.len()));
    }
    if let Some(c) = t.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(format!("topic name {t:?} contains {c:?}: only ASCII letters, digits, '.', '_' and '-' are allowed"));
    }
    Ok(())
}

/// Places `partitions` × `rf` replicas over `brokers` (sorted ids) round-robin from `start`,
/// leaders spread evenly and each replica set on distinct brokers, as Kafka's rack-unaware
/// assignment does (`shift` varies follower placement).
pub fn assign_replicas(brokers: &[i32], partitions: i32, rf: i16, start: usize, first_partition: i32) -> Result<Vec<Vec<i32>>, String> {
    assign_replicas_racks(brokers, &BTreeMap::new(), partitions, rf, start, first_partition)
}

/// As `assign_replicas`, rack-aware when brokers have a `broker.rack` (Kafka's rule): brokers
/// are taken alternating between racks, and each replica set covers as many racks as it can.
/// Some brokers with a rack and some without is refused, as Kafka does.
pub fn assign_replicas_racks(brokers: &[i32], racks: &BTreeMap<i32, String>, partitions: i32, rf: i16, start: usize, first_partition: i32) -> Result<Vec<Vec<i32>>, String> {
    let n = brokers.len();
    if rf < 1 {
        return Err(format!("replication factor must be at least 1, not {rf}"));
    }
    if rf as usize > n {
        return Err(format!("replication factor {rf} is larger than the {n} available brokers"));
    }
    let with_rack = brokers.iter().filter(|b| racks.contains_key(b)).count();
    if with_rack != 0 && with_rack != n {
        return Err("some brokers have a broker.rack and some do not: give every broker one".into());
    }
    // Rack-alternated order: one broker of each rack in turn.
    let order: Vec<i32> = if with_rack == 0 {
        brokers.to_vec()
    } else {
        let mut by_rack: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for b in brokers {
            by_rack.entry(racks[b].as_str()).or_default().push(*b);
        }
        let mut out = Vec::with_capacity(n);
        let mut i = 0;
        while out.len() < n {
            for ids in by_rack.values() {
                if let Some(b) = ids.get(i) {
                    out.push(*b);
                }
            }
            i += 1;
        }
        out
    };
    let rack_count = racks.values().collect::<std::collections::BTreeSet<_>>().len();
    let mut out = Vec::new();
    for i in 0..partitions {
        let p = (first_partition + i) as usize;
        let first = (start + p) % n;
        let shift = 1 + (start + p / n) % (n.max(2) - 1);
        let mut set = vec![order[first]];
        for r in 1..rf as usize {
            let used: std::collections::BTreeSet<&String> = set.iter().filter_map(|b| racks.get(b)).collect();
            let fresh_rack = |b: i32| used.len() >= rack_count || racks.get(&b).is_none_or(|r| !used.contains(r));
            let mut idx = (first + shift * r) % n;
            let mut tries = 0;
            while set.contains(&order[idx]) || (tries < n && !fresh_rack(order[idx])) {
                idx = (idx + 1) % n;
                tries += 1;
            }
            set.push(order[idx]);
        }
        out.push(set);
    }
    Ok(out)
}

/// A random Kafka Uuid (16 bytes) as Kafka prints it: URL-safe base64 without padding.
pub fn random_uuid() -> ([u8; 16], String) {
    let bytes: [u8; 16] = rand::random();
    (bytes, uuid_to_string(&bytes))
}

pub fn uuid_to_string(b: &[u8; 16]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    let mut bits: u32 = 0;
    let mut n = 0;
    for &x in b {
        bits = (bits << 8) | x as u32;
        n += 8;
        while n >= 6 {
            n -= 6;
            out.push(A[((bits >> n) & 63) as usize] as char);
        }
    }
    if n > 0 {
        out.push(A[((bits << (6 - n)) & 63) as usize] as char);
    }
    out
}

pub fn uuid_from_string(s: &str) -> Option<[u8; 16]> {
    let mut out = Vec::with_capacity(16);
    let mut bits: u32 = 0;
    let mut n = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        bits = (bits << 6) | v as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_json_shapes_round_trip() {
        let t: TopicAssignment = serde_json::from_str(r#"{"partitions":{"0":[1,2],"1":[2,0]},"topic_id":"bIv6qHMJSwiM5UQEsCmZ0A","adding_replicas":{},"removing_replicas":{},"version":3}"#).unwrap();
        assert_eq!(t.replicas(), vec![(0, vec![1, 2]), (1, vec![2, 0])]);
        // Kafka 2.x wrote version 1 without ids or reassignment maps.
        let old: TopicAssignment = serde_json::from_str(r#"{"version":1,"partitions":{"0":[0]}}"#).unwrap();
        assert_eq!(old.topic_id, None);
        let s: PartitionState = serde_json::from_str(r#"{"controller_epoch":1,"leader":0,"version":1,"leader_epoch":0,"isr":[0]}"#).unwrap();
        assert_eq!(s.isr, vec![0]);
        let b: BrokerRegistration = serde_json::from_str(r#"{"features":{},"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},"endpoints":["PLAINTEXT://127.0.0.1:9092"],"jmx_port":-1,"port":9092,"host":"127.0.0.1","version":5,"timestamp":"1700000000000"}"#).unwrap();
        assert_eq!(b.endpoint("PLAINTEXT"), Some(("127.0.0.1".into(), 9092)));
    }

    #[test]
    fn topic_names() {
        assert!(validate_topic_name("lzq").is_ok());
        assert!(validate_topic_name("__consumer_offsets").is_ok());
        assert!(validate_topic_name("a/b").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
    }

    #[test]
    fn assignment_spreads_leaders_and_keeps_replicas_distinct() {
        let a = assign_replicas(&[0, 1, 2], 6, 2, 0, 0).unwrap();
        for set in &a {
            assert_eq!(set.len(), 2);
            assert_ne!(set[0], set[1]);
        }
        let leaders: Vec<i32> = a.iter().map(|s| s[0]).collect();
        assert_eq!(leaders, vec![0, 1, 2, 0, 1, 2]);
        assert!(assign_replicas(&[0], 1, 2, 0, 0).is_err());
        assert_eq!(assign_replicas(&[5], 2, 1, 3, 0).unwrap(), vec![vec![5], vec![5]]);
    }

    #[test]
    fn rack_aware_assignment_covers_every_rack() {
        let racks: BTreeMap<i32, String> = [(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "c"), (6, "c")].into_iter().map(|(b, r)| (b, r.to_string())).collect();
        let a = assign_replicas_racks(&[1, 2, 3, 4, 5, 6], &racks, 12, 3, 0, 0).unwrap();
        for set in &a {
            let used: std::collections::BTreeSet<&String> = set.iter().map(|b| &racks[b]).collect();
            assert_eq!(used.len(), 3, "{set:?} spans {used:?}");
        }
        // leaders spread: every broker leads twice
        let mut leads = BTreeMap::new();
        for set in &a {
            *leads.entry(set[0]).or_insert(0) += 1;
        }
        assert!(leads.values().all(|n| *n == 2), "{leads:?}");
        // two racks, RF 3: both racks used, replicas distinct
        let two: BTreeMap<i32, String> = [(1, "a"), (2, "a"), (3, "b")].into_iter().map(|(b, r)| (b, r.to_string())).collect();
        for set in assign_replicas_racks(&[1, 2, 3], &two, 6, 2, 1, 0).unwrap() {
            assert_ne!(two[&set[0]], two[&set[1]], "{set:?}");
        }
        let some: BTreeMap<i32, String> = [(1, "a".to_string())].into();
        assert!(assign_replicas_racks(&[1, 2], &some, 1, 1, 0, 0).is_err());
    }

    #[test]
    fn uuid_strings_match_kafka() {
        let (b, s) = random_uuid();
        assert_eq!(s.len(), 22);
        assert_eq!(uuid_from_string(&s), Some(b));
        assert_eq!(uuid_to_string(&[0; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
    }
}
