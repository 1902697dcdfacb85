//! DeleteGroups: empty groups only; their committed offsets get tombstones.

use kafka_protocol::messages::delete_groups_response::*;
use kafka_protocol::messages::*;

use super::Conn;
use crate::broker::Broker;

pub async fn handle(b: &Broker, _c: &mut Conn, req: DeleteGroupsRequest, _h: &RequestHeader) -> Option<DeleteGroupsResponse> {
    let results = req.groups_names.into_iter().map(|g| {
        let code = b.groups.delete(b, &g.0);
        DeletableGroupResult::default().with_group_id(g).with_error_code(code)
    });
    Some(DeleteGroupsResponse::default().with_results(results.collect()))
}
