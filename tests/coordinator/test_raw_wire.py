"""Raw-socket tests of the ZooKeeper wire protocol (jute framing) and the
four-letter words, using the small encoder in jute.py."""

import os
import socket
import struct
import time

import pytest

import jute
from harness import target
from jute import Err, Mode, Op, Reader

TARGET = target()


def new_conn(zk, timeout=10.0):
    host, port = jute.parse_hosts(zk.hosts)
    return jute.RawConnection(host, port, timeout=timeout)


def server_still_serves(zk):
    c = jute.connect(zk.hosts)
    try:
        rep, st = c.exists("/")
        return rep.err == 0 and st is not None
    finally:
        c.close_session()


# ----------------------------------------------------------------------
# handshake and pipelining
# ----------------------------------------------------------------------


def test_pipelined_requests_before_connect_response(zk, base):
    c = new_conn(zk)
    p = base + "/pipe"
    reqs = [
        (Op.CREATE2, jute.enc_create(p, b"v0")),
        (Op.GET_DATA, jute.enc_path_watch(p, False)),
        (Op.SET_DATA, jute.enc_set_data(p, b"v1", 0)),
        (Op.EXISTS, jute.enc_path_watch(p, False)),
        (Op.CREATE2, jute.enc_create(p)),               # NODEEXISTS
        (Op.GET_CHILDREN, jute.enc_path_watch(base, False)),
        (Op.SET_DATA, jute.enc_set_data(p, b"v2", 0)),  # BADVERSION
        (Op.GET_DATA, jute.enc_path_watch(p, False)),
        (Op.DELETE, jute.enc_path_version(p, -1)),
        (Op.EXISTS, jute.enc_path_watch(p, False)),     # NONODE
    ]
    blob = jute.frame(jute.connect_request(timeout_ms=10000))
    for i, (op, body) in enumerate(reqs):
        blob += jute.request(100 + i, op, body)
    c.send(blob)  # everything in one write, before any answer
    resp = c.read_connect_response()
    assert resp.session_id != 0 and resp.timeout == 10000
    replies = [c.read_reply() for _ in reqs]
    assert [r.xid for r in replies] == [100 + i for i in range(len(reqs))]
    assert [r.err for r in replies] == [
        0, 0, 0, 0, Err.NODEEXISTS, 0, Err.BADVERSION, 0, 0, Err.NONODE]
    data = Reader(replies[1].body).buffer()
    assert data == b"v0"
    r = Reader(replies[7].body)
    assert r.buffer() == b"v1" and r.stat().version == 1
    assert Reader(replies[5].body).strings() == ["pipe"]
    # reply zxids never go backwards
    zx = [r.zxid for r in replies]
    assert zx == sorted(zx)
    c.close_session()


def test_many_pipelined_requests_in_order(zk, base):
    c = jute.connect(zk.hosts)
    n = 200
    blob = b"".join(
        jute.request(1000 + i, Op.CREATE2,
                     jute.enc_create("%s/n%03d" % (base, i), b"x" * i))
        for i in range(n))
    c.send(blob)
    replies = [c.read_reply() for _ in range(n)]
    assert [r.xid for r in replies] == [1000 + i for i in range(n)]
    assert all(r.err == 0 for r in replies)
    czx = [Reader(r.body, 4 + len("%s/n000" % base)).stat().czxid
           for r in replies]
    assert czx == sorted(czx) and len(set(czx)) == n
    assert [r.zxid for r in replies] == czx
    c.close_session()


def test_connect_without_read_only_byte(zk):
    c = new_conn(zk)
    c.send_connect(include_read_only=False, timeout_ms=10000)
    body = c.read_frame()
    # a client that does not send the readOnly flag (pre-3.4 layout) gets
    # the old 36-byte ConnectResponse without it (ZooKeeper 3.8 behaviour)
    assert len(body) == 4 + 4 + 8 + 4 + 16
    r = Reader(body)
    assert r.int() == 0
    assert r.int() == 10000
    sid = r.long()
    assert sid != 0 and len(r.buffer()) == 16
    rep = c.call(Op.EXISTS, jute.enc_path_watch("/", False))
    assert rep.err == 0
    c.close_session()


def test_connect_response_layout(zk):
    c = new_conn(zk)
    c.send_connect(include_read_only=True, timeout_ms=10000)
    body = c.read_frame()
    assert len(body) == 37
    resp = Reader(body)
    assert (resp.int(), resp.int()) == (0, 10000)
    resp.long()
    assert len(resp.buffer()) == 16
    assert resp.bool() is False  # not a read-only server
    c.close_session()


def test_ping_and_reply_header(zk, base):
    c = jute.connect(zk.hosts)
    rep = c.ping()
    assert rep.xid == jute.XID_PING and rep.err == 0
    rep, res = c.create(base + "/z")
    assert rep.err == 0 and rep.zxid == res[1].czxid
    # a read reply carries the server's last zxid, at least our write's
    rep2, _ = c.exists(base + "/z")
    assert rep2.zxid >= rep.zxid
    rep3 = c.ping()
    assert rep3.zxid >= rep.zxid
    c.close_session()


def test_old_create_opcode_returns_path_only(zk, base):
    c = jute.connect(zk.hosts)
    rep = c.call(Op.CREATE, jute.enc_create(base + "/old", b"d"))
    assert rep.err == 0
    r = Reader(rep.body)
    assert r.string() == base + "/old" and r.remaining() == 0
    c.close_session()


def test_error_replies_have_empty_body(zk, base):
    c = jute.connect(zk.hosts)
    for rep in (c.exists(base + "/missing")[0],
                c.get_data(base + "/missing")[0],
                c.create(base + "/a/b")[0],
                c.set_data(base + "/missing", b"")[0],
                c.get_children2(base + "/missing")[0]):
        assert rep.err == Err.NONODE and rep.body == b""
    c.close_session()


def test_failed_writes_consume_a_zxid(zk, base):
    """ZooKeeper turns a failed write into an error txn: its reply carries a
    fresh zxid (a failed read does not)."""
    c = jute.connect(zk.hosts)
    r1, _ = c.create(base + "/fw")
    r2, _ = c.create(base + "/fw")                 # NODEEXISTS
    r3, _ = c.delete(base + "/nothing")            # NONODE
    r4, _ = c.set_data(base + "/fw", b"", 9)       # BADVERSION
    r5, _ = c.exists(base + "/nothing")            # read: no new zxid
    r6, _ = c.create(base + "/fw2")
    assert [r.err for r in (r1, r2, r3, r4, r5, r6)] == [
        0, Err.NODEEXISTS, Err.NONODE, Err.BADVERSION, Err.NONODE, 0]
    assert r2.zxid == r1.zxid + 1
    assert r3.zxid == r2.zxid + 1
    assert r4.zxid == r3.zxid + 1
    assert r5.zxid == r4.zxid
    assert r6.zxid == r4.zxid + 1
    c.close_session()


def test_multi_read(zk, base):
    c = jute.connect(zk.hosts)
    c.create(base + "/mr", b"hello")
    c.create(base + "/mr/a")
    rep, res = c.multi_read([jute.m_get_data(base + "/mr"),
                             jute.m_get_children(base + "/mr"),
                             jute.m_get_data(base + "/none"),
                             jute.m_get_children(base)])
    assert rep.err == 0
    assert [(r.op, r.err) for r in res] == [
        (Op.GET_DATA, 0), (Op.GET_CHILDREN, 0), (-1, Err.NONODE),
        (Op.GET_CHILDREN, 0)]
    assert res[0].path == b"hello" and res[0].stat.numChildren == 1
    assert res[1].path == ["a"] and res[3].path == ["mr"]
    c.close_session()


# ----------------------------------------------------------------------
# misbehaving clients
# ----------------------------------------------------------------------


def test_unknown_opcode(zk, base):
    """Both servers answer an unknown opcode with UNIMPLEMENTED (-6) and the
    request's xid.  Real ZooKeeper 3.8 then closes the connection (the
    session survives and can be resumed); Strom keeps the connection
    usable."""
    c = jute.connect(zk.hosts)
    sid, pw = c.session_id, c.passwd
    c.create(base + "/u", flags=Mode.EPHEMERAL)
    xid = c.send_request(999, b"")
    rep = c.read_reply()
    assert rep.xid == xid
    assert rep.err == Err.UNIMPLEMENTED
    if TARGET == "zookeeper":
        assert c.is_closed(5)
    else:
        rep, st = c.exists(base + "/u")
        assert rep.err == 0 and st.ephemeralOwner == sid
        assert c.ping().err == 0
    # either way the session lives on
    c2 = jute.connect(zk.hosts, session_id=sid, passwd=pw)
    assert c2.connect_response.session_id == sid
    rep, st = c2.exists(base + "/u")
    assert rep.err == 0 and st.ephemeralOwner == sid
    c2.close_session()
    c.close_socket()


def test_oversized_frame_is_rejected(zk):
    c = jute.connect(zk.hosts)
    # announce a 2 MiB frame, send part of it
    c.send(struct.pack(">i", 2 * 1024 * 1024 + 7) + b"\x00" * 65536)
    closed = c.is_closed(10)
    if not closed:
        # an error reply is acceptable too, as long as nothing is executed
        rep = c.read_reply()
        assert rep.err != 0
    c.close_socket()
    assert server_still_serves(zk)


def test_oversized_create_is_rejected(zk, base):
    c = jute.connect(zk.hosts)
    body = jute.enc_create(base + "/big", b"x" * (1024 * 1024 + 100))
    try:
        c.send_request(Op.CREATE2, body)
        try:
            rep = c.read_reply()
            assert rep.err != 0
        except (jute.ConnectionClosed, ConnectionResetError):
            pass
    except (BrokenPipeError, ConnectionResetError):
        pass
    c.close_socket()
    c2 = jute.connect(zk.hosts)
    assert c2.exists(base + "/big")[0].err == Err.NONODE
    c2.close_session()


@pytest.mark.parametrize("garbage", [
    b"\xff\xff\xff\xff\x00\x01\x02",                      # negative length
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",                 # not ZooKeeper
    struct.pack(">i", 12) + b"\x07" * 12,                  # short connect
    os.urandom(64) + b"\x7f\x00\x00\x00",
], ids=["negative-length", "http", "short-connect", "random"])
def test_garbage_closes_connection(zk, garbage):
    c = new_conn(zk)
    try:
        c.send(garbage)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert c.is_closed(15)
    c.close_socket()
    assert server_still_serves(zk)


def test_garbage_after_handshake_closes_connection(zk):
    c = jute.connect(zk.hosts)
    # a frame too short to hold a request header
    c.send(struct.pack(">i", 3) + b"abc")
    assert c.is_closed(15)
    c.close_socket()
    assert server_still_serves(zk)


def test_auth_failure_closes_connection(zk):
    c = jute.connect(zk.hosts)
    rep, _ = c.add_auth("no-such-scheme", b"x")
    assert rep.xid == jute.XID_AUTH
    assert rep.err == Err.AUTHFAILED
    assert c.is_closed(5)


def test_auth_packet_reply(zk):
    c = jute.connect(zk.hosts)
    rep, _ = c.add_auth("digest", b"user:pw")
    assert rep.xid == jute.XID_AUTH and rep.err == 0
    rep, ids = c.whoami()
    assert rep.err == 0
    assert sorted(ids) == [("digest", "user"), ("ip", "127.0.0.1")]
    c.close_session()


def test_who_am_i(zk):
    """whoAmI (opcode 107) is supported by ZooKeeper 3.8."""
    c = jute.connect(zk.hosts)
    rep, ids = c.whoami()
    assert rep.err == 0
    assert ids == [("ip", "127.0.0.1")]
    c.close_session()


def test_close_session_closes_connection(zk):
    c = jute.connect(zk.hosts)
    rep = c.call(Op.CLOSE_SESSION)
    assert rep.err == 0
    assert c.is_closed(10)


def test_request_after_close_is_not_served(zk):
    c = jute.connect(zk.hosts)
    c.send(jute.request(1, Op.CLOSE_SESSION) +
           jute.request(2, Op.EXISTS, jute.enc_path_watch("/", False)))
    rep = c.read_reply()
    assert rep.xid == 1 and rep.err == 0
    try:
        rep2 = c.read_reply()
        assert rep2.err != 0  # never a successful answer
    except (jute.ConnectionClosed, ConnectionResetError, socket.timeout):
        pass
    c.close_socket()


# ----------------------------------------------------------------------
# four-letter words
# ----------------------------------------------------------------------


def flw(zk, cmd):
    return jute.four_letter(zk.hosts, cmd)


def test_4lw_ruok_isro(zk):
    assert flw(zk, "ruok") == "imok"
    assert flw(zk, "isro") == "rw"


@pytest.mark.parametrize("cmd", ["srvr", "stat", "mntr", "conf", "cons",
                                 "envi", "wchs", "dump", "dirs"])
def test_4lw_non_empty(zk, cmd):
    assert flw(zk, cmd).strip() != ""


def test_4lw_contents(zk):
    envi = flw(zk, "envi")
    assert "zookeeper.version=" in envi
    mntr = flw(zk, "mntr")
    kv = dict(ln.split("\t", 1) for ln in mntr.splitlines() if "\t" in ln)
    assert kv["zk_server_state"] == "standalone"
    for key in ("zk_version", "zk_znode_count", "zk_num_alive_connections",
                "zk_watch_count", "zk_ephemerals_count",
                "zk_approximate_data_size", "zk_outstanding_requests"):
        assert key in kv, key
    assert int(kv["zk_znode_count"]) >= 2
    srvr = flw(zk, "srvr")
    assert "Mode: standalone" in srvr
    assert "Zookeeper version:" in srvr
    assert "Node count:" in srvr
    assert "Zxid: 0x" in srvr
    stat = flw(zk, "stat")
    assert "Clients:" in stat and "Mode: standalone" in stat
    conf = flw(zk, "conf")
    assert "clientPort=%d" % zk.port in conf
    assert "maxSessionTimeout=40000" in conf
    assert "minSessionTimeout=4000" in conf
    assert "tickTime=2000" in conf
    wchs = flw(zk, "wchs")
    assert "Total watches:" in wchs


def test_4lw_cons_lists_client(zk):
    c = jute.connect(zk.hosts)
    try:
        cons = flw(zk, "cons")
        assert "/127.0.0.1:%d" % c.sock.getsockname()[1] in cons
        dump = flw(zk, "dump")
        assert "0x%x" % c.connect_response.session_id in dump
    finally:
        c.close_session()


def test_4lw_wchs_counts_watches(zk, base):
    c = jute.connect(zk.hosts)
    try:
        c.get_data(base, watch=True)
        c.exists(base + "/nope", watch=True)
        wchs = flw(zk, "wchs")
        n = int(wchs.split("Total watches:")[1].split()[0])
        assert n >= 2
    finally:
        c.close_session()


def test_4lw_closes_connection(zk):
    host, port = jute.parse_hosts(zk.hosts)
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(b"ruok")
    data = b""
    deadline = time.time() + 10
    while time.time() < deadline:
        chunk = s.recv(100)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data == b"imok"


def test_srvr_reports_zxid(zk, base):
    c = jute.connect(zk.hosts)
    rep, _ = c.create(base + "/zx")
    c.close_session()
    zxid_text = [ln for ln in flw(zk, "srvr").splitlines()
                 if ln.startswith("Zxid:")][0]
    assert int(zxid_text.split()[1], 16) >= rep.zxid


def test_null_data_stays_null(zk, base):
    """A node created (or set) with null data answers getData with length -1, as ZooKeeper does;
    Kafka creates /latest_producer_id_block that way and tells null from empty."""
    c = jute.connect(zk.hosts)
    assert c.call(Op.CREATE, jute.enc_create(base + "/null", None)).err == 0
    assert c.call(Op.CREATE, jute.enc_create(base + "/empty", b"")).err == 0
    rep = c.call(Op.GET_DATA, jute.enc_path_watch(base + "/null", False))
    r = Reader(rep.body)
    assert rep.err == 0 and r.buffer() is None
    assert r.stat()[8] == 0  # dataLength
    rep = c.call(Op.GET_DATA, jute.enc_path_watch(base + "/empty", False))
    assert Reader(rep.body).buffer() == b""
    assert c.call(Op.SET_DATA, jute.enc_set_data(base + "/empty", None)).err == 0
    rep = c.call(Op.GET_DATA, jute.enc_path_watch(base + "/empty", False))
    assert Reader(rep.body).buffer() is None
    c.close_session()
