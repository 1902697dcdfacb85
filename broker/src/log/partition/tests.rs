use std::collections::BTreeMap;

use super::*;
use crate::config::BrokerConfig;

fn config(overrides: &[(&str, &str)]) -> LogConfig {
    let b = BrokerConfig::parse("broker.id=0\nzookeeper.connect=x:1\n", "t", &[]).unwrap();
    let o: BTreeMap<String, String> = overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    LogConfig::resolve(&b.log, &o).unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("strom-broker-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn produce(log: &mut PartitionLog, values: &[&str], ts: i64) -> Appended {
    let recs: Vec<batch::KeyValue<'_>> = values.iter().map(|v| (None, Some(v.as_bytes()))).collect();
    let data = batch::build(&recs, ts);
    let batches = batch::split_batches(&data, 1 << 20).unwrap();
    let a = log.append(data, &batches, 0).unwrap();
    // the sole replica: committed at once
    log.advance_high_watermark(log.next_offset);
    a
}

fn values(bytes: &[u8]) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let h = batch::validate(&bytes[at..]).unwrap();
        for (o, _, _, v) in batch::records(&bytes[at..at + h.size()]).unwrap() {
            out.push((o, String::from_utf8(v.unwrap().to_vec()).unwrap()));
        }
        at += h.size();
    }
    out
}

#[test]
fn append_assigns_offsets_and_reads_whole_batches() {
    let root = tmp("append");
    let (mut log, _) = PartitionLog::open(&root, TopicPartition::new("t", 0), config(&[])).unwrap();
    assert_eq!(produce(&mut log, &["a", "b"], 10).base_offset, 0);
    assert_eq!(produce(&mut log, &["c"], 20).base_offset, 2);
    // Offset 1 lies inside the first batch: the whole batch comes back.
    let r = log.read(1, 1 << 20, true).unwrap().unwrap();
    assert_eq!(values(&r.bytes), vec![(0, "a".into()), (1, "b".into()), (2, "c".into())]);
    assert_eq!(r.high_watermark, 3);
    // max_bytes smaller than the first batch: one batch with min_one, none without.
    assert_eq!(values(&log.read(2, 1, true).unwrap().unwrap().bytes), vec![(2, "c".into())]);
    assert!(log.read(2, 1, false).unwrap().unwrap().bytes.is_empty());
    assert!(log.read(3, 100, true).unwrap().unwrap().bytes.is_empty());
    assert!(log.read(4, 100, true).unwrap().is_none());
    // Past the high watermark but not the log end (a new leader's watermark lags what the old
    // leader told its consumers): an empty read, not out of range.
    let data = batch::build(&[(None, Some(b"d".as_slice()))], 30);
    let batches = batch::split_batches(&data, 1 << 20).unwrap();
    log.append(data, &batches, 0).unwrap();
    assert_eq!((log.high_watermark, log.next_offset), (3, 4));
    let r = log.read(4, 100, true).unwrap().expect("offset 4 is the log end: in range");
    assert!(r.bytes.is_empty());
    assert!(log.read(3, 100, true).unwrap().unwrap().bytes.is_empty(), "offset 3 is at the high watermark");
    assert!(log.read(5, 100, true).unwrap().is_none(), "past the log end");
    assert_eq!(log.offset_for_timestamp(15).unwrap(), Some((2, 20)));
    assert_eq!(log.offset_for_timestamp(5).unwrap(), Some((0, 10)));
    assert_eq!(log.offset_for_timestamp(25).unwrap(), None);
}

#[test]
fn rolls_segments_and_enforces_retention_by_bytes_and_time() {
    let root = tmp("roll");
    let cfg = config(&[("segment.bytes", "200"), ("retention.bytes", "400")]);
    let (mut log, _) = PartitionLog::open(&root, TopicPartition::new("t", 0), cfg).unwrap();
    for i in 0..20 {
        produce(&mut log, &[&format!("value-{i:04}-padding-padding-padding")], 1000 + i);
    }
    assert!(log.segment_count() > 3, "{} segments", log.segment_count());
    let deleted = log.enforce_retention(now_ms()).unwrap();
    assert!(deleted > 0);
    assert!(log.size_bytes() <= 400 + 200, "{}", log.size_bytes());
    assert!(log.log_start_offset > 0);
    assert!(log.read(0, 100, true).unwrap().is_none(), "deleted offsets are out of range");
    let start = log.log_start_offset;
    assert_eq!(values(&log.read(start, 100, true).unwrap().unwrap().bytes)[0].0, start);

    // Time: timestamps from 1970 are far past retention.ms.
    let root = tmp("roll-time");
    let (mut log, _) = PartitionLog::open(&root, TopicPartition::new("t", 0), config(&[("segment.bytes", "200"), ("retention.ms", "1000")])).unwrap();
    for i in 0..10 {
        produce(&mut log, &[&format!("old-{i:04}-padding-padding-padding-padding")], 1000);
    }
    produce(&mut log, &["new"], now_ms());
    log.enforce_retention(now_ms()).unwrap();
    // Every segment holding only old records went; the one shared with the new record stays.
    assert!((8..=10).contains(&log.log_start_offset), "{}", log.log_start_offset);
    assert_eq!(values(&log.read(10, 100, true).unwrap().unwrap().bytes).last().unwrap().1, "new");
}

#[test]
fn reopening_restores_offsets_and_cuts_a_torn_tail() {
    let root = tmp("reopen");
    let tp = TopicPartition::new("t", 0);
    let (mut log, _) = PartitionLog::open(&root, tp.clone(), config(&[("segment.bytes", "300")])).unwrap();
    for i in 0..10 {
        produce(&mut log, &[&format!("v{i}-padding-padding-padding-padding")], 1000 + i);
    }
    log.close().unwrap();
    // Tear the active segment's last batch and delete an older segment's index.
    let mut logs: Vec<_> = std::fs::read_dir(root.join("t-0")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().unwrap() == "log").collect();
    logs.sort();
    let active = logs.last().unwrap();
    let len = std::fs::metadata(active).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(active).unwrap();
    f.set_len(len - 5).unwrap();
    std::fs::remove_file(logs[0].with_extension("index")).unwrap();
    let (log, report) = PartitionLog::open(&root, tp, config(&[("segment.bytes", "300")])).unwrap();
    assert!(report.truncated_bytes > 0);
    assert_eq!(log.next_offset, 9);
    let all = values(&log.read(0, 1 << 20, true).unwrap().unwrap().bytes);
    assert_eq!(all[0], (0, "v0-padding-padding-padding-padding".into()));
    let mut o = 0;
    while o < 9 {
        let r = values(&log.read(o, 1 << 20, true).unwrap().unwrap().bytes);
        assert_eq!(r[0].0, o);
        o = r.last().unwrap().0 + 1;
    }
}

#[test]
fn idempotent_producer_state_survives_reopen() {
    let root = tmp("idem");
    let tp = TopicPartition::new("t", 0);
    let (mut log, _) = PartitionLog::open(&root, tp.clone(), config(&[])).unwrap();
    let mut data = batch::build(&[(None, Some(b"x")), (None, Some(b"y"))], 5);
    // producer id 42, epoch 0, base sequence 0
    data[43..51].copy_from_slice(&42i64.to_be_bytes());
    data[51..53].copy_from_slice(&0i16.to_be_bytes());
    data[53..57].copy_from_slice(&0i32.to_be_bytes());
    let crc = crc32c::crc32c(&data[21..]);
    data[17..21].copy_from_slice(&crc.to_be_bytes());
    let batches = batch::split_batches(&data, 1 << 20).unwrap();
    produce(&mut log, &["before"], 1);
    let first = log.append(data.clone(), &batches, 0).unwrap();
    assert_eq!((first.base_offset, first.duplicate), (1, false));
    log.close().unwrap();
    let (mut log, _) = PartitionLog::open(&root, tp, config(&[])).unwrap();
    let again = log.append(data, &batches, 0).unwrap();
    assert_eq!((again.base_offset, again.duplicate), (1, true));
    assert_eq!(log.next_offset, 3);
}

#[test]
fn delete_records_and_compaction() {
    let root = tmp("compact");
    let (mut log, _) = PartitionLog::open(&root, TopicPartition::new("t", 0), config(&[("segment.bytes", "150"), ("cleanup.policy", "compact")])).unwrap();
    for i in 0..30 {
        let key = format!("k{}", i % 3);
        let val = format!("v{i}");
        let data = batch::build(&[(Some(key.as_bytes()), Some(val.as_bytes()))], 1);
        let b = batch::split_batches(&data, 1 << 20).unwrap();
        log.append(data, &b, 0).unwrap();
        log.advance_high_watermark(log.next_offset);
    }
    let before = log.segment_count();
    assert!(log.compact().unwrap() > 0);
    assert!(log.segment_count() < before);
    let mut seen = BTreeMap::new();
    log.for_each_batch(|_, b| {
        for (o, _, k, v) in batch::records(b).unwrap() {
            seen.insert(String::from_utf8(k.unwrap().to_vec()).unwrap(), (o, String::from_utf8(v.unwrap().to_vec()).unwrap()));
        }
    })
    .unwrap();
    assert_eq!(seen["k0"].1, "v27");
    assert_eq!(seen["k2"].1, "v29");
    assert_eq!(log.delete_records(5).unwrap(), Ok(5));
    assert!(log.read(4, 100, true).unwrap().is_none());
    assert_eq!(log.delete_records(1000).unwrap(), Err(()));
}

#[test]
fn flush_messages_and_flush_ms() {
    let root = tmp("flush");
    let (mut log, _) = PartitionLog::open(&root, TopicPartition::new("t", 0), config(&[("flush.messages", "3")])).unwrap();
    produce(&mut log, &["a", "b"], 1);
    assert_eq!(log.unflushed, 2, "page cache until flush.messages");
    produce(&mut log, &["c"], 1);
    assert_eq!(log.unflushed, 0, "fsynced at flush.messages");

    let root = tmp("flush-ms");
    let (mut log, _) = PartitionLog::open(&root, TopicPartition::new("t", 0), config(&[("flush.ms", "50")])).unwrap();
    produce(&mut log, &["a"], 1);
    log.flush_if_due().unwrap();
    assert_eq!(log.unflushed, 1, "not yet due");
    std::thread::sleep(std::time::Duration::from_millis(60));
    log.flush_if_due().unwrap();
    assert_eq!(log.unflushed, 0, "fsynced once flush.ms passed");
    // The default (no flush settings) leaves writes to the page cache.
    let (mut log, _) = PartitionLog::open(&tmp("flush-default"), TopicPartition::new("t", 0), config(&[])).unwrap();
    produce(&mut log, &["a"], 1);
    log.flush_if_due().unwrap();
    assert_eq!(log.unflushed, 1);
}

#[test]
fn a_follower_copies_batches_as_they_are_and_truncates_a_divergent_suffix() {
    let (ra, rb) = (tmp("leader"), tmp("follower"));
    let (mut leader, _) = PartitionLog::open(&ra, TopicPartition::new("t", 0), config(&[])).unwrap();
    let (mut follower, _) = PartitionLog::open(&rb, TopicPartition::new("t", 0), config(&[])).unwrap();
    leader.start_epoch(3);
    for i in 0..5 {
        let recs = [(None, Some(format!("v{i}").into_bytes()))];
        let recs: Vec<batch::KeyValue<'_>> = recs.iter().map(|(k, v): &(Option<&[u8]>, Option<Vec<u8>>)| (*k, v.as_deref())).collect();
        let data = batch::build(&recs, 1000 + i);
        let b = batch::split_batches(&data, 1 << 20).unwrap();
        leader.append(data, &b, 3).unwrap();
    }
    assert_eq!(leader.high_watermark, 0, "an append alone does not commit");
    let r = leader.read_upto(0, 1 << 20, true, leader.next_offset).unwrap().unwrap();
    assert_eq!(follower.append_replicated(&r.bytes).unwrap(), 5);
    assert_eq!(follower.next_offset, 5);
    assert_eq!(follower.epochs, vec![(3, 0)]);
    // the same batches again are skipped; a gap is refused
    assert_eq!(follower.append_replicated(&r.bytes).unwrap(), 0);
    let later = leader.read_upto(3, 1 << 20, true, leader.next_offset).unwrap().unwrap();
    follower.truncate_to(2).unwrap();
    assert_eq!(follower.next_offset, 2);
    assert!(follower.append_replicated(&later.bytes).is_err());
    // copies are byte for byte the leader's
    let back = leader.read_upto(2, 1 << 20, true, leader.next_offset).unwrap().unwrap();
    assert_eq!(follower.append_replicated(&back.bytes).unwrap(), 3);
    let mine = follower.read_upto(0, 1 << 20, true, follower.next_offset).unwrap().unwrap();
    assert_eq!(mine.bytes, r.bytes);
    // the high watermark a follower takes is the leader's, capped by its own end
    follower.truncate_to(4).unwrap();
    assert!(follower.set_follower_high_watermark(5));
    assert_eq!(follower.high_watermark, 4);
    // reopened, the truncated log is intact
    drop(follower);
    let (f2, _) = PartitionLog::open(&rb, TopicPartition::new("t", 0), config(&[])).unwrap();
    assert_eq!(f2.next_offset, 4);
    // a reset starts an empty log at the leader's start
    let (mut f3, _) = PartitionLog::open(&rb, TopicPartition::new("t", 0), config(&[])).unwrap();
    f3.reset_to(10).unwrap();
    assert_eq!((f3.log_start_offset, f3.next_offset, f3.epochs.len()), (10, 10, 0));
    let _ = std::fs::remove_dir_all(&ra);
    let _ = std::fs::remove_dir_all(&rb);
}
