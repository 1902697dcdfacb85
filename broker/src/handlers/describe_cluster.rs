//! DescribeCluster: cluster id, controller and live brokers.

use kafka_protocol::messages::describe_cluster_response::*;
use kafka_protocol::messages::*;

use super::{s, Conn};
use crate::broker::Broker;

pub async fn handle(b: &Broker, c: &mut Conn, _req: DescribeClusterRequest, _h: &RequestHeader) -> Option<DescribeClusterResponse> {
    let snap = b.snapshot();
    let brokers = super::metadata::brokers(&snap, &c.listener)
        .into_iter()
        .map(|m| DescribeClusterBroker::default().with_broker_id(m.node_id).with_host(m.host).with_port(m.port).with_rack(m.rack))
        .collect();
    Some(
        DescribeClusterResponse::default()
            .with_cluster_id(s(snap.cluster_id.clone()))
            .with_controller_id(BrokerId(snap.controller))
            .with_brokers(brokers),
    )
}
