//! One module per Kafka API. The router below matches the API key and nothing else; the served
//! versions come from `wire::versions`, and a test checks both list the same keys.

mod api_versions;
mod configs;
mod create_partitions;
mod create_topics;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_cluster;
mod describe_groups;
mod elect_leaders;
mod fetch;
mod find_coordinator;
mod heartbeat;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod metadata;
mod offset_commit;
mod offset_fetch;
pub(crate) mod offset_for_leader_epoch;
mod produce;
mod reassignments;
mod sasl;
mod sync_group;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::wire;

/// Per-connection facts handlers need.
pub struct Conn {
    /// The listener the client connected through (Metadata answers with its endpoints).
    pub listener: String,
    pub client_host: String,
    /// False until SASL succeeds on a SASL_PLAINTEXT listener.
    pub authenticated: bool,
    pub sasl_mechanism: Option<String>,
    pub sasl_user: Option<String>,
}

/// What the connection does after a request.
pub enum Reply {
    Frame(Bytes),
    /// acks=0 produce: nothing goes back.
    Nothing,
    Close(String),
}

pub fn s(v: impl Into<String>) -> StrBytes {
    StrBytes::from_string(v.into())
}

pub fn topic_name(v: impl Into<String>) -> TopicName {
    TopicName(s(v))
}

fn respond<R: kafka_protocol::protocol::Encodable + kafka_protocol::protocol::HeaderVersion>(header: &RequestHeader, key: ApiKey, resp: &R) -> Reply {
    match wire::encode_response(header.correlation_id, key, header.request_api_version, resp) {
        Ok(b) => Reply::Frame(b),
        Err(e) => Reply::Close(format!("failed to encode {key:?} v{} response: {e}", header.request_api_version)),
    }
}

macro_rules! routes {
    ($( $key:ident => $req:ty, $handler:path ),* $(,)?) => {
        /// Keys with a handler.
        pub fn handled(key: ApiKey) -> bool {
            matches!(key, $(ApiKey::$key)|*)
        }

        /// Decodes a request body without handling it (for the fuzz target).
        pub fn decode_only(key: ApiKey, version: i16, body: Bytes) -> Result<(), String> {
            match key {
                $(ApiKey::$key => wire::decode::<$req>(body, version).map(|_| ()),)*
                _ => Ok(()),
            }
        }

        pub async fn dispatch(b: &Broker, c: &mut Conn, header: &RequestHeader, key: ApiKey, body: Bytes) -> Reply {
            let v = header.request_api_version;
            if !c.authenticated && !matches!(key, ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate) {
                return Reply::Close(format!("{key:?} before SASL authentication"));
            }
            if key == ApiKey::ApiVersions && wire::versions::served(key).is_some_and(|r| v > r.max) {
                return api_versions::too_new(header);
            }
            match key {
                $(ApiKey::$key => {
                    let req: $req = match wire::decode(body, v) {
                        Ok(r) => r,
                        Err(e) => return Reply::Close(format!("malformed {key:?} v{v} request: {e}")),
                    };
                    match $handler(b, c, req, header).await {
                        Some(resp) => respond(header, key, &resp),
                        None => Reply::Nothing,
                    }
                })*
                _ => Reply::Frame(wire::unsupported_response(header.correlation_id)),
            }
        }
    };
}

routes! {
    ApiVersions => ApiVersionsRequest, api_versions::handle,
    Metadata => MetadataRequest, metadata::handle,
    Produce => ProduceRequest, produce::handle,
    Fetch => FetchRequest, fetch::handle,
    ListOffsets => ListOffsetsRequest, list_offsets::handle,
    CreateTopics => CreateTopicsRequest, create_topics::handle,
    DeleteTopics => DeleteTopicsRequest, delete_topics::handle,
    CreatePartitions => CreatePartitionsRequest, create_partitions::handle,
    DescribeConfigs => DescribeConfigsRequest, configs::describe,
    AlterConfigs => AlterConfigsRequest, configs::alter,
    IncrementalAlterConfigs => IncrementalAlterConfigsRequest, configs::incremental,
    DescribeCluster => DescribeClusterRequest, describe_cluster::handle,
    DeleteRecords => DeleteRecordsRequest, delete_records::handle,
    InitProducerId => InitProducerIdRequest, init_producer_id::handle,
    FindCoordinator => FindCoordinatorRequest, find_coordinator::handle,
    JoinGroup => JoinGroupRequest, join_group::handle,
    SyncGroup => SyncGroupRequest, sync_group::handle,
    Heartbeat => HeartbeatRequest, heartbeat::handle,
    LeaveGroup => LeaveGroupRequest, leave_group::handle,
    OffsetCommit => OffsetCommitRequest, offset_commit::handle,
    OffsetFetch => OffsetFetchRequest, offset_fetch::handle,
    ListGroups => ListGroupsRequest, list_groups::handle,
    DescribeGroups => DescribeGroupsRequest, describe_groups::handle,
    DeleteGroups => DeleteGroupsRequest, delete_groups::handle,
    SaslHandshake => SaslHandshakeRequest, sasl::handshake,
    SaslAuthenticate => SaslAuthenticateRequest, sasl::authenticate,
    OffsetForLeaderEpoch => OffsetForLeaderEpochRequest, offset_for_leader_epoch::handle,
    ElectLeaders => ElectLeadersRequest, elect_leaders::handle,
    AlterPartitionReassignments => AlterPartitionReassignmentsRequest, reassignments::alter,
    ListPartitionReassignments => ListPartitionReassignmentsRequest, reassignments::list,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_advertised_key_has_a_handler_and_back() {
        for (k, _, _) in wire::versions::KAFKA_3_9 {
            assert!(handled(*k), "{k:?} is advertised but not handled");
        }
        for k in 0..100i16 {
            if let Ok(key) = ApiKey::try_from(k) {
                if handled(key) {
                    assert!(wire::versions::served(key).is_some(), "{key:?} is handled but not advertised");
                }
            }
        }
    }
}
