//! Idempotent producer state of one partition: per producer id, its epoch and the last five batches
//! (as Kafka keeps), so a retried batch is acknowledged with its original offset and a gap in
//! sequence numbers is refused.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::batch::BatchHeader;

const KEEP_BATCHES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerEntry {
    pub epoch: i16,
    pub batches: VecDeque<BatchMeta>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerTable {
    pub producers: BTreeMap<i64, ProducerEntry>,
}

/// The verdict on an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Append it.
    Append,
    /// Already stored: acknowledge with this base offset, append nothing.
    Duplicate { base_offset: i64 },
    /// Kafka's OUT_OF_ORDER_SEQUENCE_NUMBER.
    OutOfOrder { expected: i32, got: i32 },
    /// Kafka's INVALID_PRODUCER_EPOCH: an older epoch than the one seen.
    Fenced { current: i16 },
}

fn next_seq(s: i32) -> i32 {
    if s == i32::MAX { 0 } else { s + 1 }
}

impl ProducerTable {
    pub fn check(&self, h: &BatchHeader) -> Check {
        if h.producer_id < 0 || h.base_sequence < 0 {
            return Check::Append;
        }
        let Some(p) = self.producers.get(&h.producer_id) else {
            // Unknown producer (new, or its state aged out with the log): accept as Kafka 2.5+ does.
            return Check::Append;
        };
        if h.producer_epoch < p.epoch {
            return Check::Fenced { current: p.epoch };
        }
        if h.producer_epoch > p.epoch {
            return if h.base_sequence == 0 { Check::Append } else { Check::OutOfOrder { expected: 0, got: h.base_sequence } };
        }
        if let Some(b) = p.batches.iter().find(|b| b.first_seq == h.base_sequence && b.last_seq == h.last_sequence()) {
            return Check::Duplicate { base_offset: b.first_offset };
        }
        match p.batches.back() {
            Some(last) if h.base_sequence != next_seq(last.last_seq) => {
                Check::OutOfOrder { expected: next_seq(last.last_seq), got: h.base_sequence }
            }
            _ => Check::Append,
        }
    }

    /// Forgets batches at or after `offset` (the log was truncated there); a producer left with
    /// none is forgotten (its next batch is accepted as from an unknown producer).
    pub fn truncate(&mut self, offset: i64) {
        for p in self.producers.values_mut() {
            p.batches.retain(|b| b.last_offset < offset);
        }
        self.producers.retain(|_, p| !p.batches.is_empty());
    }

    /// Records an appended batch (with its assigned offsets).
    pub fn record(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 {
            return;
        }
        let p = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch != p.epoch {
            p.epoch = h.producer_epoch;
            p.batches.clear();
        }
        if h.base_sequence < 0 {
            return;
        }
        p.batches.push_back(BatchMeta {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            first_offset: h.base_offset,
            last_offset: h.last_offset(),
        });
        while p.batches.len() > KEEP_BATCHES {
            p.batches.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pid: i64, epoch: i16, seq: i32, n: i32, base: i64) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 100,
            leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: n - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            record_count: n,
        }
    }

    #[test]
    fn duplicates_gaps_and_fencing() {
        let mut t = ProducerTable::default();
        assert_eq!(t.check(&h(7, 0, 0, 3, 0)), Check::Append);
        t.record(&h(7, 0, 0, 3, 10));
        assert_eq!(t.check(&h(7, 0, 0, 3, 0)), Check::Duplicate { base_offset: 10 });
        assert_eq!(t.check(&h(7, 0, 5, 1, 0)), Check::OutOfOrder { expected: 3, got: 5 });
        assert_eq!(t.check(&h(7, 0, 3, 2, 0)), Check::Append);
        t.record(&h(7, 0, 3, 2, 13));
        assert_eq!(t.check(&h(7, 1, 4, 1, 0)), Check::OutOfOrder { expected: 0, got: 4 });
        assert_eq!(t.check(&h(7, 1, 0, 1, 0)), Check::Append);
        t.record(&h(7, 1, 0, 1, 15));
        assert_eq!(t.check(&h(7, 0, 5, 1, 0)), Check::Fenced { current: 1 });
        // Non-idempotent batches are always appended.
        assert_eq!(t.check(&h(-1, -1, -1, 1, 0)), Check::Append);
    }

    #[test]
    fn keeps_five_batches_and_wraps_sequences() {
        let mut t = ProducerTable::default();
        for i in 0..7 {
            t.record(&h(1, 0, i, 1, i as i64));
        }
        assert_eq!(t.producers[&1].batches.len(), 5);
        assert_eq!(t.check(&h(1, 0, 0, 1, 0)), Check::OutOfOrder { expected: 7, got: 0 });
        assert_eq!(t.check(&h(1, 0, 6, 1, 0)), Check::Duplicate { base_offset: 6 });
        let mut t = ProducerTable::default();
        t.record(&h(2, 0, i32::MAX - 1, 2, 0));
        assert_eq!(t.check(&h(2, 0, 0, 1, 0)), Check::Append);
    }
}
