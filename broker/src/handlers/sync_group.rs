//! SyncGroup: the leader hands out assignments; followers wait for theirs.

use kafka_protocol::messages::*;

use super::{s, Conn};
use crate::broker::Broker;

pub async fn handle(b: &Broker, _c: &mut Conn, req: SyncGroupRequest, _h: &RequestHeader) -> Option<SyncGroupResponse> {
    let assignments = req.assignments.iter().map(|a| (a.member_id.to_string(), a.assignment.clone())).collect();
    let r = b.groups.sync(&req.group_id.0, &req.member_id, req.generation_id, assignments).await;
    Some(SyncGroupResponse::default().with_error_code(r.error).with_protocol_type(r.protocol_type.map(s)).with_protocol_name(r.protocol_name.map(s)).with_assignment(r.assignment))
}
