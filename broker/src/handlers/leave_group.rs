//! LeaveGroup: one member (v0–2) or a batch of members by id or instance id (v3+).

use kafka_protocol::messages::leave_group_response::*;
use kafka_protocol::messages::*;

use super::Conn;
use crate::broker::Broker;

pub async fn handle(b: &Broker, _c: &mut Conn, req: LeaveGroupRequest, h: &RequestHeader) -> Option<LeaveGroupResponse> {
    let batch = h.request_api_version >= 3;
    let members: Vec<(String, Option<String>)> = if batch {
        req.members.iter().map(|m| (m.member_id.to_string(), m.group_instance_id.as_ref().map(|x| x.to_string()))).collect()
    } else {
        vec![(req.member_id.to_string(), None)]
    };
    let mut resp = LeaveGroupResponse::default();
    match b.groups.leave(&req.group_id.0, &members) {
        Err(code) => resp = resp.with_error_code(code),
        Ok(codes) if !batch => resp = resp.with_error_code(codes[0]),
        Ok(codes) => {
            resp.members = req.members.iter().zip(codes).map(|(m, c)| MemberResponse::default().with_member_id(m.member_id.clone()).with_group_instance_id(m.group_instance_id.clone()).with_error_code(c)).collect();
        }
    }
    Some(resp)
}
