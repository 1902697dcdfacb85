//! OffsetFetch: committed offsets of one group (v1–7) or several (v8+).

use kafka_protocol::messages::offset_fetch_response::*;
use kafka_protocol::messages::*;

use super::{s, topic_name, Conn};
use crate::broker::Broker;
use crate::group::offsets::OffsetValue;

type Fetched = Result<Vec<(String, i32, Option<OffsetValue>)>, i16>;

fn fetch(b: &Broker, group: &str, wanted: Option<Vec<(String, i32)>>) -> Fetched {
    b.groups.fetch(group, wanted.as_deref())
}

type TopicRows = (String, Vec<(i32, Option<OffsetValue>)>);

fn grouped(rows: Vec<(String, i32, Option<OffsetValue>)>) -> Vec<TopicRows> {
    let mut out: Vec<TopicRows> = Vec::new();
    for (t, p, v) in rows {
        match out.iter_mut().find(|(n, _)| *n == t) {
            Some((_, ps)) => ps.push((p, v)),
            None => out.push((t, vec![(p, v)])),
        }
    }
    out
}

pub async fn handle(b: &Broker, _c: &mut Conn, req: OffsetFetchRequest, h: &RequestHeader) -> Option<OffsetFetchResponse> {
    let mut resp = OffsetFetchResponse::default();
    if h.request_api_version >= 8 {
        for g in &req.groups {
            let wanted = g.topics.as_ref().map(|ts| ts.iter().flat_map(|t| t.partition_indexes.iter().map(move |p| (t.name.0.to_string(), *p))).collect());
            let mut gr = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
            match fetch(b, &g.group_id.0, wanted) {
                Err(code) => gr = gr.with_error_code(code),
                Ok(rows) => {
                    gr.topics = grouped(rows)
                        .into_iter()
                        .map(|(t, ps)| {
                            OffsetFetchResponseTopics::default().with_name(topic_name(t)).with_partitions(
                                ps.into_iter()
                                    .map(|(p, v)| {
                                        let v = v.unwrap_or(OffsetValue { offset: -1, leader_epoch: -1, metadata: String::new(), commit_timestamp: -1 });
                                        OffsetFetchResponsePartitions::default().with_partition_index(p).with_committed_offset(v.offset).with_committed_leader_epoch(v.leader_epoch).with_metadata(Some(s(v.metadata)))
                                    })
                                    .collect(),
                            )
                        })
                        .collect();
                }
            }
            resp.groups.push(gr);
        }
        return Some(resp);
    }
    let wanted = req.topics.as_ref().map(|ts| ts.iter().flat_map(|t| t.partition_indexes.iter().map(move |p| (t.name.0.to_string(), *p))).collect());
    match fetch(b, &req.group_id.0, wanted) {
        Err(code) => {
            resp = resp.with_error_code(code);
            // v0/v1 carry errors per partition only.
            if let Some(ts) = &req.topics {
                for t in ts {
                    resp.topics.push(OffsetFetchResponseTopic::default().with_name(t.name.clone()).with_partitions(t.partition_indexes.iter().map(|p| OffsetFetchResponsePartition::default().with_partition_index(*p).with_committed_offset(-1).with_error_code(code)).collect()));
                }
            }
        }
        Ok(rows) => {
            resp.topics = grouped(rows)
                .into_iter()
                .map(|(t, ps)| {
                    OffsetFetchResponseTopic::default().with_name(topic_name(t)).with_partitions(
                        ps.into_iter()
                            .map(|(p, v)| {
                                let v = v.unwrap_or(OffsetValue { offset: -1, leader_epoch: -1, metadata: String::new(), commit_timestamp: -1 });
                                OffsetFetchResponsePartition::default().with_partition_index(p).with_committed_offset(v.offset).with_committed_leader_epoch(v.leader_epoch).with_metadata(Some(s(v.metadata)))
                            })
                            .collect(),
                    )
                })
                .collect();
        }
    }
    Some(resp)
}
