"""Session resume, expiry and timeouts (kazoo plus raw-protocol sessions)."""

import logging
import time

from kazoo.protocol.states import EventType, KazooState

import jute
from harness import (FAST_RECONNECT, RESTART_SESSION_TIMEOUT, Recorder,
                     wait_until)
from jute import Mode


def test_session_resumes_across_server_restart(zk, kazoo_factory, base):
    a = kazoo_factory(timeout=RESTART_SESSION_TIMEOUT,
                      connection_retry=FAST_RECONNECT)
    sid, pw = a.client_id
    eph = base + "/alive"
    a.create(eph, b"e", ephemeral=True)
    states = []
    a.add_listener(states.append)
    try:
        zk.kill()
    finally:
        zk.start()
    assert wait_until(lambda: KazooState.SUSPENDED in states, timeout=30)
    assert wait_until(lambda: a.state == KazooState.CONNECTED, timeout=60)
    assert a.client_id == (sid, pw)
    assert KazooState.LOST not in states
    st = a.exists(eph)
    assert st is not None and st.ephemeralOwner == sid
    # writes keep working in the resumed session
    a.create(base + "/after", ephemeral=True)
    b = kazoo_factory()
    assert b.exists(base + "/after").ephemeralOwner == sid
    # and the resumed session still owns its ephemerals on close
    a.stop()
    assert wait_until(lambda: b.exists(eph) is None, timeout=10)
    assert b.exists(base + "/after") is None


def test_session_survives_graceful_restart(zk, kazoo_factory, base):
    a = kazoo_factory(timeout=RESTART_SESSION_TIMEOUT,
                      connection_retry=FAST_RECONNECT)
    sid = a.client_id[0]
    a.create(base + "/g", ephemeral=True)
    zk.stop()
    zk.start()
    assert wait_until(lambda: a.state == KazooState.CONNECTED
                      and a.connected, timeout=60)
    assert a.client_id[0] == sid
    assert a.exists(base + "/g").ephemeralOwner == sid


def test_raw_session_expires_after_connection_loss(kazoo_factory, base, raw):
    """A session whose connection is gone (socket closed without
    closeSession) expires after its timeout; its ephemerals vanish and
    watchers see NodeDeleted."""
    observer = kazoo_factory()
    c = raw(timeout_ms=4000)
    assert c.connect_response.timeout == 4000
    sid, pw = c.session_id, c.passwd
    p = base + "/doomed"
    rep, res = c.create(p, b"", flags=Mode.EPHEMERAL)
    assert rep.err == 0 and res[1].ephemeralOwner == sid
    rec = Recorder()
    assert observer.exists(p, watch=rec) is not None
    c.close_socket()
    # a disconnect alone does not end the session
    assert observer.exists(p) is not None
    ev = rec.next(timeout=30)
    assert ev.type == EventType.DELETED and ev.path == p
    assert observer.exists(p) is None

    # resuming the expired session is refused: timeout 0, session id 0,
    # then the server closes the connection
    c2 = raw(session_id=sid, passwd=pw, timeout_ms=4000)
    assert c2.connect_response.timeout == 0
    assert c2.connect_response.session_id == 0
    assert c2.is_closed(5)

    # kazoo given the expired id+password notices the expiry and falls back
    # to a brand new session
    records = []

    class H(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    log = logging.getLogger("test_kazoo_sessions.expired")
    log.addHandler(H())
    log.setLevel(logging.DEBUG)
    k = kazoo_factory(start=False, client_id=(sid, pw), logger=log)
    k.start(timeout=15)
    assert k.client_id[0] not in (sid, 0)
    assert any("expired" in m.lower() for m in records), records


def test_kazoo_session_closed_elsewhere_is_lost(kazoo_factory, base):
    """Two kazoo clients attached to one session (client_id): when one
    closes the session the other sees its session LOST (expired), and
    the session's ephemerals are gone."""
    a = kazoo_factory(connection_retry=FAST_RECONNECT)
    sid, pw = a.client_id
    a.create(base + "/shared", ephemeral=True)
    states = []
    a.add_listener(states.append)
    b = kazoo_factory(client_id=(sid, pw))
    assert b.client_id[0] == sid
    assert b.exists(base + "/shared").ephemeralOwner == sid
    b.stop()  # sends closeSession for the shared session
    assert wait_until(lambda: KazooState.LOST in states, timeout=30), states
    watcher = kazoo_factory()
    assert watcher.exists(base + "/shared") is None
    # kazoo then builds a new session on its own
    assert wait_until(lambda: a.state == KazooState.CONNECTED
                      and a.client_id and a.client_id[0] != sid, timeout=30)


def test_wrong_password_is_refused(kazoo_factory, raw):
    a = kazoo_factory()
    sid = a.client_id[0]
    c = raw(session_id=sid, passwd=b"\x01" * 16, timeout_ms=10000)
    assert c.connect_response.timeout == 0
    assert c.connect_response.session_id == 0
    assert c.is_closed(5)
    # the real owner is unaffected
    assert a.exists("/") is not None and a.client_id[0] == sid


def test_raw_resume_on_new_connection(base, raw, kazoo_factory):
    c = raw(timeout_ms=10000)
    sid, pw = c.session_id, c.passwd
    rep, _ = c.create(base + "/r", flags=Mode.EPHEMERAL)
    assert rep.err == 0
    c.close_socket()
    c2 = raw(session_id=sid, passwd=pw, timeout_ms=10000)
    assert c2.connect_response.session_id == sid
    assert c2.connect_response.passwd == pw
    assert c2.connect_response.timeout == 10000
    rep, st = c2.exists(base + "/r")
    assert rep.err == 0 and st.ephemeralOwner == sid
    # closing the session removes the ephemeral at once
    rep = c2.close_session()
    assert rep is not None and rep.err == 0
    obs = kazoo_factory()
    assert obs.exists(base + "/r") is None


def test_close_session_reply_then_close(base, raw):
    c = raw()
    c.create(base + "/x", flags=Mode.EPHEMERAL)
    xid = c.next_xid
    rep = c.close_session()
    assert rep.xid == xid and rep.err == 0


def test_negotiated_timeout_is_clamped(raw):
    assert raw(timeout_ms=100).connect_response.timeout == 4000
    assert raw(timeout_ms=100000).connect_response.timeout == 40000
    assert raw(timeout_ms=12345).connect_response.timeout == 12345


def test_kazoo_short_requested_timeout_works(kazoo_factory, base):
    # a requested timeout below minSessionTimeout is raised by the server;
    # the session must work and stay up past the requested timeout
    c = kazoo_factory(timeout=1.0)
    sid = c.client_id[0]
    c.create(base + "/short", ephemeral=True)
    time.sleep(2.5)
    assert c.connected and c.client_id[0] == sid
    assert c.exists(base + "/short").ephemeralOwner == sid


def test_pings_keep_session_alive(kazoo_factory, base, raw):
    c = raw(timeout_ms=4000)
    p = base + "/pinged"
    assert c.create(p, flags=Mode.EPHEMERAL)[0].err == 0
    deadline = time.time() + 5.5
    while time.time() < deadline:
        rep = c.ping()
        assert rep.err == 0 and rep.xid == jute.XID_PING
        time.sleep(1.0)
    obs = kazoo_factory()
    assert obs.exists(p) is not None


def test_session_ids_and_passwords_distinct(raw):
    a, b = raw(), raw()
    assert a.session_id != b.session_id
    assert a.session_id != 0 and b.session_id != 0
    assert len(a.passwd) == 16 and a.passwd != b.passwd


def test_requests_after_close_session_fail(raw, base):
    c = raw()
    sid, pw = c.session_id, c.passwd
    c.close_session()
    c2 = raw(session_id=sid, passwd=pw)
    assert c2.connect_response.timeout == 0
    assert c2.is_closed(5)
