//! Raw-socket tests of the wire: pipelining before the ConnectResponse, old clients without the
//! readOnly byte, unknown opcodes, malformed and oversized frames, clients that stop reading.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use strom_coordinator::proto::codes::op;
use strom_coordinator::proto::jute::{Reader, Writer};

fn connect_frame(read_only: bool) -> Vec<u8> {
    let mut w = Writer::framed();
    w.int(0).long(0).int(10_000).long(0).buffer(&[0; 16]);
    if read_only {
        w.boolean(false);
    }
    w.finish_frame()
}

fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut b = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut b).ok()?;
    Some(b)
}

fn header(f: &[u8]) -> (i32, i64, i32) {
    let mut r = Reader::new(f);
    (r.int().unwrap(), r.long().unwrap(), r.int().unwrap())
}

fn open(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// A connection with a new session (ConnectResponse read).
fn session(port: u16) -> TcpStream {
    let mut s = open(port);
    s.write_all(&connect_frame(true)).unwrap();
    read_frame(&mut s).unwrap();
    s
}

fn exists(xid: i32, path: &str) -> Vec<u8> {
    let mut w = Writer::framed();
    w.int(xid).int(op::EXISTS).ustring(path).boolean(false);
    w.finish_frame()
}

fn ping() -> Vec<u8> {
    let mut w = Writer::framed();
    w.int(-2).int(op::PING);
    w.finish_frame()
}

#[test]
fn pipelined_before_connect_response_and_no_read_only_byte() {
    let server = common::Process::start("wire", "");
    let mut s = open(server.port);
    let mut all = connect_frame(false);
    for x in 1..=5 {
        all.extend(exists(x, "/zookeeper"));
    }
    s.write_all(&all).unwrap();
    let resp = read_frame(&mut s).unwrap();
    assert_eq!(resp.len(), 4 + 4 + 8 + 4 + 16, "no readOnly byte for a client that sent none");
    for x in 1..=5 {
        assert_eq!(header(&read_frame(&mut s).unwrap()).0, x, "replies in request order");
    }
    let mut s = open(server.port);
    s.write_all(&connect_frame(true)).unwrap();
    assert_eq!(read_frame(&mut s).unwrap().len(), 37);
}

#[test]
fn unknown_opcode_gets_unimplemented_and_the_connection_lives() {
    let server = common::Process::start("wire-unknown", "");
    let mut s = session(server.port);
    let mut w = Writer::framed();
    w.int(7).int(999);
    s.write_all(&w.finish_frame()).unwrap();
    assert_eq!(header(&read_frame(&mut s).unwrap()).2, -6);
    let mut w = Writer::framed();
    w.int(8).int(op::RECONFIG).ustring("").ustring("").ustring("").long(-1);
    s.write_all(&w.finish_frame()).unwrap();
    // ZooKeeper checks reconfigEnabled first (RECONFIGDISABLED), then refuses a standalone
    // server's reconfig as UNIMPLEMENTED.
    let (x, _, err) = header(&read_frame(&mut s).unwrap());
    assert_eq!((x, err), (8, -123), "reconfig is disabled by default");
    s.write_all(&exists(9, "/zookeeper")).unwrap();
    assert_eq!(header(&read_frame(&mut s).unwrap()).0, 9);

    let enabled = common::Process::start("wire-reconfig", "reconfigEnabled=true\nskipACL=yes\n");
    let mut s = session(enabled.port);
    let mut w = Writer::framed();
    w.int(8).int(op::RECONFIG).ustring("").ustring("").ustring("").long(-1);
    s.write_all(&w.finish_frame()).unwrap();
    let (x, _, err) = header(&read_frame(&mut s).unwrap());
    assert_eq!((x, err), (8, -6), "reconfig is not served by a standalone server");
}

#[test]
fn oversized_request_is_refused_with_an_error_and_the_session_goes_on() {
    let server = common::Process::start("wire-big", "");
    let mut s = session(server.port);
    let mut w = Writer::framed();
    w.int(11).int(op::SET_DATA).ustring("/zookeeper").buffer(&vec![7u8; 2 << 20]).int(-1);
    s.write_all(&w.finish_frame()).unwrap();
    let (x, _, err) = header(&read_frame(&mut s).unwrap());
    assert_eq!((x, err), (11, -8), "BADARGUMENTS for the oversized request");
    s.write_all(&ping()).unwrap();
    assert_eq!(header(&read_frame(&mut s).unwrap()).0, -2);
    assert!(server.log().contains("exceeds jute.maxbuffer"));
    // Far beyond the limit: the connection is closed, the server serves others.
    let mut s = session(server.port);
    s.write_all(&i32::MAX.to_be_bytes()).unwrap();
    assert!(read_frame(&mut s).is_none());
    assert_eq!(common::four_letter(server.port, "ruok"), "imok");
}

#[test]
fn garbage_and_malformed_records_close_only_that_connection() {
    let server = common::Process::start("wire-garbage", "");
    let mut s = open(server.port);
    s.write_all(&[0xff, 0xff, 0xff, 0xf0, 1, 2, 3]).unwrap();
    assert!(read_frame(&mut s).is_none());
    let mut s = open(server.port);
    s.write_all(&[0, 0, 0, 3, 1, 2, 3]).unwrap(); // a ConnectRequest too short to decode
    assert!(read_frame(&mut s).is_none());
    let mut s = session(server.port);
    let mut w = Writer::framed();
    w.int(12).int(op::CREATE).int(1_000_000); // path length far past the frame
    s.write_all(&w.finish_frame()).unwrap();
    assert_eq!(header(&read_frame(&mut s).unwrap()).2, -5, "MARSHALLINGERROR");
    assert!(read_frame(&mut s).is_none(), "then closed");
    assert_eq!(common::four_letter(server.port, "ruok"), "imok");
}

#[test]
fn a_client_that_stops_reading_does_not_stall_others() {
    let server = common::Process::start("wire-slow", "");
    let mut slow = session(server.port);
    // Fill the server's queue for this client without ever reading the replies.
    let writer = {
        let mut slow = slow.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut batch = Vec::new();
            for x in 0..2_000 {
                let mut w = Writer::framed();
                w.int(x).int(op::GET_DATA).ustring("/zookeeper/config").boolean(false);
                batch.extend(w.finish_frame());
            }
            for _ in 0..100 {
                if slow.write_all(&batch).is_err() {
                    break;
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let mut other = session(server.port);
    for x in 1..=20 {
        other.write_all(&exists(x, "/zookeeper")).unwrap();
        assert_eq!(header(&read_frame(&mut other).unwrap()).0, x);
    }
    // The server gives up on the stalled client on its own (its writes time out).
    let _ = writer.join();
    let mut probe = [0u8; 1];
    slow.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    while matches!(slow.read(&mut probe), Ok(n) if n > 0) {}
    assert!(server.log().contains("closing"), "{}", server.log());
}

#[test]
fn four_letter_words_honour_the_whitelist() {
    let server = common::Process::start("wire-4lw", "");
    assert_eq!(common::four_letter(server.port, "isro"), "rw");
    assert!(common::four_letter(server.port, "mntr").contains("zk_server_state\tstandalone"));
    assert!(common::four_letter(server.port, "envi").contains("zookeeper.version="));
    let limited = common::Process::start("wire-4lw-limited", "4lw.commands.whitelist=srvr");
    assert_eq!(common::four_letter(limited.port, "ruok"), "ruok is not executed because it is not in the whitelist.\n");
    assert!(common::four_letter(limited.port, "srvr").contains("Mode: standalone"));
}

#[test]
fn max_client_cnxns_is_enforced_per_address() {
    let server = common::Process::start("wire-maxcnxns", "");
    // The harness sets maxClientCnxns=0 (unlimited); restart this one with a cap of 2.
    let mut server = server;
    server.kill9();
    let cfg = std::fs::read_to_string(&server.cfg).unwrap().replace("maxClientCnxns=0", "maxClientCnxns=2");
    std::fs::write(&server.cfg, cfg).unwrap();
    server.spawn();
    let mut kept = Vec::new();
    for _ in 0..2 {
        let mut s = open(server.port);
        s.write_all(&connect_frame(true)).unwrap();
        assert!(read_frame(&mut s).is_some());
        kept.push(s);
    }
    let mut third = open(server.port);
    let _ = third.write_all(&connect_frame(true));
    assert!(read_frame(&mut third).is_none(), "the third connection from one address is closed");
    assert!(server.log().contains("too many connections from this address"));
    drop(kept);
    std::thread::sleep(Duration::from_millis(300));
    let mut again = open(server.port);
    again.write_all(&connect_frame(true)).unwrap();
    assert!(read_frame(&mut again).is_some(), "slots free up when connections close");
}
