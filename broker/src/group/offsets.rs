//! Records of `__consumer_offsets` in Kafka's own schema (GroupMetadataManager), so Kafka tools
//! can read them: key v1 {group, topic, partition} → value v3 {offset, leader_epoch, metadata,
//! commit_timestamp}; a null value deletes. Pure.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetKey {
    pub group: String,
    pub topic: String,
    pub partition: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as i16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<String> {
        let n = self.i16()?;
        if n < 0 {
            return Some(String::new());
        }
        String::from_utf8(self.take(n as usize)?.to_vec()).ok()
    }
}

pub fn encode_key(k: &OffsetKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + k.group.len() + k.topic.len());
    out.extend_from_slice(&1i16.to_be_bytes());
    put_str(&mut out, &k.group);
    put_str(&mut out, &k.topic);
    out.extend_from_slice(&k.partition.to_be_bytes());
    out
}

pub fn encode_value(v: &OffsetValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + v.metadata.len());
    out.extend_from_slice(&3i16.to_be_bytes());
    out.extend_from_slice(&v.offset.to_be_bytes());
    out.extend_from_slice(&v.leader_epoch.to_be_bytes());
    put_str(&mut out, &v.metadata);
    out.extend_from_slice(&v.commit_timestamp.to_be_bytes());
    out
}

/// An offset commit key (versions 0 and 1); `None` for group metadata keys (version 2) or garbage.
pub fn decode_key(b: &[u8]) -> Option<OffsetKey> {
    let mut r = Reader { b, at: 0 };
    match r.i16()? {
        0 | 1 => Some(OffsetKey { group: r.str()?, topic: r.str()?, partition: r.i32()? }),
        _ => None,
    }
}

/// Offset commit values, versions 0 to 3.
pub fn decode_value(b: &[u8]) -> Option<OffsetValue> {
    let mut r = Reader { b, at: 0 };
    let version = r.i16()?;
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.str()?;
    let commit_timestamp = r.i64()?;
    Some(OffsetValue { offset, leader_epoch, metadata, commit_timestamp })
}

/// Kafka's `Utils.abs(groupId.hashCode()) % n`: Java's String.hashCode over UTF-16 units.
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    let mut h: i32 = 0;
    for u in group.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(u as i32);
    }
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_kafka_partitioning() {
        let k = OffsetKey { group: "g".into(), topic: "t".into(), partition: 3 };
        assert_eq!(decode_key(&encode_key(&k)), Some(k));
        let v = OffsetValue { offset: 42, leader_epoch: 1, metadata: "meta".into(), commit_timestamp: 9 };
        assert_eq!(decode_value(&encode_value(&v)), Some(v));
        assert_eq!(decode_key(&[0, 2, 0, 1, b'g']), None);
        assert_eq!(decode_value(&[0, 3, 1]), None);
        // "my-group".hashCode() == -1906497762 in Java → abs % 50 == 12
        assert_eq!(partition_for("my-group", 50), 12);
        assert_eq!(partition_for("", 50), 0);
    }
}
