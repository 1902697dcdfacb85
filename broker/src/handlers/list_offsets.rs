//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3), or by timestamp.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::*;
use kafka_protocol::messages::*;

use super::Conn;
use crate::broker::Broker;

pub async fn handle(b: &Broker, _c: &mut Conn, req: ListOffsetsRequest, h: &RequestHeader) -> Option<ListOffsetsResponse> {
    let mut resp = ListOffsetsResponse::default();
    for t in req.topics {
        let name = t.name.0.to_string();
        let mut tr = ListOffsetsTopicResponse::default().with_name(t.name.clone());
        for p in t.partitions {
            let mut pr = ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index).with_timestamp(-1).with_offset(-1).with_leader_epoch(-1);
            // The debugging replica id (-2) may ask any replica, and sees its whole log
            // (Kafka's kafka-get-offsets/replica verification); consumers ask the leader.
            let debug = req.replica_id.0 == -2;
            let log = if debug { b.replica_log(&name, p.partition_index) } else { b.leader_log(&name, p.partition_index) };
            match log {
                Err(code) => pr = pr.with_error_code(code),
                Ok((log, epoch)) => {
                    let l = log.lock().expect("log lock");
                    let found = match p.timestamp {
                        -2 => Ok(Some((l.log_start_offset, -1))),
                        -1 if debug => Ok(Some((l.next_offset, -1))),
                        -1 => Ok(Some((l.high_watermark, -1))),
                        -3 => l.max_timestamp(),
                        ts if ts >= 0 => l.offset_for_timestamp(ts),
                        _ => Ok(None),
                    };
                    match found {
                        Ok(Some((o, ts))) => {
                            pr = pr.with_offset(o).with_timestamp(ts);
                            if h.request_api_version >= 4 {
                                pr = pr.with_leader_epoch(epoch);
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::error!(partition = %l.tp, error = %e, "offset lookup failed");
                            pr = pr.with_error_code(ResponseError::KafkaStorageError.code());
                        }
                    }
                }
            }
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    Some(resp)
}
