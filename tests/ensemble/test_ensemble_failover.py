"""Tests 2, 4 and 5: the leader killed under load, a rolling restart under
load, and every server killed at once.

Load: Creator workers create unique nodes (every acknowledged create must
exist afterwards, on every server) and CasCounter workers increment one
counter with get + setData(version). All clients use the connect string of
all three servers.
"""

import time

from ensemble_harness import converged_tree, wait_until
from ensemble_load import (RETRIABLE, check_counter, check_creates,
                           error_kinds, make_load, progress)

def test_kill_leader_under_load(ens, base, record_figure):
    load = make_load(ens, base)
    with load:
        time.sleep(3)
        leader = ens.leader()
        others = [s for s in ens.servers if s is not leader]
        leader.kill()  # returns once the process is gone
        t_kill = time.monotonic()
        new_leader = ens.wait_leader(servers=others, timeout=60)
        t_elected = time.monotonic()
        wait_until(lambda: load.first_ok_after(t_kill, "create"), 60, 0.02,
                   "an acknowledged write after the kill")
        failover = load.first_ok_after(t_kill, "create") - t_kill
        time.sleep(4)
        served_after = sum(1 for o in load.ops if o.outcome == "ok"
                           and o.invoke > t_elected)

    record_figure("kill -9 leader: new leader reported (srvr)", t_elected - t_kill)
    record_figure("kill -9 leader: failover, kill -> first acknowledged write",
                  failover)
    assert served_after > 0, "nothing acknowledged after the new leader"

    t_restart = time.monotonic()
    leader.start()
    ens.wait_healthy()
    record_figure("kill -9 leader: killed server rejoined (healthy ensemble)",
                  time.monotonic() - t_restart)
    assert leader.mode() == "follower", "the restarted server should follow"
    assert ens.leader() is new_leader

    tree = converged_tree(ens, base)
    n = check_creates(tree, base, load)
    final, acked, unknown = check_counter(tree, base, load)
    record_figure("kill -9 leader: creates ok/unknown/nodes",
                  "%d/%d/%d" % (load.count("ok", "create"),
                                load.count("unknown", "create"), n), "")
    record_figure("kill -9 leader: counter acked/unknown/final",
                  "%d/%d/%d" % (acked, unknown, final), "")


def test_rolling_restart_under_load(ens, base, record_figure):
    load = make_load(ens, base)
    sessions = {w.name: w.session() for w in load.workers}
    with load:
        time.sleep(2)
        for s in ens.servers:
            was = s.mode()
            t0 = time.monotonic()
            s.stop()  # SIGTERM
            s.start()
            ens.wait_serving(s)
            ens.wait_healthy()
            record_figure("rolling restart: %r (%s) back and synced" % (s, was),
                          time.monotonic() - t0)
            time.sleep(1)
        t_last = time.monotonic()
        time.sleep(1)
        acked_after = sum(1 for o in load.ops if o.outcome == "ok"
                          and o.invoke > t_last)
        stalled = progress(load.workers, t_last)

    lost = {w.name: w.states.lost for w in load.workers if w.states.lost}
    assert not lost, "sessions expired (kazoo LOST): %s" % lost
    moved = {w.name for w in load.workers if w.session() != sessions[w.name]}
    assert not moved, "new sessions: %s" % moved
    # BADVERSION is the counters' contention, not a fault
    errors = error_kinds(o for o in load.ops
                         if not (o.kind == "incr" and o.outcome == "fail"))
    allowed = {e.__name__ for e in RETRIABLE}
    assert set(errors) <= allowed, "errors other than connection loss: %s" % errors
    assert acked_after > 0, "no write acknowledged after the last restart:\n" + \
        stalled
    tree = converged_tree(ens, base)
    n = check_creates(tree, base, load)
    final, acked, unknown = check_counter(tree, base, load)
    record_figure("rolling restart: client errors", errors or "none", "")
    record_figure("rolling restart: creates ok/unknown/nodes",
                  "%d/%d/%d" % (load.count("ok", "create"),
                                load.count("unknown", "create"), n), "")


def test_kill_every_server_at_once_and_restart(ens, base, record_figure):
    # A fixed tree first, read back, then more writes under load.
    c = ens.client()
    c.create(base)
    c.create(base + "/fixed")
    for i in range(150):
        p = "%s/fixed/n%03d" % (base, i)
        c.create(p, b"v0")
        for v in range(i % 3):
            c.set(p, b"v%d" % (v + 1))
    c.create(base + "/fixed/seq-", b"s", sequence=True)
    c.delete("%s/fixed/n000" % base)
    before = converged_tree(ens, base + "/fixed")

    load = make_load(ens, base + "/load", counters=1)
    load.start()
    try:
        time.sleep(3)
        ens.kill_all()
        t_down = time.monotonic()
        snaps = {s.id: [n for n in s.snapshots() if not n.endswith(".0")]
                 for s in ens.servers}
        ens.start_all()
        ens.wait_healthy()
        record_figure("kill all: restart -> healthy ensemble",
                      time.monotonic() - t_down)
        time.sleep(1)
    finally:
        load.stop()
    assert all(snaps.values()), \
        "no snapshot written on some server (snapCount): %s" % snaps

    after = converged_tree(ens, base + "/fixed")
    assert after == before
    tree = converged_tree(ens, base + "/load")
    check_creates(tree, base + "/load", load)
    check_counter(tree, base + "/load", load)


def test_follower_far_behind_catches_up_and_can_take_over(ens, base,
                                                         record_figure):
    """A follower down while thousands of transactions commit (far more than
    snapCount and commitLogCount) catches up when it returns (from a
    snapshot), and then serves as a member of the quorum when the leader
    dies."""
    leader = ens.leader()
    f, other = [s for s in ens.servers if s is not leader]
    # a client of the two that stay up (one of the whole ensemble might be
    # on f and lose its connection); it may use f after f is back
    c = ens.client(hosts=ens.hosts_of([leader, other, f]), randomize_hosts=False)
    c.create(base)
    f.kill()
    pending = []
    for i in range(2500):
        p = "%s/n%04d" % (base, i)
        pending.append(c.create_async(p, b"%d" % i))
        if i % 3 == 0:
            pending.append(c.set_async(p, b"set %d" % i))
        if i % 5 == 0:
            pending.append(c.delete_async(p))
        if len(pending) > 500:
            for r in pending:
                r.get(timeout=30)
            pending = []
    for r in pending:
        r.get(timeout=30)
    t0 = time.monotonic()
    f.start()
    ens.wait_healthy()
    record_figure("follower 2500+ writes behind: restart -> synced",
                  time.monotonic() - t0)
    converged_tree(ens, base)
    # the caught-up follower and the other one form the quorum now
    leader.kill()
    ens.wait_leader(servers=[f, other], timeout=60)
    c.retry(c.create, base + "/after", b"after")
    tree = converged_tree(ens, base, servers=[f, other])
    assert len(tree) == 1 + 2000 + 1
    assert tree[base + "/n0001"][0] == b"%d" % 1
    assert tree[base + "/n0003"][0] == b"set 3"
