"""Test 1: replication and client semantics across the three servers.

Every client here except the last test's is pinned to one server (its
connect string names only that server), so what it sees is that server's
view.
"""

import queue
import time

import pytest
from kazoo.exceptions import ConnectionLoss, SessionExpiredError
from kazoo.protocol.states import EventType

from ensemble_harness import wait_until
from ensemble_load import StateLog


def per_server_clients(ens):
    return {s.id: ens.client(hosts=s.hosts) for s in ens.servers}


def a_follower(ens):
    ld = ens.leader()
    return next(s for s in ens.servers if s is not ld)


@pytest.mark.quiet
def test_write_through_one_server_is_read_on_the_others_after_sync(ens, base):
    cs = per_server_clients(ens)
    cs[1].ensure_path(base)
    for w in ens.servers:
        path = "%s/from-%d" % (base, w.id)
        cs[w.id].create(path, b"created via %d" % w.id)
        cs[w.id].set(path, b"set via %d" % w.id)
        for r in ens.servers:
            cs[r.id].sync(path)
            data, st = cs[r.id].get(path)
            assert data == b"set via %d" % w.id, (w, r)
            assert st.version == 1
    # The same tree on every server: names, data, versions.
    for r in ens.servers:
        cs[r.id].sync(base)
        assert sorted(cs[r.id].get_children(base)) == \
            ["from-%d" % s.id for s in ens.servers]


@pytest.mark.quiet
def test_large_values_written_through_a_follower_replicate(ens, base):
    """Values near the 1 MB limit (jute.maxbuffer), sent back to back
    through a follower, reach every server intact."""
    c = ens.client(hosts=a_follower(ens).hosts)
    c.create(base)
    values = {"%s/big%d" % (base, i): bytes([65 + i]) * (1000000 - i * 1000)
              for i in range(4)}
    for r in [c.create_async(p, v) for p, v in values.items()]:
        r.get(timeout=60)
    for s in ens.servers:
        o = ens.client(hosts=s.hosts)
        o.sync(base)
        for p, v in values.items():
            assert o.get(p)[0] == v, (s, p)
        ens.close_client(o)


@pytest.mark.quiet
def test_read_your_own_write_through_a_follower(ens, base):
    f = a_follower(ens)
    c = ens.client(hosts=f.hosts)
    c.create(base, b"0")
    for i in range(1, 201):
        c.set(base, b"%d" % i)
        data, st = c.get(base)  # no sync: the session's own write is seen
        assert (data, st.version) == (b"%d" % i, i)
        child = "%s/c%d" % (base, i)
        c.create(child)
        assert c.exists(child) is not None
        assert "c%d" % i in c.get_children(base)
        c.delete(child)
        assert c.exists(child) is None


@pytest.mark.quiet
def test_data_and_child_watches_set_on_every_server_fire_on_every_server(ens, base):
    cs = per_server_clients(ens)
    cs[1].create(base, b"v0")
    for s in ens.servers:
        cs[s.id].sync(base)
    for writer in ens.servers:
        events = {s.id: queue.Queue() for s in ens.servers}
        for s in ens.servers:
            cs[s.id].get(base, watch=events[s.id].put)
            cs[s.id].get_children(base, watch=events[s.id].put)
        cs[writer.id].set(base, b"via %d" % writer.id)
        cs[writer.id].create("%s/child-%d" % (base, writer.id))
        for s in ens.servers:
            got = set()
            for _ in range(2):
                try:
                    ev = events[s.id].get(timeout=10)
                except queue.Empty:
                    pytest.fail("%r delivered %s only, after a write via %r"
                                % (s, got, writer))
                assert ev.path == base
                got.add(ev.type)
            assert got == {EventType.CHANGED, EventType.CHILD}, (s, writer)
            # the watch fired after the server applied the change
            assert cs[s.id].get(base)[0] == b"via %d" % writer.id


@pytest.mark.quiet
@pytest.mark.parametrize("owner_role", ["leader", "follower"])
def test_ephemeral_seen_everywhere_and_gone_everywhere_when_its_session_closes(
        ens, base, owner_role):
    cs = per_server_clients(ens)
    cs[1].create(base)
    owner_server = ens.leader() if owner_role == "leader" else a_follower(ens)
    owner = ens.client(hosts=owner_server.hosts)
    sid = owner.client_id[0]
    eph = base + "/eph"
    owner.create(eph, b"mine", ephemeral=True)
    for s in ens.servers:
        cs[s.id].sync(eph)
        st = cs[s.id].exists(eph)
        assert st is not None and st.ephemeralOwner == sid, s
    watches = {s.id: queue.Queue() for s in ens.servers}
    for s in ens.servers:
        cs[s.id].exists(eph, watch=watches[s.id].put)
    owner.stop()  # closeSession, answered once it is committed
    owner.close()
    for s in ens.servers:
        cs[s.id].sync(eph)
        assert cs[s.id].exists(eph) is None, s
        ev = watches[s.id].get(timeout=10)
        assert (ev.type, ev.path) == (EventType.DELETED, eph), s


@pytest.mark.parametrize("victim_role", ["follower", "leader"])
def test_session_survives_its_server_being_killed(ens, base, victim_role,
                                                  record_figure):
    victim = ens.leader() if victim_role == "leader" else a_follower(ens)
    others = [s for s in ens.servers if s is not victim]
    # victim first, and kazoo keeps the order: the session starts on it
    c = ens.client(hosts=ens.hosts_of([victim] + others), randomize_hosts=False)
    states = StateLog(c)
    assert c._connection._socket.getpeername()[0] == victim.client_ip
    sid = c.client_id[0]
    c.create(base, b"x")
    eph = base + "/eph"
    c.create(eph, ephemeral=True)

    victim.kill()
    t0 = time.monotonic()

    # Retry the write until it succeeds: the server the client reaches first
    # may itself be between leaders (ConnectionLoss is retriable).
    def write():
        try:
            c.set(base, b"after")
            return True
        except (ConnectionLoss, SessionExpiredError):
            time.sleep(0.02)
            return False
    wait_until(write, 40, 0, "a write through the moved session")
    record_figure("session moved after SIGKILL of its server (%s), first write"
                  % victim_role, time.monotonic() - t0)
    assert c._connection._socket.getpeername()[0] != victim.client_ip
    assert c.client_id[0] == sid, "a new session instead of the old one"
    assert states.lost == [], "the session was lost"
    # the session still owns its ephemeral, everywhere
    assert c.exists(eph).ephemeralOwner == sid
    for s in others:
        o = ens.client(hosts=s.hosts)
        o.sync(eph)
        st = o.exists(eph)
        assert st is not None and st.ephemeralOwner == sid, s
        assert o.get(base)[0] == b"after"


@pytest.mark.quiet
def test_pipelined_requests_through_a_follower_keep_session_order(ens, base):
    """Writes and reads sent back to back without waiting: each read sees
    exactly the writes sent before it (ZooKeeper's FIFO client order; kazoo
    itself fails on a reply out of order)."""
    c = ens.client(hosts=a_follower(ens).hosts)
    c.create(base, b"0")
    sent = []
    for i in range(1, 301):
        c.set_async(base, b"%d" % i)
        if i % 7 == 0:
            sent.append((i, c.get_async(base)))
        if i % 50 == 0:
            c.create_async("%s/c%d" % (base, i))
            sent.append((i, c.get_children_async(base)))
    for i, r in sent:
        got = r.get(timeout=30)
        if isinstance(got, list):
            assert sorted(got) == sorted("c%d" % j for j in range(50, i + 1, 50))
        else:
            data, st = got
            assert (data, st.version) == (b"%d" % i, i)


VANISH = r"""
import sys, time
from kazoo.client import KazooClient
c = KazooClient(hosts=sys.argv[1], timeout=4.0)
c.start(timeout=30)
c.create(sys.argv[2], b"x", ephemeral=True)
print(c.client_id[0], flush=True)
time.sleep(600)
"""


def test_sessions_of_vanished_clients_expire_after_leader_failover(
        ens, base, record_figure):
    """Clients that die without closing their sessions (kill -9; one on the
    leader, one on a follower), then the leader is killed: the new leader
    expires their sessions and their ephemerals go, everywhere; a live
    client's session and ephemeral stay."""
    import subprocess
    import sys
    c = ens.client()
    c.create(base)
    leader = ens.leader()
    follower = a_follower(ens)
    procs = []
    try:
        for s in (leader, follower):
            p = subprocess.Popen([sys.executable, "-c", VANISH, s.hosts,
                                  "%s/gone-%d" % (base, s.id)],
                                 stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
            procs.append(p)
        sids = [int(p.stdout.readline()) for p in procs]
        assert all(sids)
        live = ens.client()
        states = StateLog(live)
        live_sid = live.client_id[0]
        live.create(base + "/stays", ephemeral=True)
        for s in ens.servers:
            o = ens.client(hosts=s.hosts)
            o.sync(base)
            assert len(o.get_children(base)) == 3, s
            ens.close_client(o)
        for p in procs:
            p.kill()
            p.wait()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    leader.kill()
    t_kill = time.monotonic()
    others = [s for s in ens.servers if s is not leader]
    ens.wait_leader(servers=others, timeout=60)
    pinned = {s.id: ens.client(hosts=s.hosts) for s in others}

    def expired():
        for s in others:
            try:
                pinned[s.id].sync(base)
                if sorted(pinned[s.id].get_children(base)) != ["stays"]:
                    return False
            except (ConnectionLoss, SessionExpiredError):
                return False
        return True
    wait_until(expired, 60, 0.2,
               "the vanished clients' ephemerals to go after the failover")
    record_figure("vanished sessions (4 s timeout): leader kill -> ephemerals gone",
                  time.monotonic() - t_kill)
    live.retry(live.sync, base)
    assert live.client_id[0] == live_sid and states.lost == []
    assert live.retry(live.exists, base + "/stays").ephemeralOwner == live_sid
