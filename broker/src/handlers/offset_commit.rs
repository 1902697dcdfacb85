//! OffsetCommit: stored in `__consumer_offsets`, acknowledged once the in-sync replicas have it.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::*;
use kafka_protocol::messages::*;

use super::Conn;
use crate::broker::Broker;

pub async fn handle(b: &Broker, _c: &mut Conn, req: OffsetCommitRequest, _h: &RequestHeader) -> Option<OffsetCommitResponse> {
    let snap = b.snapshot();
    let mut entries = Vec::new();
    let mut unknown = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            let exists = snap.topics.get(t.name.0.as_str()).is_some_and(|i| p.partition_index >= 0 && (p.partition_index as usize) < i.partitions.len());
            if exists {
                entries.push((t.name.0.to_string(), p.partition_index, p.committed_offset, p.committed_leader_epoch, p.committed_metadata.as_ref().map(|m| m.to_string()).unwrap_or_default()));
            } else {
                unknown.push((t.name.0.to_string(), p.partition_index));
            }
        }
    }
    let pending = b.groups.commit(b, &req.group_id.0, &req.member_id, req.generation_id_or_member_epoch, &entries);
    let mut codes = pending.codes;
    if let Some(w) = pending.wait {
        // Acknowledged once the in-sync replicas have it, as Kafka (offsets.commit.timeout.ms).
        let code = b.wait_replicated(&[w], std::time::Duration::from_secs(5)).await[0];
        if code == 0 {
            b.groups.commit_replicated(&req.group_id.0, pending.values);
        } else {
            // Kafka's mapping of append errors for offset commits.
            let mapped = if code == ResponseError::NotLeaderOrFollower.code() { ResponseError::NotCoordinator.code() } else { ResponseError::CoordinatorNotAvailable.code() };
            for c in codes.iter_mut().filter(|c| **c == 0) {
                *c = mapped;
            }
        }
    }
    let mut resp = OffsetCommitResponse::default();
    for t in &req.topics {
        let mut tr = OffsetCommitResponseTopic::default().with_name(t.name.clone());
        for p in &t.partitions {
            let code = if unknown.contains(&(t.name.0.to_string(), p.partition_index)) {
                ResponseError::UnknownTopicOrPartition.code()
            } else {
                let i = entries.iter().position(|e| e.0 == t.name.0.as_str() && e.1 == p.partition_index).expect("entry");
                codes[i]
            };
            tr.partitions.push(OffsetCommitResponsePartition::default().with_partition_index(p.partition_index).with_error_code(code));
        }
        resp.topics.push(tr);
    }
    Some(resp)
}
