//! Produce: batches validated (CRC, size, magic) and stored as sent, offsets assigned by
//! rewriting batch headers; idempotent producers deduplicated per partition.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::*;
use kafka_protocol::messages::*;

use super::{s, Conn};
use crate::broker::Broker;
use crate::log::batch::{self, BatchError};
use crate::log::partition::AppendError;

pub async fn handle(b: &Broker, _c: &mut Conn, req: ProduceRequest, _h: &RequestHeader) -> Option<ProduceResponse> {
    let acks = req.acks;
    let mut resp = ProduceResponse::default();
    let mut appended = false;
    for t in req.topic_data {
        let name = t.name.0.to_string();
        let mut tr = TopicProduceResponse::default().with_name(t.name.clone());
        for p in t.partition_data {
            let mut pr = PartitionProduceResponse::default().with_index(p.index).with_base_offset(-1).with_log_append_time_ms(-1).with_log_start_offset(-1);
            let outcome = if !matches!(acks, -1..=1) {
                Err((ResponseError::InvalidRequiredAcks.code(), format!("acks={acks} is not one of -1, 0, 1")))
            } else if req.transactional_id.is_some() {
                Err((ResponseError::TransactionalIdAuthorizationFailed.code(), "transactions are not supported by this broker".to_string()))
            } else {
                append(b, &name, p.index, p.records, acks)
            };
            match outcome {
                Ok((base, lat, start)) => {
                    appended = true;
                    pr = pr.with_base_offset(base).with_log_append_time_ms(lat).with_log_start_offset(start);
                }
                Err((code, msg)) => {
                    tracing::debug!(topic = %name, partition = p.index, code, msg, "produce refused");
                    pr = pr.with_error_code(code).with_error_message(Some(s(msg)));
                }
            }
            tr.partition_responses.push(pr);
        }
        resp.responses.push(tr);
    }
    if appended {
        b.logs.notify_appended();
    }
    (acks != 0).then_some(resp)
}

fn append(b: &Broker, topic: &str, partition: i32, records: Option<bytes::Bytes>, acks: i16) -> Result<(i64, i64, i64), (i16, String)> {
    let (log, epoch) = b.leader_log(topic, partition).map_err(|c| (c, format!("this broker cannot take writes for {topic}-{partition}")))?;
    let data = records.filter(|r| !r.is_empty()).ok_or((ResponseError::CorruptMessage.code(), "no records".to_string()))?;
    let max = log.lock().expect("log lock").config.max_message_bytes.max(0) as usize;
    let batches = batch::split_batches(&data, max).map_err(|e| {
        let code = match e {
            BatchError::TooLarge { .. } => ResponseError::MessageTooLarge.code(),
            BatchError::Magic(_) => ResponseError::UnsupportedForMessageFormat.code(),
            _ => ResponseError::CorruptMessage.code(),
        };
        (code, e.to_string())
    })?;
    if acks == -1 {
        let snap = b.snapshot();
        let isr = snap.topics.get(topic).and_then(|t| t.partitions.get(partition as usize)).map_or(0, |p| p.isr.len());
        let min = log.lock().expect("log lock").config.min_insync_replicas;
        if (isr as i32) < min {
            return Err((ResponseError::NotEnoughReplicas.code(), format!("{isr} in-sync replicas, min.insync.replicas={min}")));
        }
    }
    let mut l = log.lock().expect("log lock");
    match l.append(data.to_vec(), &batches, epoch) {
        Ok(a) => Ok((a.base_offset, a.log_append_time, l.log_start_offset)),
        Err(e @ AppendError::OutOfOrder { .. }) => Err((ResponseError::OutOfOrderSequenceNumber.code(), e.to_string())),
        Err(e @ AppendError::Fenced { .. }) => Err((ResponseError::InvalidProducerEpoch.code(), e.to_string())),
        Err(e @ AppendError::Storage(_)) => {
            tracing::error!(topic, partition, error = %e, "append failed");
            Err((ResponseError::KafkaStorageError.code(), e.to_string()))
        }
    }
}
