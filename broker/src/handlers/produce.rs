//! Produce: batches validated (CRC, size, magic) and stored as sent, offsets assigned by
//! rewriting batch headers; idempotent producers deduplicated per partition.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::*;
use kafka_protocol::messages::*;

use super::{s, Conn};
use crate::broker::Broker;
use crate::log::batch::{self, BatchError};
use crate::log::partition::AppendError;
use crate::log::TopicPartition;

pub async fn handle(b: &Broker, _c: &mut Conn, req: ProduceRequest, _h: &RequestHeader) -> Option<ProduceResponse> {
    let acks = req.acks;
    let mut resp = ProduceResponse::default();
    let mut appended = false;
    // acks=-1: (topic index, partition index, partition, offset the high watermark must pass, leader epoch)
    let mut waits: Vec<(usize, usize, TopicPartition, i64, i32)> = Vec::new();
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
                Ok(a) => {
                    appended = true;
                    pr = pr.with_base_offset(a.base).with_log_append_time_ms(a.log_append_time).with_log_start_offset(a.log_start);
                    if acks == -1 && a.committed_at > a.hw {
                        waits.push((resp.responses.len(), tr.partition_responses.len(), TopicPartition::new(name.clone(), p.index), a.committed_at, a.epoch));
                    }
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
    if !waits.is_empty() {
        let timeout = std::time::Duration::from_millis(req.timeout_ms.clamp(0, 300_000) as u64);
        let codes = b.wait_replicated(&waits.iter().map(|(_, _, tp, need, epoch)| (tp.clone(), *need, *epoch)).collect::<Vec<_>>(), timeout).await;
        for ((t, p, ..), code) in waits.iter().zip(codes) {
            let (t, p) = (*t, *p);
            if code != 0 {
                let pr = &mut resp.responses[t].partition_responses[p];
                pr.error_code = code;
                pr.base_offset = -1;
            }
        }
    }
    (acks != 0).then_some(resp)
}

/// What an append did, for the response and for acks=-1.
struct Appended {
    base: i64,
    log_append_time: i64,
    log_start: i64,
    /// The offset the high watermark must reach for the append to be committed.
    committed_at: i64,
    /// The high watermark right after the append.
    hw: i64,
    epoch: i32,
}

fn append(b: &Broker, topic: &str, partition: i32, records: Option<bytes::Bytes>, acks: i16) -> Result<Appended, (i16, String)> {
    let (log, _) = b.leader_log(topic, partition).map_err(|c| (c, format!("this broker cannot take writes for {topic}-{partition}")))?;
    let tp = TopicPartition::new(topic, partition);
    let Some((epoch, isr)) = b.replicas.leadership(&tp) else {
        return Err((ResponseError::NotLeaderOrFollower.code(), format!("this broker does not lead {topic}-{partition} (yet)")));
    };
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
        let min = log.lock().expect("log lock").config.min_insync_replicas;
        if (isr.len() as i32) < min {
            return Err((ResponseError::NotEnoughReplicas.code(), format!("{} in-sync replicas, min.insync.replicas={min}", isr.len())));
        }
    }
    let mut l = log.lock().expect("log lock");
    match l.append(data.to_vec(), &batches, epoch) {
        Ok(a) => {
            b.replicas.after_append(&tp, &mut l);
            Ok(Appended { base: a.base_offset, log_append_time: a.log_append_time, log_start: l.log_start_offset, committed_at: a.last_offset + 1, hw: l.high_watermark, epoch })
        }
        Err(e @ AppendError::OutOfOrder { .. }) => Err((ResponseError::OutOfOrderSequenceNumber.code(), e.to_string())),
        Err(e @ AppendError::Fenced { .. }) => Err((ResponseError::InvalidProducerEpoch.code(), e.to_string())),
        Err(e @ AppendError::Storage(_)) => {
            tracing::error!(topic, partition, error = %e, "append failed");
            Err((ResponseError::KafkaStorageError.code(), e.to_string()))
        }
    }
}
