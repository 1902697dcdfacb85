//! FindCoordinator: the leader of the group's `__consumer_offsets` partition (created on first use).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::*;
use kafka_protocol::messages::*;

use super::{s, Conn};
use crate::broker::{Broker, OFFSETS_TOPIC};

async fn locate(b: &Broker, c: &Conn, key: &str, key_type: i8) -> Result<(i32, String, i32), (i16, String)> {
    if key_type != 0 {
        return Err((ResponseError::TransactionalIdAuthorizationFailed.code(), "transactions are not supported by this broker".into()));
    }
    b.ensure_offsets_topic().await.map_err(|code| (code, format!("{OFFSETS_TOPIC} is not available (offsets.topic.replication.factor={} needs as many live brokers)", b.config.offsets_topic_replication_factor)))?;
    let snap = b.snapshot();
    let p = b.groups.partition_for(key);
    let leader = snap.live_leader(OFFSETS_TOPIC, p).ok_or((ResponseError::CoordinatorNotAvailable.code(), "the coordinator has no live leader".to_string()))?;
    let reg = snap.brokers.get(&leader).ok_or((ResponseError::CoordinatorNotAvailable.code(), "the coordinator is not registered".to_string()))?;
    let (host, port) = reg.endpoint(&c.listener).or_else(|| reg.host.clone().map(|h| (h, reg.port))).ok_or((ResponseError::CoordinatorNotAvailable.code(), "no endpoint".to_string()))?;
    Ok((leader, host, port))
}

pub async fn handle(b: &Broker, c: &mut Conn, req: FindCoordinatorRequest, h: &RequestHeader) -> Option<FindCoordinatorResponse> {
    let mut resp = FindCoordinatorResponse::default();
    if h.request_api_version >= 4 {
        for key in &req.coordinator_keys {
            let mut co = Coordinator::default().with_key(key.clone()).with_node_id(BrokerId(-1)).with_port(-1);
            match locate(b, c, key, req.key_type).await {
                Ok((id, host, port)) => co = co.with_node_id(BrokerId(id)).with_host(s(host)).with_port(port),
                Err((code, msg)) => co = co.with_error_code(code).with_error_message(Some(s(msg))),
            }
            resp.coordinators.push(co);
        }
        return Some(resp);
    }
    match locate(b, c, &req.key, req.key_type).await {
        Ok((id, host, port)) => resp = resp.with_node_id(BrokerId(id)).with_host(s(host)).with_port(port),
        Err((code, msg)) => resp = resp.with_error_code(code).with_error_message(Some(s(msg))).with_node_id(BrokerId(-1)).with_port(-1),
    }
    Some(resp)
}
