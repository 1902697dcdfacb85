//! Heartbeat: keeps a member's session; tells it when a rebalance began.

use kafka_protocol::messages::*;

use super::Conn;
use crate::broker::Broker;

pub async fn handle(b: &Broker, _c: &mut Conn, req: HeartbeatRequest, _h: &RequestHeader) -> Option<HeartbeatResponse> {
    Some(HeartbeatResponse::default().with_error_code(b.groups.heartbeat(&req.group_id.0, &req.member_id, req.generation_id)))
}
