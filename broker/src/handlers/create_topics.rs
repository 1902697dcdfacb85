//! CreateTopics (and Metadata's auto-creation): validation, replica placement over live brokers,
//! then one coordinator transaction per topic.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::*;
use kafka_protocol::messages::*;

use super::{s, Conn};
use crate::broker::Broker;
use crate::cluster::zk::ClusterError;
use crate::cluster::znodes::{assign_replicas_racks, validate_topic_name};
use crate::log::LogConfig;

type Refusal = (i16, String);

/// Checks a topic request and returns its replica sets (does not create anything).
pub fn plan(b: &Broker, name: &str, partitions: i32, rf: i16, assignments: &[(i32, Vec<i32>)], config: &BTreeMap<String, String>) -> Result<Vec<Vec<i32>>, Refusal> {
    validate_topic_name(name).map_err(|e| (ResponseError::InvalidTopicException.code(), e))?;
    let snap = b.snapshot();
    if snap.topics.contains_key(name) {
        return Err((ResponseError::TopicAlreadyExists.code(), format!("Topic '{name}' already exists.")));
    }
    LogConfig::resolve(&b.config.log, config).map_err(|e| (ResponseError::InvalidConfig.code(), e))?;
    let brokers = snap.live_broker_ids();
    if !assignments.is_empty() {
        let mut sets: Vec<(i32, Vec<i32>)> = assignments.to_vec();
        sets.sort_by_key(|(p, _)| *p);
        for (i, (p, set)) in sets.iter().enumerate() {
            if *p != i as i32 || set.is_empty() || set.iter().any(|r| !brokers.contains(r)) || set.iter().collect::<std::collections::BTreeSet<_>>().len() != set.len() {
                return Err((ResponseError::InvalidReplicaAssignment.code(), format!("invalid replica assignment for partition {p}: {set:?} (live brokers {brokers:?})")));
            }
        }
        return Ok(sets.into_iter().map(|(_, s)| s).collect());
    }
    let partitions = if partitions == -1 { b.config.num_partitions } else { partitions };
    let rf = if rf == -1 { b.config.default_replication_factor } else { rf };
    if partitions < 1 {
        return Err((ResponseError::InvalidPartitions.code(), format!("Number of partitions must be larger than 0, not {partitions}.")));
    }
    if rf < 1 {
        return Err((ResponseError::InvalidReplicationFactor.code(), format!("Replication factor must be larger than 0, not {rf}.")));
    }
    let start = rand::random::<u32>() as usize % brokers.len().max(1);
    assign_replicas_racks(&brokers, &snap.racks(), partitions, rf, start, 0).map_err(|e| if (rf as usize) > brokers.len() { (ResponseError::InvalidReplicationFactor.code(), format!("Replication factor: {rf} larger than available brokers: {}.", brokers.len())) } else { (ResponseError::InvalidReplicaAssignment.code(), e) })
}

pub async fn create(b: &Broker, name: &str, replicas: &[Vec<i32>], config: &BTreeMap<String, String>) -> Result<(), Refusal> {
    match b.cluster.create_topic(name, replicas, config).await {
        Ok(()) => {
            b.sync_with_cluster();
            Ok(())
        }
        Err(ClusterError::Refused(m)) => Err((ResponseError::TopicAlreadyExists.code(), m)),
        Err(e) => {
            tracing::error!(topic = name, error = %e, "topic creation failed");
            Err((ResponseError::UnknownServerError.code(), e.to_string()))
        }
    }
}

/// Metadata's auto-creation with `num.partitions` and `default.replication.factor`.
pub async fn auto_create(b: &Broker, name: &str) -> Result<(), i16> {
    let empty = BTreeMap::new();
    let replicas = plan(b, name, -1, -1, &[], &empty).map_err(|(c, m)| {
        tracing::warn!(topic = name, reason = %m, "auto-creation refused");
        c
    })?;
    match create(b, name, &replicas, &empty).await {
        Ok(()) => Ok(()),
        Err((c, _)) if c == ResponseError::TopicAlreadyExists.code() => Ok(()),
        Err((c, _)) => Err(c),
    }
}

pub async fn handle(b: &Broker, _c: &mut Conn, req: CreateTopicsRequest, h: &RequestHeader) -> Option<CreateTopicsResponse> {
    let mut resp = CreateTopicsResponse::default();
    for t in req.topics {
        let name = t.name.0.to_string();
        let config: BTreeMap<String, String> = t.configs.iter().filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string()))).collect();
        let assignments: Vec<(i32, Vec<i32>)> = t.assignments.iter().map(|a| (a.partition_index, a.broker_ids.iter().map(|x| x.0).collect())).collect();
        let mut r = CreatableTopicResult::default().with_name(t.name.clone()).with_num_partitions(-1).with_replication_factor(-1);
        let mut planned = plan(b, &name, t.num_partitions, t.replication_factor, &assignments, &config);
        if matches!(&planned, Err((c, _)) if *c == ResponseError::InvalidReplicationFactor.code() || *c == ResponseError::InvalidReplicaAssignment.code()) {
            // A broker that registered a moment ago may not be in our view yet: look again once.
            if b.cluster.reload().await.is_ok() {
                planned = plan(b, &name, t.num_partitions, t.replication_factor, &assignments, &config);
            }
        }
        let outcome = match planned {
            Ok(replicas) if req.validate_only => Ok(replicas),
            Ok(replicas) => create(b, &name, &replicas, &config).await.map(|_| replicas),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(replicas) => {
                r = r.with_num_partitions(replicas.len() as i32).with_replication_factor(replicas[0].len() as i16);
                if let Some(info) = b.snapshot().topics.get(&name) {
                    r = r.with_topic_id(uuid::Uuid::from_bytes(info.id));
                }
                let effective = b.log_config(&config);
                r.configs = (h.request_api_version >= 5).then(||
                    crate::log::TOPIC_KEYS
                        .iter()
                        .map(|(k, _)| CreatableTopicConfigs::default().with_name(s(*k)).with_value(Some(s(effective.value_of(k)))).with_config_source(if config.contains_key(*k) { 1 } else { 5 }))
                        .collect(),
                );
            }
            Err((code, msg)) => r = r.with_error_code(code).with_error_message(Some(s(msg))),
        }
        resp.topics.push(r);
    }
    Some(resp)
}
