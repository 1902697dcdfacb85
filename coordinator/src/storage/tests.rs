use super::*;
use crate::proto::records::Acl;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("strom-storage-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn txn(zxid: i64) -> (TxnHeader, Txn) {
    (
        TxnHeader { session_id: 0, cxid: 0, zxid, time: 0 },
        Txn::Create { path: format!("/n{zxid}"), data: vec![1; 10].into(), acl: Acl::world_all(), ephemeral_owner: 0, parent_cversion: zxid as i32 },
    )
}

#[test]
fn replays_log_and_truncates_torn_tail() {
    let d = tmp("torn");
    {
        let (mut s, _) = Storage::open(&d, &d, 1000).unwrap();
        s.append(&[txn(1), txn(2)]).unwrap();
        s.append(&[txn(3)]).unwrap();
    }
    // Tear the last record in half.
    let log = list(&d.join("version-2"), "log")[0].1.clone();
    let len = fs::metadata(&log).unwrap().len();
    let f = OpenOptions::new().write(true).open(&log).unwrap();
    f.set_len(len - 5).unwrap();
    drop(f);
    let (mut s, t) = Storage::open(&d, &d, 1000).unwrap();
    assert_eq!(t.last_zxid, 2);
    assert!(t.get("/n2").is_some() && t.get("/n3").is_none());
    // New appends continue cleanly after the cut.
    s.append(&[txn(3)]).unwrap();
    drop(s);
    let (_, t) = Storage::open(&d, &d, 1000).unwrap();
    assert_eq!(t.last_zxid, 3);
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn corrupt_byte_is_detected_by_checksum() {
    let d = tmp("crc");
    {
        let (mut s, _) = Storage::open(&d, &d, 1000).unwrap();
        s.append(&[txn(1), txn(2)]).unwrap();
    }
    let log = list(&d.join("version-2"), "log")[0].1.clone();
    let mut bytes = fs::read(&log).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0xff;
    fs::write(&log, bytes).unwrap();
    let (_, t) = Storage::open(&d, &d, 1000).unwrap();
    assert_eq!(t.last_zxid, 1);
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn snapshots_roll_the_log_and_purge_keeps_retained() {
    let d = tmp("snap");
    let l = tmp("snaplog");
    {
        let (mut s, mut tree) = Storage::open(&d, &l, 2).unwrap();
        s.purge_enabled = true;
        s.snap_retain = 3;
        for z in 1..=20 {
            let (h, t) = txn(z);
            tree.apply(&h, &t, &mut Vec::new());
            s.append(&[(h, t)]).unwrap();
            s.maybe_snapshot(&tree).unwrap();
            s.finish();
        }
    }
    let snaps = list(&d.join("version-2"), "snapshot");
    assert_eq!(snaps.len(), 3, "{snaps:?}");
    let (_, t) = Storage::open(&d, &l, 2).unwrap();
    assert_eq!(t.last_zxid, 20);
    assert_eq!(t.node_count(), 4 + 20);
    fs::remove_dir_all(&d).unwrap();
    fs::remove_dir_all(&l).unwrap();
}
