//! CreatePartitions: grows a topic, placing new partitions over live brokers.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::*;
use kafka_protocol::messages::*;

use super::{s, Conn};
use crate::broker::Broker;
use crate::cluster::znodes::assign_replicas_racks;

pub async fn handle(b: &Broker, _c: &mut Conn, req: CreatePartitionsRequest, _h: &RequestHeader) -> Option<CreatePartitionsResponse> {
    let mut resp = CreatePartitionsResponse::default();
    for t in req.topics {
        let name = t.name.0.to_string();
        let mut r = CreatePartitionsTopicResult::default().with_name(t.name.clone());
        let outcome: Result<(), (i16, String)> = async {
            let snap = b.snapshot();
            let info = snap.topics.get(&name).ok_or((ResponseError::UnknownTopicOrPartition.code(), format!("topic {name} does not exist")))?;
            let have = info.partitions.len() as i32;
            if t.count <= have {
                return Err((ResponseError::InvalidPartitions.code(), format!("Topic currently has {have} partitions, which is higher than the requested {}.", t.count)));
            }
            let brokers = snap.live_broker_ids();
            let new: Vec<Vec<i32>> = match &t.assignments {
                Some(a) => {
                    if a.len() as i32 != t.count - have || a.iter().any(|x| x.broker_ids.is_empty() || x.broker_ids.iter().any(|id| !brokers.contains(&id.0))) {
                        return Err((ResponseError::InvalidReplicaAssignment.code(), "assignments must name live brokers for each new partition".into()));
                    }
                    a.iter().map(|x| x.broker_ids.iter().map(|i| i.0).collect()).collect()
                }
                None => {
                    let rf = info.partitions.first().map_or(1, |p| p.replicas.len()) as i16;
                    assign_replicas_racks(&brokers, &snap.racks(), t.count - have, rf, rand::random::<u32>() as usize % brokers.len().max(1), have).map_err(|e| (ResponseError::InvalidReplicationFactor.code(), e))?
                }
            };
            if req.validate_only {
                return Ok(());
            }
            b.cluster.add_partitions(&name, have as usize, &new).await.map_err(|e| (ResponseError::UnknownServerError.code(), e.to_string()))?;
            b.sync_with_cluster();
            Ok(())
        }
        .await;
        if let Err((c, m)) = outcome {
            r = r.with_error_code(c).with_error_message(Some(s(m)));
        }
        resp.results.push(r);
    }
    Some(resp)
}
