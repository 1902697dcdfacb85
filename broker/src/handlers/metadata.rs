//! Metadata: live brokers (with the endpoint of the listener the client used), topics and
//! partitions with leaders, auto-creating requested topics when `auto.create.topics.enable`.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::*;
use kafka_protocol::messages::*;

use super::{s, topic_name, Conn};
use crate::broker::{Broker, OFFSETS_TOPIC};
use crate::cluster::metadata::Snapshot;
use crate::cluster::znodes::validate_topic_name;

pub async fn handle(b: &Broker, c: &mut Conn, req: MetadataRequest, h: &RequestHeader) -> Option<MetadataResponse> {
    let v = h.request_api_version;
    // v0: an empty list means all topics; v1+: null means all.
    let wanted: Option<Vec<String>> = match req.topics {
        None => None,
        Some(t) if t.is_empty() && v == 0 => None,
        Some(t) => Some(t.into_iter().filter_map(|t| t.name.map(|n| n.0.to_string())).collect()),
    };
    let auto = b.config.auto_create_topics_enable && (v < 4 || req.allow_auto_topic_creation);
    let mut create_errors = std::collections::BTreeMap::new();
    if let Some(names) = &wanted {
        if auto {
            for n in names {
                if b.snapshot().topics.contains_key(n) || validate_topic_name(n).is_err() {
                    continue;
                }
                if let Err(code) = super::create_topics::auto_create(b, n).await {
                    create_errors.insert(n.clone(), code);
                }
            }
        }
    }
    let snap = b.snapshot();
    let mut resp = MetadataResponse::default()
        .with_brokers(brokers(&snap, &c.listener))
        .with_cluster_id(Some(s(snap.cluster_id.clone())))
        .with_controller_id(BrokerId(if snap.brokers.contains_key(&snap.controller) { snap.controller } else { -1 }));
    let names: Vec<String> = wanted.unwrap_or_else(|| snap.topics.keys().cloned().collect());
    for n in names {
        resp.topics.push(topic(&snap, &n, create_errors.get(&n).copied()));
    }
    Some(resp)
}

pub fn brokers(snap: &Snapshot, listener: &str) -> Vec<MetadataResponseBroker> {
    snap.brokers
        .iter()
        .filter_map(|(id, reg)| {
            let (host, port) = reg.endpoint(listener).or_else(|| reg.host.clone().map(|h| (h, reg.port)))?;
            Some(MetadataResponseBroker::default().with_node_id(BrokerId(*id)).with_host(s(host)).with_port(port).with_rack(reg.rack.clone().map(s)))
        })
        .collect()
}

fn topic(snap: &Snapshot, name: &str, create_error: Option<i16>) -> MetadataResponseTopic {
    let base = MetadataResponseTopic::default().with_name(Some(topic_name(name))).with_is_internal(name == OFFSETS_TOPIC);
    let Some(t) = snap.topics.get(name) else {
        let code = match (create_error, validate_topic_name(name)) {
            (_, Err(_)) => ResponseError::InvalidTopicException.code(),
            (Some(c), _) => c,
            (None, _) => ResponseError::UnknownTopicOrPartition.code(),
        };
        return base.with_error_code(code);
    };
    let partitions = t
        .partitions
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let alive = |id: &i32| snap.brokers.contains_key(id);
            let leader_alive = p.leader >= 0 && alive(&p.leader);
            MetadataResponsePartition::default()
                .with_error_code(if leader_alive { 0 } else { ResponseError::LeaderNotAvailable.code() })
                .with_partition_index(i as i32)
                .with_leader_id(BrokerId(if leader_alive { p.leader } else { -1 }))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().map(|r| BrokerId(*r)).collect())
                .with_isr_nodes(p.isr.iter().filter(|r| alive(r)).map(|r| BrokerId(*r)).collect())
                .with_offline_replicas(p.replicas.iter().filter(|r| !alive(r)).map(|r| BrokerId(*r)).collect())
        })
        .collect();
    base.with_topic_id(uuid::Uuid::from_bytes(t.id)).with_partitions(partitions)
}
