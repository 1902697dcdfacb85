//! JoinGroup: blocks until the group's rebalance completes (or answers at once).

use kafka_protocol::messages::join_group_response::*;
use kafka_protocol::messages::*;

use super::{s, Conn};
use crate::broker::Broker;
use crate::group::state::JoinRequest;

pub async fn handle(b: &Broker, c: &mut Conn, req: JoinGroupRequest, h: &RequestHeader) -> Option<JoinGroupResponse> {
    let v = h.request_api_version;
    let group = req.group_id.0.to_string();
    let jr = JoinRequest {
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(|x| x.to_string()),
        client_id: h.client_id.as_ref().map(|x| x.to_string()).unwrap_or_default(),
        client_host: c.client_host.clone(),
        session_timeout_ms: req.session_timeout_ms as i64,
        // v0 has no rebalance timeout: it equals the session timeout.
        rebalance_timeout_ms: if v >= 1 { req.rebalance_timeout_ms as i64 } else { req.session_timeout_ms as i64 },
        protocol_type: req.protocol_type.to_string(),
        protocols: req.protocols.iter().map(|p| (p.name.to_string(), p.metadata.clone())).collect(),
        require_known_member_id: v >= 4,
    };
    let r = b.groups.join(&group, jr).await;
    Some(
        JoinGroupResponse::default()
            .with_error_code(r.error)
            .with_generation_id(r.generation)
            .with_protocol_type(r.protocol_type.map(s))
            .with_protocol_name(Some(s(r.protocol_name.unwrap_or_default())))
            .with_leader(s(r.leader))
            .with_member_id(s(r.member_id))
            .with_members(r.members.into_iter().map(|(id, inst, meta)| JoinGroupResponseMember::default().with_member_id(s(id)).with_group_instance_id(inst.map(s)).with_metadata(meta)).collect()),
    )
}
