//! AlterPartitionReassignments and ListPartitionReassignments (kafka-reassign-partitions.sh,
//! `stromctl partitions reassign`, `stromctl brokers drain`): done by the controller; other
//! brokers answer NOT_CONTROLLER so the client asks it.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::*;
use kafka_protocol::messages::list_partition_reassignments_response::*;
use kafka_protocol::messages::*;

use super::{s, topic_name, Conn};
use crate::broker::Broker;

pub async fn alter(b: &Broker, _c: &mut Conn, req: AlterPartitionReassignmentsRequest, _h: &RequestHeader) -> Option<AlterPartitionReassignmentsResponse> {
    let mut resp = AlterPartitionReassignmentsResponse::default().with_allow_replication_factor_change(req.allow_replication_factor_change);
    if b.snapshot().controller != b.id() {
        resp.error_code = ResponseError::NotController.code();
        resp.error_message = Some(s("this broker is not the controller"));
        return Some(resp);
    }
    for t in req.topics {
        let name = t.name.0.to_string();
        let wanted: Vec<(i32, Option<Vec<i32>>)> = t.partitions.iter().map(|p| (p.partition_index, p.replicas.as_ref().map(|r| r.iter().map(|x| x.0).collect()))).collect();
        let results = match b.cluster.reassign(&name, &wanted).await {
            Ok(r) => r,
            Err(e) => wanted.iter().map(|(p, _)| (*p, ResponseError::UnknownServerError.code(), Some(e.to_string()))).collect(),
        };
        let parts = results.into_iter().map(|(p, code, msg)| ReassignablePartitionResponse::default().with_partition_index(p).with_error_code(code).with_error_message(msg.map(s))).collect();
        resp.responses.push(ReassignableTopicResponse::default().with_name(topic_name(name)).with_partitions(parts));
    }
    Some(resp)
}

pub async fn list(b: &Broker, _c: &mut Conn, req: ListPartitionReassignmentsRequest, _h: &RequestHeader) -> Option<ListPartitionReassignmentsResponse> {
    let mut resp = ListPartitionReassignmentsResponse::default();
    let snap = b.snapshot();
    if snap.controller != b.id() {
        resp.error_code = ResponseError::NotController.code();
        resp.error_message = Some(s("this broker is not the controller"));
        return Some(resp);
    }
    let wanted: Option<Vec<(String, Vec<i32>)>> = req.topics.map(|ts| ts.into_iter().map(|t| (t.name.0.to_string(), t.partition_indexes)).collect());
    for t in snap.topics.values() {
        let only = match &wanted {
            Some(w) => match w.iter().find(|(n, _)| *n == t.name) {
                Some((_, ps)) => Some(ps),
                None => continue,
            },
            None => None,
        };
        let ids = |v: &[i32]| v.iter().map(|x| BrokerId(*x)).collect::<Vec<_>>();
        let parts: Vec<OngoingPartitionReassignment> = t
            .partitions
            .iter()
            .enumerate()
            .filter(|(i, p)| (!p.adding.is_empty() || !p.removing.is_empty()) && only.is_none_or(|ps| ps.contains(&(*i as i32))))
            .map(|(i, p)| OngoingPartitionReassignment::default().with_partition_index(i as i32).with_replicas(ids(&p.replicas)).with_adding_replicas(ids(&p.adding)).with_removing_replicas(ids(&p.removing)))
            .collect();
        if !parts.is_empty() {
            resp.topics.push(OngoingTopicReassignment::default().with_name(topic_name(t.name.clone())).with_partitions(parts));
        }
    }
    Some(resp)
}
