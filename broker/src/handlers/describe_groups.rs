//! DescribeGroups: state, protocol and members with their assignments.

use kafka_protocol::messages::describe_groups_response::*;
use kafka_protocol::messages::*;

use super::{s, Conn};
use crate::broker::Broker;

pub async fn handle(b: &Broker, _c: &mut Conn, req: DescribeGroupsRequest, h: &RequestHeader) -> Option<DescribeGroupsResponse> {
    let mut resp = DescribeGroupsResponse::default();
    for g in req.groups {
        let mut out = DescribedGroup::default().with_group_id(g.clone());
        if h.request_api_version >= 3 {
            out = out.with_authorized_operations(i32::MIN);
        }
        match b.groups.describe(&g.0) {
            Err(code) => out = out.with_error_code(code),
            Ok(d) => {
                out = out.with_group_state(s(d.state)).with_protocol_type(s(d.protocol_type)).with_protocol_data(s(d.protocol));
                out.members = d
                    .members
                    .into_iter()
                    .map(|(id, inst, client, host, meta, assignment)| {
                        DescribedGroupMember::default().with_member_id(s(id)).with_group_instance_id(inst.map(s)).with_client_id(s(client)).with_client_host(s(host)).with_member_metadata(meta).with_member_assignment(assignment)
                    })
                    .collect();
            }
        }
        resp.groups.push(out);
    }
    Some(resp)
}
