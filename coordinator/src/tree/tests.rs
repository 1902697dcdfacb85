use super::*;
use crate::proto::codes::{perm, ttl_owner, CONTAINER_EPHEMERAL_OWNER};
use crate::proto::records::Id;

fn h(zxid: i64) -> TxnHeader {
    TxnHeader { session_id: 7, cxid: 0, zxid, time: 1000 + zxid }
}

fn create(path: &str, owner: i64, parent_cversion: i32) -> Txn {
    Txn::Create { path: path.into(), data: b"d".to_vec().into(), acl: Acl::world_all(), ephemeral_owner: owner, parent_cversion }
}

#[test]
fn parent_cversion_counts_creates_and_deletes_as_zookeeper_shows_it() {
    let mut t = DataTree::new();
    let mut ch = Vec::new();
    t.apply(&h(1), &create("/a", 0, 2), &mut ch);
    t.apply(&h(2), &create("/a/b", 0, 1), &mut ch);
    let a = t.get("/a").unwrap().stat();
    assert_eq!((a.cversion, a.pzxid, a.num_children, a.czxid), (1, 2, 1, 1));
    assert_eq!(t.get("/").unwrap().stat().cversion, 2 * 2 - 2); // stored 2 (from the txn), children: zookeeper, a
    t.apply(&h(3), &Txn::Delete { path: "/a/b".into() }, &mut ch);
    let a = t.get("/a").unwrap().stat();
    assert_eq!((a.cversion, a.pzxid, a.num_children), (2, 3, 0));
    assert_eq!(t.last_zxid, 3);
    assert_eq!(
        ch,
        vec![
            Change::Created("/a".into()),
            Change::ChildrenChanged("/".into()),
            Change::Created("/a/b".into()),
            Change::ChildrenChanged("/a".into()),
            Change::Deleted("/a/b".into()),
            Change::ChildrenChanged("/a".into()),
        ]
    );
}

#[test]
fn set_data_and_acl_update_versions() {
    let mut t = DataTree::new();
    let mut ch = Vec::new();
    t.apply(&h(1), &create("/a", 0, 1), &mut ch);
    let r = t.apply(&h(2), &Txn::SetData { path: "/a".into(), data: b"xyz".to_vec().into(), version: 1 }, &mut ch);
    let OpResult::DataSet { stat } = r else { panic!("{r:?}") };
    assert_eq!((stat.version, stat.mzxid, stat.czxid, stat.data_length, stat.mtime), (1, 2, 1, 3, 1002));
    let acl = vec![Acl { perms: perm::READ, id: Id { scheme: "world".into(), id: "anyone".into() } }];
    let r = t.apply(&h(3), &Txn::SetAcl { path: "/a".into(), acl: acl.clone(), aversion: 1 }, &mut ch);
    assert!(matches!(r, OpResult::AclSet { stat } if stat.aversion == 1 && stat.mzxid == 2));
    assert_eq!(*t.get("/a").unwrap().acl, acl);
}

#[test]
fn close_session_removes_its_ephemerals_only() {
    let mut t = DataTree::new();
    let mut ch = Vec::new();
    t.apply(&h(1), &Txn::CreateSession { timeout: 4000, passwd: vec![1; 16] }, &mut ch);
    t.apply(&h(2), &create("/e1", 7, 1), &mut ch);
    t.apply(&h(3), &create("/e2", 8, 2), &mut ch);
    t.apply(&h(4), &create("/c", CONTAINER_EPHEMERAL_OWNER, 3), &mut ch);
    t.apply(&h(5), &create("/t", ttl_owner(100), 4), &mut ch);
    assert_eq!(t.ephemerals_of(7).collect::<Vec<_>>(), vec!["/e1"]);
    assert_eq!(t.containers().len(), 1);
    assert_eq!(t.ttls().len(), 1);
    t.apply(&h(6), &Txn::CloseSession, &mut ch);
    assert!(t.get("/e1").is_none());
    assert!(t.get("/e2").is_some());
    assert!(t.sessions.is_empty());
    assert_eq!(t.ephemeral_count(), 1);
}

#[test]
fn rollback_restores_everything() {
    let mut t = DataTree::new();
    let mut ch = Vec::new();
    t.apply(&h(1), &create("/a", 0, 1), &mut ch);
    t.apply(&h(2), &create("/a/x", 5, 1), &mut ch);
    let before = t.clone();
    let mut undo = Vec::new();
    t.apply_undoable(&h(3), &create("/a/b", 0, 2), &mut ch, &mut undo);
    t.apply_undoable(&h(3), &Txn::SetData { path: "/a".into(), data: vec![9].into(), version: 1 }, &mut ch, &mut undo);
    t.apply_undoable(&h(3), &Txn::SetAcl { path: "/a".into(), acl: vec![], aversion: 1 }, &mut ch, &mut undo);
    t.apply_undoable(&h(3), &Txn::Delete { path: "/a/x".into() }, &mut ch, &mut undo);
    t.rollback(undo);
    assert_eq!(t.nodes, before.nodes);
    assert_eq!(t.ephemerals, before.ephemerals);
}

#[test]
fn descendant_count_and_initial_nodes() {
    let mut t = DataTree::new();
    assert_eq!(t.descendant_count("/"), 3); // /zookeeper, quota, config
    let mut ch = Vec::new();
    t.apply(&h(1), &create("/a", 0, 1), &mut ch);
    t.apply(&h(2), &create("/a/b", 0, 1), &mut ch);
    t.apply(&h(3), &create("/a/b/c", 0, 1), &mut ch);
    assert_eq!(t.descendant_count("/a"), 2);
    assert_eq!(t.descendant_count("/"), 6);
}

proptest::proptest! {
    /// Applying the same transactions to two trees gives equal trees (determinism), and a
    /// snapshot round trip preserves the tree.
    #[test]
    fn deterministic_and_snapshot_roundtrip(ops in proptest::collection::vec((0u8..4, 0u8..6, 0u8..6), 1..60)) {
        let mut a = DataTree::new();
        let mut b = DataTree::new();
        let mut zxid = 0;
        for (kind, x, y) in ops {
            zxid += 1;
            let parent = if x == 0 { "/".to_string() } else { format!("/n{x}") };
            let path = if x == 0 { format!("/n{y}") } else { format!("{parent}/m{y}") };
            let cv = a.get(&parent).map(|n| n.stat.cversion + 1).unwrap_or(1);
            let txn = match kind {
                0 if a.get(&parent).is_some_and(|n| n.stat.ephemeral_owner == 0) && a.get(&path).is_none() => create(&path, if y % 2 == 0 { 0 } else { 7 }, cv),
                1 if a.get(&path).is_some_and(|n| n.children.is_empty()) => Txn::Delete { path },
                2 if a.get(&path).is_some() => Txn::SetData { path, data: vec![y].into(), version: 3 },
                3 => Txn::CloseSession,
                _ => Txn::Error { err: -101 },
            };
            let hh = h(zxid);
            a.apply(&hh, &txn, &mut Vec::new());
            b.apply(&hh, &txn, &mut Vec::new());
        }
        proptest::prop_assert_eq!(&a.nodes, &b.nodes);
        let dir = std::env::temp_dir().join(format!("strom-snap-{}-{}", std::process::id(), zxid));
        std::fs::create_dir_all(&dir).unwrap();
        let p = crate::storage::snapshot::write(&dir, &a).unwrap();
        let back = crate::storage::snapshot::read(&p).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        proptest::prop_assert_eq!(&back.nodes, &a.nodes);
        proptest::prop_assert_eq!(&back.ephemerals, &a.ephemerals);
        proptest::prop_assert_eq!(back.last_zxid, a.last_zxid);
    }
}
