//! ListGroups: the groups this broker coordinates (clients ask every broker).

use kafka_protocol::messages::list_groups_response::*;
use kafka_protocol::messages::*;

use super::{s, Conn};
use crate::broker::Broker;

pub async fn handle(b: &Broker, _c: &mut Conn, req: ListGroupsRequest, _h: &RequestHeader) -> Option<ListGroupsResponse> {
    let states: Vec<String> = req.states_filter.iter().map(|x| x.to_lowercase()).collect();
    let groups = b
        .groups
        .list()
        .into_iter()
        .filter(|(_, _, st)| states.is_empty() || states.contains(&st.to_lowercase()))
        .map(|(g, pt, st)| ListedGroup::default().with_group_id(GroupId(s(g))).with_protocol_type(s(pt)).with_group_state(s(st)).with_group_type(s("classic")))
        .collect();
    Some(ListGroupsResponse::default().with_groups(groups))
}
