//! The follower side of replication, as Kafka's replica fetcher threads: one task per leader
//! broker fetches every partition this broker follows from it. A partition that starts
//! following (a new leader or leader epoch) first asks the leader, with OffsetForLeaderEpoch,
//! where its latest epoch ends there and cuts its own log at that point (KIP-101/KIP-279), so
//! a divergent suffix written under an old leader goes; then it fetches from its log end with
//! its broker id as replica id. The leader learns each follower's progress from those fetches.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, OffsetForLeaderEpochRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::client::{ClientError, KafkaConn};
use super::Follow;
use crate::broker::Broker;
use crate::log::TopicPartition;

const FETCH_VERSION: i16 = 12;
const EPOCH_VERSION: i16 = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Starts and ends fetcher tasks as the set of leaders this broker follows changes.
pub async fn run_manager(b: Arc<Broker>) {
    let mut running: HashMap<i32, tokio::task::JoinHandle<()>> = HashMap::new();
    loop {
        running.retain(|_, h| !h.is_finished());
        for leader in b.replicas.follows_by_leader().into_keys() {
            running.entry(leader).or_insert_with(|| tokio::spawn(fetch_from(b.clone(), leader)));
        }
        tokio::select! {
            _ = b.replicas.follows_changed.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// The address of a broker's plaintext listener, from its registration.
fn address_of(b: &Broker, id: i32) -> Option<String> {
    let snap = b.snapshot();
    let r = snap.brokers.get(&id)?;
    if let (Some(h), p) = (&r.host, r.port) {
        if p > 0 {
            return Some(format!("{h}:{p}"));
        }
    }
    r.endpoints.iter().find_map(|e| {
        let l = crate::config::Listener::parse(e).ok()?;
        (r.listener_security_protocol_map.get(&l.name).map(String::as_str) == Some("PLAINTEXT")).then(|| format!("{}:{}", l.host, l.port))
    })
}

async fn fetch_from(b: Arc<Broker>, leader: i32) {
    let mut conn: Option<KafkaConn> = None;
    let mut failures = 0u32;
    loop {
        let parts = b.replicas.follows_by_leader().remove(&leader).unwrap_or_default();
        if parts.is_empty() {
            return;
        }
        if conn.is_none() {
            let Some(addr) = address_of(&b, leader) else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            match KafkaConn::connect(&addr, &format!("broker-{}-fetcher-{leader}", b.id()), CONNECT_TIMEOUT).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(50) {
                        tracing::info!(leader, error = %e, "cannot reach the leader to fetch from; retrying");
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
        }
        let c = conn.as_mut().expect("connected");
        let result = round(&b, c, &parts).await;
        match result {
            Ok(progress) => {
                failures = 0;
                if !progress {
                    // Every partition refused (a leader that has not caught up with the
                    // metadata yet, or one that no longer leads): wait for the metadata.
                    tokio::select! {
                        _ = b.replicas.follows_changed.notified() => {}
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            }
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(50) {
                    tracing::info!(leader, error = %e, "fetching from the leader failed; reconnecting");
                }
                conn = None;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One round: truncation for partitions that need it, then one Fetch. Returns whether any
/// partition made progress or is fetching normally.
async fn round(b: &Broker, c: &mut KafkaConn, parts: &[(TopicPartition, Follow)]) -> Result<bool, ClientError> {
    let untruncated: Vec<&(TopicPartition, Follow)> = parts.iter().filter(|(_, f)| !f.truncated).collect();
    if !untruncated.is_empty() {
        truncate(b, c, &untruncated).await?;
    }
    let ready: Vec<(TopicPartition, Follow)> = parts.iter().filter_map(|(tp, _)| b.replicas.follow_of(tp).filter(|f| f.truncated).map(|f| (tp.clone(), f))).collect();
    if ready.is_empty() {
        return Ok(false);
    }
    fetch(b, c, &ready).await
}

/// OffsetForLeaderEpoch for each partition's latest epoch; cuts each log where the leader's
/// copy of that epoch ends.
async fn truncate(b: &Broker, c: &mut KafkaConn, parts: &[&(TopicPartition, Follow)]) -> Result<(), ClientError> {
    let mut req = OffsetForLeaderEpochRequest::default().with_replica_id(BrokerId(b.id()));
    let mut asked: Vec<(TopicPartition, Follow, i32)> = Vec::new();
    for (tp, f) in parts {
        let Some(log) = b.logs.get(tp) else { continue };
        let latest = log.lock().expect("log lock").latest_epoch();
        if latest < 0 {
            // Nothing written under any epoch: nothing can diverge.
            b.replicas.mark_truncated(tp, f.epoch);
            continue;
        }
        asked.push((tp.clone(), f.clone(), latest));
        let part = OffsetForLeaderPartition::default().with_partition(tp.partition).with_current_leader_epoch(f.epoch).with_leader_epoch(latest);
        match req.topics.iter_mut().find(|t| t.topic.0.as_str() == tp.topic) {
            Some(t) => t.partitions.push(part),
            None => req.topics.push(OffsetForLeaderTopic::default().with_topic(TopicName(StrBytes::from_string(tp.topic.clone()))).with_partitions(vec![part])),
        }
    }
    if asked.is_empty() {
        return Ok(());
    }
    let resp = c.send(&req, EPOCH_VERSION, Duration::from_secs(10)).await?;
    for t in resp.topics {
        for p in t.partitions {
            let tp = TopicPartition::new(t.topic.0.to_string(), p.partition);
            let Some((_, f, mine)) = asked.iter().find(|(a, _, _)| *a == tp) else { continue };
            if p.error_code != 0 {
                tracing::debug!(partition = %tp, code = p.error_code, "OffsetForLeaderEpoch refused");
                continue;
            }
            let Some(log) = b.logs.get(&tp) else { continue };
            let mut l = log.lock().expect("log lock");
            // The leader's end of our latest epoch; if the leader knows that epoch only up to
            // an earlier one, our entries of later epochs past the start of its next go too.
            let mut cut = if p.end_offset < 0 { l.log_start_offset } else { p.end_offset };
            if p.leader_epoch >= 0 && p.leader_epoch < *mine {
                let (_, own_end) = crate::handlers::offset_for_leader_epoch::end_offset_for(&l.epochs, *mine, l.next_offset, p.leader_epoch);
                cut = cut.min(own_end);
            }
            if cut < l.next_offset {
                tracing::info!(partition = %tp, from = l.next_offset, to = cut, leader_epoch = p.leader_epoch, "truncating a divergent suffix");
                if let Err(e) = l.truncate_to(cut) {
                    tracing::error!(partition = %tp, error = %e, "truncation failed");
                    continue;
                }
            }
            drop(l);
            b.replicas.mark_truncated(&tp, f.epoch);
        }
    }
    Ok(())
}

async fn fetch(b: &Broker, c: &mut KafkaConn, parts: &[(TopicPartition, Follow)]) -> Result<bool, ClientError> {
    let cfg = &b.config;
    let mut req = FetchRequest::default()
        .with_replica_id(BrokerId(b.id()))
        .with_max_wait_ms(cfg.replica_fetch_wait_max_ms)
        .with_min_bytes(1)
        .with_max_bytes(cfg.replica_fetch_response_max_bytes)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1);
    for (tp, f) in parts {
        let Some(log) = b.logs.get(tp) else { continue };
        let (offset, start) = {
            let l = log.lock().expect("log lock");
            (l.next_offset, l.log_start_offset)
        };
        let part = FetchPartition::default()
            .with_partition(tp.partition)
            .with_current_leader_epoch(f.epoch)
            .with_fetch_offset(offset)
            .with_last_fetched_epoch(-1)
            .with_log_start_offset(start)
            .with_partition_max_bytes(cfg.replica_fetch_max_bytes);
        match req.topics.iter_mut().find(|t| t.topic.0.as_str() == tp.topic) {
            Some(t) => t.partitions.push(part),
            None => req.topics.push(FetchTopic::default().with_topic(TopicName(StrBytes::from_string(tp.topic.clone()))).with_partitions(vec![part])),
        }
    }
    if req.topics.is_empty() {
        return Ok(false);
    }
    let wait = Duration::from_millis(cfg.replica_fetch_wait_max_ms.max(0) as u64) + Duration::from_secs(10);
    let resp = c.send(&req, FETCH_VERSION, wait).await?;
    if resp.error_code != 0 {
        return Err(ClientError::Protocol(format!("fetch refused with error {}", resp.error_code)));
    }
    let mut progress = false;
    let mut appended = false;
    for t in resp.responses {
        for p in t.partitions {
            let tp = TopicPartition::new(t.topic.0.to_string(), p.partition_index);
            let Some(f) = parts.iter().find(|(a, _)| *a == tp).map(|(_, f)| f) else { continue };
            // The follow may have changed while the fetch waited.
            if b.replicas.follow_of(&tp).as_ref() != Some(f) {
                continue;
            }
            let Some(log) = b.logs.get(&tp) else { continue };
            let mut l = log.lock().expect("log lock");
            match ResponseError::try_from_code(p.error_code) {
                None => {
                    progress = true;
                    if let Some(records) = p.records.as_ref().filter(|r| !r.is_empty()) {
                        match l.append_replicated(records) {
                            Ok(n) => appended |= n > 0,
                            Err(e) => {
                                tracing::warn!(partition = %tp, error = %e, "cannot store replicated batches; checking for divergence again");
                                drop(l);
                                b.replicas.recheck_divergence(&tp);
                                continue;
                            }
                        }
                    }
                    if l.set_follower_high_watermark(p.high_watermark) {
                        appended = true;
                    }
                }
                Some(ResponseError::OffsetOutOfRange) => {
                    let offset = l.next_offset;
                    if offset < p.log_start_offset || l.next_offset == l.log_start_offset {
                        // The leader deleted what we would fetch next: start over at its start.
                        tracing::info!(partition = %tp, offset, leader_start = p.log_start_offset, "behind the leader's log start; starting over there");
                        if let Err(e) = l.reset_to(p.log_start_offset) {
                            tracing::error!(partition = %tp, error = %e, "log reset failed");
                        }
                    } else {
                        // Ahead of the leader: find the divergence again.
                        drop(l);
                        b.replicas.recheck_divergence(&tp);
                    }
                }
                Some(e) => {
                    tracing::debug!(partition = %tp, error = ?e, "fetch refused by the leader");
                }
            }
        }
    }
    if appended {
        b.logs.notify_appended();
    }
    Ok(progress)
}
