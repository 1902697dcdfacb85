use super::*;
use crate::proto::jute::{Reader, Writer};
use crate::proto::records::write_acls;

fn limits() -> Limits {
    Limits { reconfig_enabled: false, skip_acl: false, super_digest: None, min_session_timeout: 4000, max_session_timeout: 40000, max_buffer: 1 << 20, server_id: 1, container_check_ms: 100 }
}

/// A processor with one connected session on connection 1.
fn connected() -> Processor {
    connected_with(limits())
}

fn connected_with(limits: Limits) -> Processor {
    let mut p = Processor::new(DataTree::new(), limits, 0);
    p.connection_opened(1, "127.0.0.1".parse().unwrap(), "127.0.0.1:5".into());
    let mut w = Writer::new();
    w.int(0).long(0).int(10_000).long(0).buffer(&[0; 16]).boolean(false);
    p.connect(1, &w.buf, 0);
    p.take_batch();
    p
}

fn create_req(xid: i32, opcode: i32, path: &str, flags: i32) -> Vec<u8> {
    let mut w = Writer::new();
    w.int(xid).int(opcode).ustring(path).buffer(b"v");
    write_acls(&mut w, &Acl::world_all());
    w.int(flags);
    w.buf
}

/// Reply headers (xid, zxid, err) of the frames sent to `conn`, in order.
fn headers(b: &Batch, conn: ConnId) -> Vec<(i32, i64, i32)> {
    b.out
        .iter()
        .filter_map(|o| match o {
            Out::Frame(c, f) if *c == conn => {
                let mut r = Reader::new(&f[4..]);
                Some((r.int().unwrap(), r.long().unwrap(), r.int().unwrap()))
            }
            _ => None,
        })
        .collect()
}

use crate::proto::records::Acl;

#[test]
fn failed_writes_take_a_zxid_and_reply_with_their_error() {
    let mut p = connected();
    p.request(1, &create_req(1, op::CREATE, "/a", 0), 10);
    p.request(1, &create_req(2, op::CREATE, "/a", 0), 10);
    p.request(1, &create_req(3, op::CREATE, "/missing/x", 0), 10);
    let b = p.take_batch();
    assert_eq!(headers(&b, 1), vec![(1, 2, 0), (2, 3, ErrorCode::NodeExists.code()), (3, 4, ErrorCode::NoNode.code())]);
    assert_eq!(b.txns.len(), 3);
}

#[test]
fn sequential_names_come_from_parent_cversion() {
    let mut p = connected();
    p.request(1, &create_req(1, op::CREATE, "/q", 0), 10);
    p.request(1, &create_req(2, op::CREATE, "/q/x", 0), 10);
    p.request(1, &create_req(3, op::CREATE2, "/q/s-", 2), 10);
    p.take_batch();
    assert!(p.tree.get("/q/s-0000000001").is_some());
}

#[test]
fn multi_failure_reports_zero_code_then_runtime_inconsistency() {
    let mut p = connected();
    let mut w = Writer::new();
    w.int(9).int(op::MULTI);
    w.int(op::CREATE).boolean(false).int(-1).ustring("/m").buffer(b"");
    write_acls(&mut w, &Acl::world_all());
    w.int(0);
    w.int(op::DELETE).boolean(false).int(-1).ustring("/nope").int(-1);
    w.int(op::SET_DATA).boolean(false).int(-1).ustring("/m").buffer(b"x").int(-1);
    w.int(-1).boolean(true).int(-1);
    p.request(1, &w.buf, 10);
    let b = p.take_batch();
    assert!(p.tree.get("/m").is_none(), "the multi's create was rolled back");
    let Out::Frame(_, f) = &b.out[0] else { panic!() };
    let mut r = Reader::new(&f[4..]);
    assert_eq!((r.int().unwrap(), r.long().unwrap(), r.int().unwrap()), (9, 2, 0));
    let mut got = vec![];
    loop {
        let (ty, done, err) = (r.int().unwrap(), r.boolean().unwrap(), r.int().unwrap());
        if done {
            break;
        }
        assert_eq!(ty, op::ERROR);
        assert_eq!(r.int().unwrap(), err);
        got.push(err);
    }
    assert_eq!(got, vec![0, ErrorCode::NoNode.code(), ErrorCode::RuntimeInconsistency.code()]);
}

#[test]
fn watch_event_precedes_the_reply_that_shows_the_change() {
    let mut p = connected();
    p.request(1, &create_req(1, op::CREATE, "/w", 0), 10);
    let mut w = Writer::new();
    w.int(2).int(op::GET_DATA).ustring("/w").boolean(true);
    p.request(1, &w.buf, 10);
    p.take_batch();
    let mut w = Writer::new();
    w.int(3).int(op::SET_DATA).ustring("/w").buffer(b"new").int(-1);
    p.request(1, &w.buf, 10);
    let b = p.take_batch();
    let hs = headers(&b, 1);
    assert_eq!(hs[0].0, xid::WATCH_EVENT);
    assert_eq!(hs[1].0, 3);
}

/// Creates /s (xid 1) readable and writable only by digest user u:p; returns its ACL.
fn create_digest_protected(p: &mut Processor) -> Vec<Acl> {
    let mut w = Writer::new();
    w.int(1).int(op::CREATE).ustring("/s").buffer(b"");
    let acl = vec![Acl { perms: 31, id: crate::proto::records::Id { scheme: "digest".into(), id: crate::tree::acl::digest("u:p") } }];
    write_acls(&mut w, &acl);
    w.int(0);
    p.request(1, &w.buf, 10);
    acl
}

#[test]
fn noauth_without_digest_and_allowed_with_it() {
    let mut p = connected();
    create_digest_protected(&mut p);
    let mut g = Writer::new();
    g.int(2).int(op::GET_DATA).ustring("/s").boolean(false);
    p.request(1, &g.buf, 10);
    let mut a = Writer::new();
    a.int(xid::AUTH).int(op::AUTH).int(0).ustring("digest").buffer(b"u:p");
    p.request(1, &a.buf, 10);
    p.request(1, &g.buf, 10);
    let hs = headers(&p.take_batch(), 1);
    assert_eq!(hs.iter().map(|h| h.2).collect::<Vec<_>>(), vec![0, ErrorCode::NoAuth.code(), 0, 0]);
}

#[test]
fn the_super_digest_user_passes_every_acl_and_others_do_not() {
    let mut p = connected_with(Limits { super_digest: Some(crate::tree::acl::digest("super:s3cret")), ..limits() });
    create_digest_protected(&mut p);
    let mut g = Writer::new();
    g.int(2).int(op::GET_DATA).ustring("/s").boolean(false);
    // a wrong super password is a plain digest identity: still no access
    for (pw, want) in [(&b"super:wrong"[..], ErrorCode::NoAuth.code()), (&b"super:s3cret"[..], 0)] {
        let mut a = Writer::new();
        a.int(xid::AUTH).int(op::AUTH).int(0).ustring("digest").buffer(pw);
        p.request(1, &a.buf, 10);
        p.request(1, &g.buf, 10);
        let hs = headers(&p.take_batch(), 1);
        assert_eq!(hs.last().unwrap().2, want, "{}", String::from_utf8_lossy(pw));
    }
}

#[test]
fn skip_acl_lets_every_request_through_and_keeps_the_acl() {
    for skip in [false, true] {
        let mut p = connected_with(Limits { skip_acl: skip, ..limits() });
        let acl = create_digest_protected(&mut p);
        let mut g = Writer::new();
        g.int(2).int(op::GET_DATA).ustring("/s").boolean(false);
        p.request(1, &g.buf, 10);
        let mut s = Writer::new();
        s.int(3).int(op::SET_DATA).ustring("/s").buffer(b"x").int(-1);
        p.request(1, &s.buf, 10);
        p.request(1, &create_req(4, op::CREATE, "/s/c", 0), 10);
        let hs = headers(&p.take_batch(), 1);
        let want = if skip { vec![0; 4] } else { vec![0, ErrorCode::NoAuth.code(), ErrorCode::NoAuth.code(), ErrorCode::NoAuth.code()] };
        assert_eq!(hs.iter().map(|h| h.2).collect::<Vec<_>>(), want, "skipACL={skip}");
        assert_eq!(*p.tree.get("/s").unwrap().acl, acl, "the ACL itself is kept");
    }
}

#[test]
fn expired_session_loses_ephemerals_and_resume_is_refused() {
    let mut p = connected();
    p.request(1, &create_req(1, op::CREATE, "/eph", 1), 10);
    let sid = p.conns[&1].session_id;
    let passwd = p.tree.sessions[&sid].passwd.clone();
    p.take_batch();
    p.connection_closed(1);
    p.tick(5_000); // before the 10 s timeout
    assert!(p.tree.get("/eph").is_some());
    p.tick(10_011);
    assert!(p.tree.get("/eph").is_none());
    p.connection_opened(2, "127.0.0.1".parse().unwrap(), "x".into());
    let mut w = Writer::new();
    w.int(0).long(0).int(10_000).long(sid).buffer(&passwd);
    p.take_batch();
    p.connect(2, &w.buf, 10_012);
    let b = p.take_batch();
    assert!(b.out.contains(&Out::Close(2)));
    let Out::Frame(_, f) = &b.out[0] else { panic!() };
    let mut r = Reader::new(&f[4..]);
    assert_eq!((r.int().unwrap(), r.int().unwrap(), r.long().unwrap()), (0, 0, 0));
}

#[test]
fn timeout_is_clamped_and_unknown_opcodes_are_unimplemented() {
    let mut p = Processor::new(DataTree::new(), limits(), 0);
    p.connection_opened(1, "127.0.0.1".parse().unwrap(), "x".into());
    let mut w = Writer::new();
    w.int(0).long(0).int(100).long(0).buffer(&[0; 16]);
    p.connect(1, &w.buf, 0);
    assert_eq!(p.conns[&1].timeout, 4000);
    p.take_batch();
    let mut w = Writer::new();
    w.int(5).int(999);
    p.request(1, &w.buf, 1);
    assert_eq!(headers(&p.take_batch(), 1)[0], (5, 1, ErrorCode::Unimplemented.code()));
}

#[test]
fn containers_go_after_their_last_child() {
    let mut p = connected();
    p.request(1, &create_req(1, op::CREATE_CONTAINER, "/c", 4), 10);
    p.request(1, &create_req(2, op::CREATE, "/c/x", 0), 10);
    p.tick(200);
    assert!(p.tree.get("/c").is_some());
    let mut w = Writer::new();
    w.int(3).int(op::DELETE).ustring("/c/x").int(-1);
    p.request(1, &w.buf, 300);
    p.tick(400);
    assert!(p.tree.get("/c").is_none());
}
