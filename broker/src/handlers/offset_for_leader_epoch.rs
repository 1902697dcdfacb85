//! OffsetForLeaderEpoch: the end offset of a leader epoch, from the partition's epoch cache.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::*;
use kafka_protocol::messages::*;

use super::Conn;
use crate::broker::Broker;

/// (epoch, end offset) for `requested`, as Kafka's LeaderEpochFileCache.endOffsetFor.
pub fn end_offset_for(epochs: &[(i32, i64)], current: i32, leo: i64, requested: i32) -> (i32, i64) {
    let latest = epochs.last().map_or(current, |(e, _)| (*e).max(current));
    if requested >= latest {
        return (latest, leo);
    }
    let later = epochs.iter().position(|(e, _)| *e > requested);
    match later {
        Some(0) => (-1, -1),
        Some(i) => (epochs[i - 1].0, epochs[i].1),
        None => (latest, leo),
    }
}

pub async fn handle(b: &Broker, _c: &mut Conn, req: OffsetForLeaderEpochRequest, _h: &RequestHeader) -> Option<OffsetForLeaderEpochResponse> {
    let mut resp = OffsetForLeaderEpochResponse::default();
    for t in req.topics {
        let name = t.topic.0.to_string();
        let mut tr = OffsetForLeaderTopicResult::default().with_topic(t.topic.clone());
        for p in t.partitions {
            let mut pr = EpochEndOffset::default().with_partition(p.partition).with_leader_epoch(-1).with_end_offset(-1);
            match b.leader_log(&name, p.partition) {
                Err(c) => pr = pr.with_error_code(c),
                Ok((log, epoch)) => {
                    if p.current_leader_epoch >= 0 && p.current_leader_epoch < epoch {
                        pr = pr.with_error_code(ResponseError::FencedLeaderEpoch.code());
                    } else if p.current_leader_epoch > epoch {
                        pr = pr.with_error_code(ResponseError::UnknownLeaderEpoch.code());
                    } else {
                        let l = log.lock().expect("log lock");
                        let (e, o) = end_offset_for(&l.epochs, epoch, l.next_offset, p.leader_epoch);
                        pr = pr.with_leader_epoch(e).with_end_offset(o);
                    }
                }
            }
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    Some(resp)
}

#[cfg(test)]
mod tests {
    use super::end_offset_for;

    #[test]
    fn epoch_end_offsets() {
        let epochs = [(0, 0), (2, 10), (5, 30)];
        assert_eq!(end_offset_for(&epochs, 5, 40, 5), (5, 40));
        assert_eq!(end_offset_for(&epochs, 5, 40, 7), (5, 40));
        assert_eq!(end_offset_for(&epochs, 5, 40, 0), (0, 10));
        assert_eq!(end_offset_for(&epochs, 5, 40, 3), (2, 30));
        assert_eq!(end_offset_for(&[], 0, 0, 0), (0, 0));
        assert_eq!(end_offset_for(&[(3, 5)], 3, 9, 1), (-1, -1));
    }
}
