//! The log of one partition: its segments, log start offset, high watermark, leader epoch cache
//! and idempotent producer state. Deterministic apart from the file I/O it does; callers hold it
//! behind a lock.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::batch::{self, BatchHeader};
use super::producers::{Check, ProducerTable};
use super::segment::{now_ms, Segment};
use super::{LogConfig, TopicPartition};

const LOG_START_FILE: &str = "log-start-offset";
/// Kafka's `partition.metadata`: the topic id the directory belongs to.
const PARTITION_METADATA: &str = "partition.metadata";

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("storage error: {0}")]
    Storage(#[from] io::Error),
    #[error("sequence out of order: expected {expected}, got {got}")]
    OutOfOrder { expected: i32, got: i32 },
    #[error("producer epoch {got} is older than {current}")]
    Fenced { current: i16, got: i16 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker time stamped on LogAppendTime topics, else -1.
    pub log_append_time: i64,
    pub duplicate: bool,
}

#[derive(Debug, Default)]
pub struct Read {
    pub bytes: Vec<u8>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

pub struct PartitionLog {
    pub tp: TopicPartition,
    pub dir: PathBuf,
    pub config: LogConfig,
    segments: Vec<Segment>,
    pub log_start_offset: i64,
    pub next_offset: i64,
    pub high_watermark: i64,
    /// (epoch, first offset) in ascending order.
    pub epochs: Vec<(i32, i64)>,
    pub producers: ProducerTable,
    unflushed: i64,
    last_flush: Instant,
    /// Set after a write failed: the partition refuses appends until the broker restarts.
    pub failed: Option<String>,
    /// The topic id recorded in `partition.metadata` (absent in directories of older brokers).
    pub topic_id: Option<String>,
}

/// What opening found, for the log.
#[derive(Debug, Default)]
pub struct OpenReport {
    pub segments: usize,
    pub truncated_bytes: u64,
}

impl PartitionLog {
    /// Opens (or creates) the partition directory. The active segment is verified batch by batch
    /// and cut at the first invalid batch; indexes are rebuilt where missing or damaged.
    pub fn open(root: &Path, tp: TopicPartition, config: LogConfig) -> io::Result<(PartitionLog, OpenReport)> {
        let dir = root.join(tp.dir_name());
        std::fs::create_dir_all(&dir)?;
        let mut bases: Vec<i64> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".log")).and_then(|b| b.parse::<i64>().ok()))
            .collect();
        bases.sort_unstable();
        let mut log = PartitionLog {
            tp,
            dir: dir.clone(),
            config,
            segments: Vec::new(),
            log_start_offset: 0,
            next_offset: 0,
            high_watermark: 0,
            epochs: Vec::new(),
            producers: ProducerTable::default(),
            unflushed: 0,
            last_flush: Instant::now(),
            failed: None,
            topic_id: std::fs::read_to_string(dir.join(PARTITION_METADATA))
                .ok()
                .and_then(|s| s.lines().find_map(|l| l.strip_prefix("topic_id:").map(|v| v.trim().to_string()))),
        };
        let mut report = OpenReport::default();
        let last = bases.len().saturating_sub(1);
        for (i, base) in bases.iter().enumerate() {
            let (seg, scan) = Segment::open(&dir, *base, i == last, log.config.index_interval_bytes)?;
            report.truncated_bytes += scan.truncated_bytes;
            for h in &scan.batches {
                log.note_appended(h);
            }
            log.next_offset = log.next_offset.max(seg.next_offset);
            log.segments.push(seg);
        }
        if log.segments.is_empty() {
            log.segments.push(Segment::create(&dir, 0)?);
        }
        log.log_start_offset = log.segments[0].base_offset;
        if let Ok(s) = std::fs::read_to_string(dir.join(LOG_START_FILE)) {
            if let Ok(v) = s.trim().parse::<i64>() {
                log.log_start_offset = log.log_start_offset.max(v.min(log.next_offset));
            }
        }
        // Without replication every stored batch is committed.
        log.high_watermark = log.next_offset;
        report.segments = log.segments.len();
        Ok((log, report))
    }

    /// Records the topic id the directory belongs to (written once, like Kafka).
    pub fn set_topic_id(&mut self, id: &str) -> io::Result<()> {
        let tmp = self.dir.join(format!("{PARTITION_METADATA}.tmp"));
        std::fs::write(&tmp, format!("version: 0\ntopic_id: {id}\n"))?;
        std::fs::rename(&tmp, self.dir.join(PARTITION_METADATA))?;
        self.topic_id = Some(id.to_string());
        Ok(())
    }

    fn note_appended(&mut self, h: &BatchHeader) {
        if self.epochs.last().is_none_or(|&(e, _)| h.leader_epoch > e) {
            self.epochs.push((h.leader_epoch, h.base_offset));
        }
        self.producers.record(h);
    }

    fn active(&mut self) -> &mut Segment {
        self.segments.last_mut().expect("a log always has an active segment")
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Appends validated batches (`data` holds them back to back; `batches` their headers and
    /// ranges). Offsets are assigned by rewriting each batch header.
    pub fn append(&mut self, mut data: Vec<u8>, batches: &[(BatchHeader, std::ops::Range<usize>)], leader_epoch: i32) -> Result<Appended, AppendError> {
        if let Some(why) = &self.failed {
            return Err(AppendError::Storage(io::Error::other(why.clone())));
        }
        if let Some((h, _)) = batches.first() {
            match self.producers.check(h) {
                Check::Append => {}
                Check::Duplicate { base_offset } => {
                    return Ok(Appended { base_offset, last_offset: base_offset + h.last_offset_delta as i64, log_append_time: -1, duplicate: true });
                }
                Check::OutOfOrder { expected, got } => return Err(AppendError::OutOfOrder { expected, got }),
                Check::Fenced { current } => return Err(AppendError::Fenced { current, got: h.producer_epoch }),
            }
        }
        let now = now_ms();
        let base_offset = self.next_offset;
        let mut headers = Vec::with_capacity(batches.len());
        let mut next = base_offset;
        for (h, range) in batches {
            let b = &mut data[range.clone()];
            batch::assign(b, next, leader_epoch);
            if self.config.log_append_time {
                batch::set_log_append_time(b, now);
            }
            let mut h = *h;
            h.base_offset = next;
            h.leader_epoch = leader_epoch;
            if self.config.log_append_time {
                h.max_timestamp = now;
            }
            next = h.last_offset() + 1;
            headers.push(h);
        }
        self.maybe_roll(data.len() as u64, now)?;
        let interval = self.config.index_interval_bytes;
        if let Err(e) = self.active().append(&data, &headers, interval) {
            // The segment undid the partial write; if even that failed, refuse further appends
            // (the next start cuts the tail).
            if e.kind() == io::ErrorKind::Other {
                self.failed = Some(format!("write to {} failed: {e}", self.tp));
            }
            return Err(e.into());
        }
        for h in &headers {
            self.note_appended(h);
        }
        let records: i64 = headers.iter().map(|h| h.record_count as i64).sum();
        self.next_offset = next;
        self.unflushed += records;
        if self.unflushed >= self.config.flush_messages {
            self.flush()?;
        }
        Ok(Appended {
            base_offset,
            last_offset: next - 1,
            log_append_time: if self.config.log_append_time { now } else { -1 },
            duplicate: false,
        })
    }

    /// Appends batches copied from the partition leader, as they are (offsets, leader epochs and
    /// producer fields assigned there). Batches below the log end offset (already here) are
    /// skipped; a gap or a damaged batch is an error and nothing after it is stored. Returns the
    /// number of batches stored.
    pub fn append_replicated(&mut self, data: &[u8]) -> Result<usize, AppendError> {
        if let Some(why) = &self.failed {
            return Err(AppendError::Storage(io::Error::other(why.clone())));
        }
        let mut pos = 0;
        let mut start = None;
        let mut headers = Vec::new();
        let mut next = self.next_offset;
        while pos + batch::HEADER_LEN <= data.len() {
            let h = batch::parse_header(&data[pos..]).map_err(|e| AppendError::Storage(io::Error::new(io::ErrorKind::InvalidData, e.to_string())))?;
            if pos + h.size() > data.len() {
                break; // a partial batch at the end of a fetch
            }
            batch::validate(&data[pos..pos + h.size()]).map_err(|e| AppendError::Storage(io::Error::new(io::ErrorKind::InvalidData, format!("replicated batch at offset {}: {e}", h.base_offset))))?;
            if h.last_offset() < next {
                pos += h.size();
                continue;
            }
            if h.base_offset != next {
                return Err(AppendError::Storage(io::Error::new(io::ErrorKind::InvalidData, format!("replicated batch starts at {}, the log ends at {next}", h.base_offset))));
            }
            start.get_or_insert(pos);
            next = h.last_offset() + 1;
            headers.push(h);
            pos += h.size();
        }
        let Some(start) = start else { return Ok(0) };
        let bytes = &data[start..pos];
        self.maybe_roll(bytes.len() as u64, now_ms())?;
        let interval = self.config.index_interval_bytes;
        if let Err(e) = self.active().append(bytes, &headers, interval) {
            if e.kind() == io::ErrorKind::Other {
                self.failed = Some(format!("write to {} failed: {e}", self.tp));
            }
            return Err(e.into());
        }
        for h in &headers {
            self.note_appended(h);
            self.unflushed += h.record_count as i64;
        }
        self.next_offset = next;
        if self.unflushed >= self.config.flush_messages {
            self.flush()?;
        }
        Ok(headers.len())
    }

    /// Moves the high watermark forward to `hw` (never past the log end, never back).
    pub fn advance_high_watermark(&mut self, hw: i64) -> bool {
        let hw = hw.min(self.next_offset);
        if hw > self.high_watermark {
            self.high_watermark = hw;
            true
        } else {
            false
        }
    }

    /// A follower's high watermark: the leader's, limited to what this log holds.
    pub fn set_follower_high_watermark(&mut self, leader_hw: i64) -> bool {
        let hw = leader_hw.min(self.next_offset).max(self.log_start_offset);
        let changed = hw != self.high_watermark;
        self.high_watermark = hw;
        changed
    }

    /// Records that `epoch` begins at the log end offset (a new leadership), as Kafka's leader
    /// epoch cache does when a broker becomes leader.
    pub fn start_epoch(&mut self, epoch: i32) {
        if self.epochs.last().is_none_or(|&(e, _)| epoch > e) {
            self.epochs.push((epoch, self.next_offset));
        }
    }

    /// The latest leader epoch in the log's cache (-1 when empty).
    pub fn latest_epoch(&self) -> i32 {
        self.epochs.last().map_or(-1, |&(e, _)| e)
    }

    /// Cuts the log at `offset` (a follower's divergent suffix, after OffsetForLeaderEpoch): the
    /// batch holding `offset` and everything after it go. At or below the first segment's base
    /// the log restarts empty at `offset`.
    pub fn truncate_to(&mut self, offset: i64) -> io::Result<()> {
        if offset >= self.next_offset {
            return Ok(());
        }
        self.flush()?;
        if offset <= self.segments[0].base_offset {
            return self.reset_to(offset);
        } else {
            while self.segments.len() > 1 && self.segments.last().is_some_and(|s| s.base_offset >= offset) {
                let seg = self.segments.pop().expect("more than one");
                seg.remove_files()?;
            }
            let seg = self.segments.pop().expect("a segment");
            let base = seg.base_offset;
            let cut = seg.position_of(offset)?.map(|(pos, _)| pos);
            drop(seg);
            if let Some(pos) = cut {
                std::fs::OpenOptions::new().write(true).open(self.dir.join(super::segment::file_name(base, "log")))?.set_len(pos)?;
            }
            let (seg, _) = Segment::open(&self.dir, base, true, self.config.index_interval_bytes)?;
            self.next_offset = seg.next_offset;
            self.segments.push(seg);
        }
        let end = self.next_offset;
        self.epochs.retain(|&(_, start)| start < end);
        self.producers.truncate(end);
        self.high_watermark = self.high_watermark.min(end);
        Ok(())
    }

    /// Empties the log and starts it again at `offset` (a follower behind the leader's log start).
    pub fn reset_to(&mut self, offset: i64) -> io::Result<()> {
        let offset = offset.max(0);
        for seg in self.segments.drain(..) {
            seg.remove_files()?;
        }
        self.segments.push(Segment::create(&self.dir, offset)?);
        self.log_start_offset = offset;
        let tmp = self.dir.join(format!("{LOG_START_FILE}.tmp"));
        std::fs::write(&tmp, offset.to_string())?;
        std::fs::rename(&tmp, self.dir.join(LOG_START_FILE))?;
        self.next_offset = offset;
        self.high_watermark = offset;
        self.epochs.clear();
        self.producers = ProducerTable::default();
        self.unflushed = 0;
        Ok(())
    }

    fn maybe_roll(&mut self, incoming: u64, now: i64) -> io::Result<()> {
        let segment_bytes = self.config.segment_bytes;
        let segment_ms = self.config.segment_ms;
        let a = self.segments.last().expect("active segment");
        let too_big = a.size > 0 && a.size + incoming > segment_bytes;
        let too_old = a.size > 0 && a.first_append_ms.is_some_and(|t| now - t >= segment_ms);
        if too_big || too_old {
            self.roll()?;
        }
        Ok(())
    }

    /// Closes the active segment and starts a new one at the next offset.
    pub fn roll(&mut self) -> io::Result<()> {
        self.active().flush()?;
        let seg = Segment::create(&self.dir, self.next_offset)?;
        self.segments.push(seg);
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        if self.unflushed > 0 {
            self.active().flush()?;
        }
        self.unflushed = 0;
        self.last_flush = Instant::now();
        Ok(())
    }

    /// Flushes when `flush.ms` has passed since the last flush.
    pub fn flush_if_due(&mut self) -> io::Result<()> {
        if self.unflushed > 0 && self.config.flush_ms != i64::MAX && self.last_flush.elapsed().as_millis() as i64 >= self.config.flush_ms {
            self.flush()?;
        }
        Ok(())
    }

    /// Whole batches from the one holding `offset`, up to `max_bytes` (always at least one batch
    /// when `min_one`), below the high watermark. `None` when `offset` is out of range: before
    /// the log start or past the log end. Between the high watermark and the log end (a consumer
    /// ahead of a new leader's high watermark, which it learns from its followers' fetches) the
    /// read is empty, as in Kafka: not out of range, which would reset the consumer.
    pub fn read(&self, offset: i64, max_bytes: usize, min_one: bool) -> io::Result<Option<Read>> {
        self.read_upto(offset, max_bytes, min_one, self.high_watermark)
    }

    /// As `read`, below `limit` instead of the high watermark (a follower reads up to the log
    /// end).
    pub fn read_upto(&self, offset: i64, max_bytes: usize, min_one: bool, limit: i64) -> io::Result<Option<Read>> {
        if offset < self.log_start_offset || offset > self.next_offset {
            return Ok(None);
        }
        let limit = limit.min(self.next_offset);
        let mut out = Read { bytes: Vec::new(), high_watermark: self.high_watermark, log_start_offset: self.log_start_offset };
        if offset >= limit {
            return Ok(Some(out));
        }
        let start = self.segments.partition_point(|s| s.base_offset <= offset).saturating_sub(1);
        for seg in &self.segments[start..] {
            let Some((pos, first)) = seg.position_of(offset)? else { continue };
            if first.base_offset >= limit {
                break;
            }
            let want = if min_one { max_bytes.max(first.size()) } else { max_bytes };
            if want < first.size() {
                break;
            }
            let mut bytes = seg.read_at(pos, want)?;
            // Keep whole batches below the high watermark only.
            let mut keep = 0;
            while keep + batch::HEADER_LEN <= bytes.len() {
                let Ok(h) = batch::parse_header(&bytes[keep..]) else { break };
                if keep + h.size() > bytes.len() || h.last_offset() >= limit {
                    break;
                }
                keep += h.size();
            }
            bytes.truncate(keep);
            out.bytes = bytes;
            break;
        }
        Ok(Some(out))
    }

    /// Kafka's ListOffsets by timestamp: the first offset whose timestamp is at least `ts`, with
    /// that timestamp. Exact for uncompressed batches; for compressed batches the batch's base
    /// offset and max timestamp.
    pub fn offset_for_timestamp(&self, ts: i64) -> io::Result<Option<(i64, i64)>> {
        for seg in &self.segments {
            let Some((pos, h)) = seg.position_of_time(ts)? else { continue };
            if h.base_offset >= self.high_watermark {
                return Ok(None);
            }
            if h.compression() == 0 {
                let bytes = seg.read_at(pos, h.size())?;
                if let Ok(recs) = batch::records(&bytes) {
                    if let Some((o, t, _, _)) = recs.into_iter().find(|r| r.1 >= ts && r.0 >= self.log_start_offset) {
                        return Ok(Some((o, t)));
                    }
                }
            }
            return Ok(Some((h.base_offset.max(self.log_start_offset), h.max_timestamp)));
        }
        Ok(None)
    }

    /// The largest timestamp in the log and the offset of its batch's last record.
    pub fn max_timestamp(&self) -> io::Result<Option<(i64, i64)>> {
        let best = self.segments.iter().filter(|s| s.size > 0).max_by_key(|s| s.max_timestamp);
        let Some(seg) = best else { return Ok(None) };
        let Some((_, h)) = seg.position_of_time(seg.max_timestamp)? else { return Ok(None) };
        Ok(Some((h.last_offset(), h.max_timestamp)))
    }

    /// Moves the log start offset forward (DeleteRecords); `-1` means the high watermark.
    pub fn delete_records(&mut self, offset: i64) -> io::Result<Result<i64, ()>> {
        let offset = if offset == -1 { self.high_watermark } else { offset };
        if offset < 0 || offset > self.high_watermark {
            return Ok(Err(()));
        }
        if offset > self.log_start_offset {
            self.log_start_offset = offset;
            let tmp = self.dir.join(format!("{LOG_START_FILE}.tmp"));
            std::fs::write(&tmp, offset.to_string())?;
            std::fs::rename(&tmp, self.dir.join(LOG_START_FILE))?;
            self.delete_segments_below_start()?;
        }
        Ok(Ok(self.log_start_offset))
    }

    fn delete_segments_below_start(&mut self) -> io::Result<()> {
        while self.segments.len() > 1 && self.segments[1].base_offset <= self.log_start_offset {
            let seg = self.segments.remove(0);
            seg.remove_files()?;
        }
        Ok(())
    }

    /// Deletes closed segments past `retention.ms` (by their largest timestamp) or beyond
    /// `retention.bytes`, and those wholly below the log start offset. Returns segments deleted.
    pub fn enforce_retention(&mut self, now: i64) -> io::Result<usize> {
        if !self.config.delete() {
            return Ok(0);
        }
        let mut deleted = 0;
        let mut total = self.size_bytes() as i64;
        while self.segments.len() > 1 {
            let s = &self.segments[0];
            let expired = self.config.retention_ms >= 0 && s.max_timestamp >= 0 && now - s.max_timestamp > self.config.retention_ms;
            let oversize = self.config.retention_bytes >= 0 && total - s.size as i64 >= self.config.retention_bytes;
            if !(expired || oversize) {
                break;
            }
            let seg = self.segments.remove(0);
            total -= seg.size as i64;
            seg.remove_files()?;
            deleted += 1;
            self.log_start_offset = self.log_start_offset.max(self.segments[0].base_offset);
        }
        // The active segment itself expired: roll so it can go next time (Kafka does the same).
        let a = self.segments.last().expect("active");
        if self.config.retention_ms >= 0 && a.size > 0 && a.max_timestamp >= 0 && now - a.max_timestamp > self.config.retention_ms && self.segments.len() == 1 {
            self.roll()?;
        }
        Ok(deleted)
    }

    /// Visits every stored batch (for loading the broker's own compacted topics).
    pub fn for_each_batch(&self, mut f: impl FnMut(&BatchHeader, &[u8])) -> io::Result<()> {
        for seg in &self.segments {
            seg.for_each_batch(&mut f)?;
        }
        Ok(())
    }

    /// Rewrites closed segments keeping, per key, only the latest record (uncompressed batches
    /// written by the broker itself); tombstones are dropped from all but the active segment.
    pub fn compact(&mut self) -> io::Result<usize> {
        if self.segments.len() < 3 {
            return Ok(0);
        }
        // Latest offset per key across the whole log.
        let mut latest: std::collections::HashMap<Vec<u8>, i64> = std::collections::HashMap::new();
        let mut compressed = false;
        self.for_each_batch(|h, b| match batch::records(b) {
            Ok(recs) => {
                for (o, _, k, _) in recs {
                    if let Some(k) = k {
                        latest.insert(k.to_vec(), o);
                    }
                }
            }
            Err(_) => compressed |= h.compression() != 0,
        })?;
        if compressed {
            return Ok(0);
        }
        // Merge all closed segments except the last closed one into one cleaned segment.
        let n = self.segments.len() - 2;
        type Kept = (Option<Vec<u8>>, Option<Vec<u8>>, i64, i64);
        let mut kept: Vec<Kept> = Vec::new();
        for seg in &self.segments[..n] {
            seg.for_each_batch(|_, b| {
                if let Ok(recs) = batch::records(b) {
                    for (o, t, k, v) in recs {
                        let Some(k) = k else { continue };
                        if latest.get(k) == Some(&o) && v.is_some() {
                            kept.push((Some(k.to_vec()), v.map(<[u8]>::to_vec), o, t));
                        }
                    }
                }
            })?;
        }
        let base = self.segments[0].base_offset;
        let cleaned_dir = self.dir.join("cleaned");
        let _ = std::fs::remove_dir_all(&cleaned_dir);
        std::fs::create_dir_all(&cleaned_dir)?;
        let mut seg = Segment::create(&cleaned_dir, base)?;
        for (k, v, o, t) in &kept {
            let mut b = batch::build(&[(k.as_deref(), v.as_deref())], *t);
            batch::assign(&mut b, *o, 0);
            let h = batch::parse_header(&b).map_err(io::Error::other)?;
            seg.append(&b, &[h], self.config.index_interval_bytes)?;
        }
        seg.flush()?;
        drop(seg);
        let old: Vec<Segment> = self.segments.drain(..n).collect();
        for s in old {
            s.remove_files()?;
        }
        for ext in ["log", "index", "timeindex"] {
            let name = super::segment::file_name(base, ext);
            std::fs::rename(cleaned_dir.join(&name), self.dir.join(&name))?;
        }
        std::fs::remove_dir_all(&cleaned_dir)?;
        let (seg, _) = Segment::open(&self.dir, base, false, self.config.index_interval_bytes)?;
        self.segments.insert(0, seg);
        Ok(n)
    }

    pub fn close(mut self) -> io::Result<()> {
        self.flush()
    }
}

#[cfg(test)]
mod tests;
