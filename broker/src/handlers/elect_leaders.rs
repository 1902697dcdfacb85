//! ElectLeaders (kafka-leader-election.sh, AdminClient.elect_leaders): preferred leader
//! election, done by the controller; other brokers answer NOT_CONTROLLER so the client asks it.
//! Unclean elections on request are not offered (INVALID_REQUEST).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::elect_leaders_response::*;
use kafka_protocol::messages::*;

use super::{s, topic_name, Conn};
use crate::broker::Broker;

pub async fn handle(b: &Broker, _c: &mut Conn, req: ElectLeadersRequest, _h: &RequestHeader) -> Option<ElectLeadersResponse> {
    let mut resp = ElectLeadersResponse::default();
    let wanted: Option<Vec<(String, i32)>> = req.topic_partitions.as_ref().map(|ts| ts.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.topic.0.to_string(), *p))).collect());
    let fail_all = |resp: &mut ElectLeadersResponse, code: i16, msg: &str| {
        resp.error_code = code;
        for (t, p) in wanted.iter().flatten() {
            push(resp, t, *p, code, Some(msg));
        }
    };
    if req.election_type != 0 {
        fail_all(&mut resp, ResponseError::InvalidRequest.code(), "only preferred leader elections are offered");
        return Some(resp);
    }
    match b.cluster.elect_preferred(wanted.as_deref(), false).await {
        Ok(results) => {
            for (t, p, code) in results {
                // Asked for everything: Kafka lists only the partitions it acted on.
                if wanted.is_none() && code != 0 {
                    continue;
                }
                push(&mut resp, &t, p, code, None);
            }
        }
        Err(crate::cluster::zk::ClusterError::Refused(_)) => fail_all(&mut resp, ResponseError::NotController.code(), "not the controller"),
        Err(e) => fail_all(&mut resp, ResponseError::UnknownServerError.code(), &e.to_string()),
    }
    Some(resp)
}

fn push(resp: &mut ElectLeadersResponse, topic: &str, partition: i32, code: i16, msg: Option<&str>) {
    let r = PartitionResult::default().with_partition_id(partition).with_error_code(code).with_error_message(msg.map(s));
    match resp.replica_election_results.iter_mut().find(|x| x.topic.0.as_str() == topic) {
        Some(x) => x.partition_result.push(r),
        None => resp.replica_election_results.push(ReplicaElectionResult::default().with_topic(topic_name(topic)).with_partition_result(vec![r])),
    }
}
