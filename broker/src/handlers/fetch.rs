//! Fetch: whole batches read from segments as stored, up to the partition and request byte
//! limits, waiting up to `max_wait_ms` for `min_bytes`.

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::*;
use kafka_protocol::messages::*;

use super::{topic_name, Conn};
use crate::broker::Broker;

struct Want {
    topic: String,
    topic_id: uuid::Uuid,
    known: bool,
    partition: i32,
    offset: i64,
    max_bytes: usize,
    current_leader_epoch: i32,
}

pub async fn handle(b: &Broker, _c: &mut Conn, req: FetchRequest, h: &RequestHeader) -> Option<FetchResponse> {
    let v = h.request_api_version;
    let snap = b.snapshot();
    let mut wants = Vec::new();
    for t in &req.topics {
        let (name, known) = if v >= 13 {
            match snap.topic_by_id(t.topic_id.as_bytes()) {
                Some(info) => (info.name.clone(), true),
                None => (String::new(), false),
            }
        } else {
            (t.topic.0.to_string(), true)
        };
        for p in &t.partitions {
            wants.push(Want { topic: name.clone(), topic_id: t.topic_id, known, partition: p.partition, offset: p.fetch_offset, max_bytes: p.partition_max_bytes.max(0) as usize, current_leader_epoch: p.current_leader_epoch });
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.clamp(0, 60_000) as u64);
    let min_bytes = req.min_bytes.max(0) as usize;
    let max_bytes = if req.max_bytes <= 0 { i32::MAX as usize } else { req.max_bytes as usize };
    // A follower (replica id >= 0) reads up to the log end and reports its progress by the
    // offsets it asks for.
    let replica = if v >= 15 { req.replica_state.replica_id.0 } else { req.replica_id.0 };
    // A consumer that names its rack (Fetch v11+) may read from a follower (KIP-392), up to the
    // follower's high watermark.
    let from_follower = replica < 0 && v >= 11 && !req.rack_id.is_empty();
    let mut appends = b.logs.subscribe_appends();
    loop {
        appends.borrow_and_update();
        let (parts, total, any_error) = read_all(b, &wants, max_bytes, v, replica, from_follower);
        let now = tokio::time::Instant::now();
        if total >= min_bytes || any_error || now >= deadline || wants.is_empty() {
            return Some(build(parts, &wants, v));
        }
        tokio::select! {
            _ = appends.changed() => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

fn read_all(b: &Broker, wants: &[Want], max_bytes: usize, v: i16, replica: i32, from_follower: bool) -> (Vec<PartitionData>, usize, bool) {
    let mut out = Vec::with_capacity(wants.len());
    let mut total = 0usize;
    let mut any_error = false;
    let mut hw_moved = false;
    for w in wants {
        let mut pd = PartitionData::default().with_partition_index(w.partition).with_high_watermark(-1).with_last_stable_offset(-1).with_log_start_offset(-1).with_preferred_read_replica(BrokerId(-1));
        if !w.known {
            any_error = true;
            out.push(pd.with_error_code(ResponseError::UnknownTopicId.code()));
            continue;
        }
        let log = if from_follower { b.replica_log(&w.topic, w.partition) } else { b.leader_log(&w.topic, w.partition) };
        let (log, epoch) = match log {
            Ok(l) => l,
            Err(code) => {
                any_error = true;
                out.push(pd.with_error_code(code));
                continue;
            }
        };
        let tp = crate::log::TopicPartition::new(w.topic.clone(), w.partition);
        let leadership = b.replicas.leadership(&tp);
        let leads = leadership.is_some();
        let epoch = leadership.map_or(epoch, |(e, _)| e);
        if w.current_leader_epoch >= 0 && w.current_leader_epoch != epoch {
            any_error = true;
            let code = if w.current_leader_epoch < epoch { ResponseError::FencedLeaderEpoch } else { ResponseError::UnknownLeaderEpoch };
            out.push(pd.with_error_code(code.code()));
            continue;
        }
        let budget = max_bytes.saturating_sub(total).min(w.max_bytes);
        let mut l = log.lock().expect("log lock");
        let limit = if replica >= 0 {
            hw_moved |= b.replicas.follower_fetched(&tp, replica, w.offset, &mut l);
            l.next_offset
        } else {
            l.high_watermark
        };
        // The first partition with data returns at least one batch even if larger than limits.
        match l.read_upto(w.offset, budget, total == 0, limit) {
            Ok(Some(r)) => {
                total += r.bytes.len();
                pd = pd.with_high_watermark(r.high_watermark).with_last_stable_offset(r.high_watermark).with_log_start_offset(r.log_start_offset).with_records(Some(r.bytes.into()));
                if v >= 12 && leads {
                    pd.current_leader = LeaderIdAndEpoch::default().with_leader_id(BrokerId(b.id())).with_leader_epoch(epoch);
                }
            }
            Ok(None) => {
                any_error = true;
                pd = pd.with_error_code(ResponseError::OffsetOutOfRange.code()).with_high_watermark(l.high_watermark).with_log_start_offset(l.log_start_offset);
            }
            Err(e) => {
                tracing::error!(partition = %l.tp, error = %e, "read failed");
                any_error = true;
                pd = pd.with_error_code(ResponseError::KafkaStorageError.code());
            }
        }
        out.push(pd);
    }
    if hw_moved {
        // Waiting acks=-1 producers and consumers' long polls see the new high watermark.
        b.logs.notify_appended();
    }
    (out, total, any_error)
}

fn build(parts: Vec<PartitionData>, wants: &[Want], v: i16) -> FetchResponse {
    let mut resp = FetchResponse::default();
    let mut parts = parts.into_iter();
    for w in wants {
        let p = parts.next().expect("one result per partition");
        let same = resp.responses.last().is_some_and(|t: &FetchableTopicResponse| if v >= 13 { t.topic_id == w.topic_id } else { t.topic.0.as_str() == w.topic });
        if !same {
            resp.responses.push(FetchableTopicResponse::default().with_topic(topic_name(w.topic.clone())).with_topic_id(w.topic_id));
        }
        resp.responses.last_mut().expect("pushed").partitions.push(p);
    }
    resp
}
