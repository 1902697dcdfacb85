//! Kafka record batches (magic 2), read and validated without decoding records.
//!
//! ```text
//! 0  baseOffset i64        8  batchLength i32      12 partitionLeaderEpoch i32
//! 16 magic i8              17 crc u32 (CRC-32C of bytes 21..end)
//! 21 attributes i16        23 lastOffsetDelta i32  27 baseTimestamp i64
//! 35 maxTimestamp i64      43 producerId i64       51 producerEpoch i16
//! 53 baseSequence i32      57 recordCount i32      61 records...
//! ```
//! Produce stores batches as the client sent them; only the base offset, the leader epoch (both
//! outside the CRC) and, for LogAppendTime topics, the max timestamp (CRC recomputed) change.

pub const HEADER_LEN: usize = 61;
/// The offset+length prefix every batch starts with.
pub const LOG_OVERHEAD: usize = 12;

const CRC_START: usize = 21;
const ATTR_COMPRESSION_MASK: i16 = 0x07;
const ATTR_LOG_APPEND_TIME: i16 = 0x08;
const ATTR_TRANSACTIONAL: i16 = 0x10;
const ATTR_CONTROL: i16 = 0x20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Bytes after the length field.
    pub batch_length: i32,
    pub leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

impl BatchHeader {
    /// Whole size on disk and on the wire.
    pub fn size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length as usize
    }
    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }
    pub fn compression(&self) -> i16 {
        self.attributes & ATTR_COMPRESSION_MASK
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        // Sequences wrap at i32::MAX like Kafka's DefaultRecordBatch.incrementSequence.
        ((self.base_sequence as i64 + self.last_offset_delta as i64) % (i32::MAX as i64 + 1)) as i32
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("record set is truncated")]
    Truncated,
    #[error("unsupported record batch magic {0} (only magic 2 is stored)")]
    Magic(i8),
    #[error("record batch length {0} is invalid")]
    Length(i32),
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Crc { stored: u32, computed: u32 },
    #[error("record batch has {count} records but last offset delta {delta}")]
    Count { count: i32, delta: i32 },
    #[error("record batch of {size} bytes exceeds the maximum {max}")]
    TooLarge { size: usize, max: usize },
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Parses the header at the start of `b` (needs `HEADER_LEN` bytes; does not check the CRC).
pub fn parse_header(b: &[u8]) -> Result<BatchHeader, BatchError> {
    if b.len() < LOG_OVERHEAD + 5 {
        return Err(BatchError::Truncated);
    }
    let magic = b[16] as i8;
    if magic != 2 {
        return Err(BatchError::Magic(magic));
    }
    if b.len() < HEADER_LEN {
        return Err(BatchError::Truncated);
    }
    let batch_length = i32_at(b, 8);
    if (batch_length as i64) < (HEADER_LEN - LOG_OVERHEAD) as i64 {
        return Err(BatchError::Length(batch_length));
    }
    Ok(BatchHeader {
        base_offset: i64_at(b, 0),
        batch_length,
        leader_epoch: i32_at(b, 12),
        magic,
        crc: i32_at(b, 17) as u32,
        attributes: i16_at(b, 21),
        last_offset_delta: i32_at(b, 23),
        base_timestamp: i64_at(b, 27),
        max_timestamp: i64_at(b, 35),
        producer_id: i64_at(b, 43),
        producer_epoch: i16_at(b, 51),
        base_sequence: i32_at(b, 53),
        record_count: i32_at(b, 57),
    })
}

/// Validates one whole batch (header, length, CRC, record count).
pub fn validate(b: &[u8]) -> Result<BatchHeader, BatchError> {
    let h = parse_header(b)?;
    if b.len() < h.size() {
        return Err(BatchError::Truncated);
    }
    let computed = crc32c::crc32c(&b[CRC_START..h.size()]);
    if computed != h.crc {
        return Err(BatchError::Crc { stored: h.crc, computed });
    }
    if h.record_count < 0 || h.last_offset_delta < 0 || (h.record_count > 0 && h.last_offset_delta < h.record_count - 1) {
        return Err(BatchError::Count { count: h.record_count, delta: h.last_offset_delta });
    }
    Ok(h)
}

/// Splits a produce request's record set into validated batches (each `max_size` bytes at most).
pub fn split_batches(records: &[u8], max_size: usize) -> Result<Vec<(BatchHeader, std::ops::Range<usize>)>, BatchError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < records.len() {
        let rest = &records[at..];
        if rest.len() < LOG_OVERHEAD {
            return Err(BatchError::Truncated);
        }
        let len = i32_at(rest, 8);
        if len < 0 {
            return Err(BatchError::Length(len));
        }
        let size = LOG_OVERHEAD + len as usize;
        if size > max_size {
            return Err(BatchError::TooLarge { size, max: max_size });
        }
        let h = validate(rest)?;
        out.push((h, at..at + size));
        at += size;
    }
    Ok(out)
}

/// Sets the base offset and leader epoch (both outside the CRC) in place.
pub fn assign(b: &mut [u8], base_offset: i64, leader_epoch: i32) {
    b[0..8].copy_from_slice(&base_offset.to_be_bytes());
    b[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Marks the batch LogAppendTime with `now` as its max timestamp and recomputes the CRC.
pub fn set_log_append_time(b: &mut [u8], now: i64) {
    let attrs = i16_at(b, 21) | ATTR_LOG_APPEND_TIME;
    b[21..23].copy_from_slice(&attrs.to_be_bytes());
    b[35..43].copy_from_slice(&now.to_be_bytes());
    let size = LOG_OVERHEAD + i32_at(b, 8) as usize;
    let crc = crc32c::crc32c(&b[CRC_START..size]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Builds an uncompressed batch of `(key, value)` records (for the broker's own topics).
/// A record to build: (key, value), either may be null.
pub type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

pub fn build(records: &[KeyValue<'_>], timestamp: i64) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, (k, v)) in records.iter().enumerate() {
        let mut rec = Vec::new();
        rec.push(0u8); // attributes
        put_varlong(&mut rec, 0); // timestamp delta
        put_varlong(&mut rec, i as i64); // offset delta
        match k {
            Some(k) => {
                put_varlong(&mut rec, k.len() as i64);
                rec.extend_from_slice(k);
            }
            None => put_varlong(&mut rec, -1),
        }
        match v {
            Some(v) => {
                put_varlong(&mut rec, v.len() as i64);
                rec.extend_from_slice(v);
            }
            None => put_varlong(&mut rec, -1),
        }
        put_varlong(&mut rec, 0); // headers
        put_varlong(&mut body, rec.len() as i64);
        body.extend_from_slice(&rec);
    }
    let mut b = Vec::with_capacity(HEADER_LEN + body.len());
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((HEADER_LEN - LOG_OVERHEAD + body.len()) as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    b.push(2);
    b.extend_from_slice(&0u32.to_be_bytes());
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&(records.len() as i32 - 1).max(0).to_be_bytes());
    b.extend_from_slice(&timestamp.to_be_bytes());
    b.extend_from_slice(&timestamp.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&(records.len() as i32).to_be_bytes());
    b.extend_from_slice(&body);
    let crc = crc32c::crc32c(&b[CRC_START..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// One record of an uncompressed batch: (offset, timestamp, key, value).
pub type Record<'a> = (i64, i64, Option<&'a [u8]>, Option<&'a [u8]>);

/// Reads the records of an uncompressed batch (used for the broker's own compacted topics).
pub fn records(b: &[u8]) -> Result<Vec<Record<'_>>, BatchError> {
    let h = validate(b)?;
    if h.compression() != 0 {
        return Err(BatchError::Magic(h.magic));
    }
    let mut at = HEADER_LEN;
    let end = h.size();
    let mut out = Vec::with_capacity(h.record_count.clamp(0, 4096) as usize);
    for _ in 0..h.record_count {
        let len = get_varlong(b, &mut at, end)?;
        let rec_end = at.checked_add(usize::try_from(len).map_err(|_| BatchError::Truncated)?).ok_or(BatchError::Truncated)?;
        if rec_end > end {
            return Err(BatchError::Truncated);
        }
        at += 1; // attributes
        let ts_delta = get_varlong(b, &mut at, rec_end)?;
        let off_delta = get_varlong(b, &mut at, rec_end)?;
        let key = get_bytes(b, &mut at, rec_end)?;
        let value = get_bytes(b, &mut at, rec_end)?;
        out.push((h.base_offset + off_delta, h.base_timestamp + ts_delta, key, value));
        at = rec_end;
    }
    Ok(out)
}

fn get_bytes<'a>(b: &'a [u8], at: &mut usize, end: usize) -> Result<Option<&'a [u8]>, BatchError> {
    let len = get_varlong(b, at, end)?;
    if len < 0 {
        return Ok(None);
    }
    let stop = at.checked_add(len as usize).ok_or(BatchError::Truncated)?;
    if stop > end {
        return Err(BatchError::Truncated);
    }
    let s = &b[*at..stop];
    *at = stop;
    Ok(Some(s))
}

fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn get_varlong(b: &[u8], at: &mut usize, end: usize) -> Result<i64, BatchError> {
    let mut z: u64 = 0;
    let mut shift = 0;
    loop {
        if *at >= end || shift > 63 {
            return Err(BatchError::Truncated);
        }
        let byte = b[*at];
        *at += 1;
        z |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn built_batches_validate_and_read_back() {
        let b = build(&[(Some(b"k"), Some(b"v1")), (None, Some(b"v2")), (Some(b"gone"), None)], 1234);
        let h = validate(&b).unwrap();
        assert_eq!((h.record_count, h.last_offset_delta, h.size()), (3, 2, b.len()));
        let mut b2 = b.clone();
        assign(&mut b2, 40, 3);
        let recs = records(&b2).unwrap();
        assert_eq!(recs, vec![
            (40, 1234, Some(&b"k"[..]), Some(&b"v1"[..])),
            (41, 1234, None, Some(&b"v2"[..])),
            (42, 1234, Some(&b"gone"[..]), None),
        ]);
        assert_eq!(parse_header(&b2).unwrap().leader_epoch, 3);
    }

    #[test]
    fn crc_and_truncation_are_detected() {
        let b = build(&[(None, Some(b"hello"))], 1);
        let mut bad = b.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(validate(&bad), Err(BatchError::Crc { .. })));
        assert_eq!(validate(&b[..b.len() - 1]), Err(BatchError::Truncated));
        assert!(matches!(split_batches(&b, 10), Err(BatchError::TooLarge { .. })));
        let mut two = b.clone();
        two.extend_from_slice(&b);
        assert_eq!(split_batches(&two, 1 << 20).unwrap().len(), 2);
        let mut lat = b.clone();
        set_log_append_time(&mut lat, 99);
        let h = validate(&lat).unwrap();
        assert_eq!((h.max_timestamp, h.attributes & 0x08), (99, 0x08));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = split_batches(&data, 1 << 20);
            let _ = records(&data);
        }
    }
}
