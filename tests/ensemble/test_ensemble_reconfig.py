"""Test 9: dynamic reconfiguration 3 -> 5 -> 3 under load (what the operator
does to scale an ensemble without restarting it).

Servers 4 and 5 start with a config listing the three members and
themselves; kazoo's reconfig adds them (the incremental form, sent through
whichever server the admin client picked), then a new member list takes the
ensemble back to servers 1-3. Each membership is shown to be the one that
counts, not just the one reported:

  five members: servers 1 and 2 stopped, writes are still acknowledged
                (3 of 5 is a majority; 1 of 3 would not be);
  three again:  servers 4 and 5 gone and one more stopped, writes are still
                acknowledged (2 of 3; 2 of 5 would not be).

Throughout, the load of the fault tests runs on the first three servers:
every acknowledged create must exist afterwards, identical on every member.
"""

import time

import pytest
from kazoo.exceptions import BadArgumentsError, BadVersionError

from ensemble_harness import converged_tree, wait_until
from ensemble_load import check_counter, check_creates, make_load, progress


def config_of(client):
    """(member ids, version) of /zookeeper/config read through client."""
    client.sync("/zookeeper/config")
    data, st = client.get("/zookeeper/config")
    return parse_config(data), st


def parse_config(data):
    text = data.decode()
    ids = sorted(int(ln.split("=", 1)[0].split(".", 1)[1])
                 for ln in text.splitlines() if ln.startswith("server."))
    version = [ln.split("=", 1)[1] for ln in text.splitlines()
               if ln.startswith("version=")]
    return ids, int(version[0], 16) if version else None


def assert_config_everywhere(ens, ids):
    """Every member's /zookeeper/config lists `ids`, at the same version,
    which is the zxid of the change that wrote it (ZooKeeper's rule)."""
    seen = {}
    for s in ens.servers:
        c = ens.client(hosts=s.hosts)
        try:
            (got, version), st = config_of(c)
        finally:
            ens.close_client(c)
        assert got == ids, "%r lists %s, expected %s" % (s, got, ids)
        assert version == st.mzxid, "%r: version=%x but the node's mzxid is %x" % (
            s, version, st.mzxid)
        seen[s.id] = version
    assert len(set(seen.values())) == 1, "config versions differ: %s" % seen
    return version


def acked_between(load, t0, t1):
    return sum(1 for o in load.ops if o.outcome == "ok" and o.kind == "create"
               and t0 < o.invoke and o.complete is not None and o.complete < t1)


def test_reconfig_three_to_five_to_three_under_load(ens, base, record_figure):
    assert not ens.spares[0].running and len(ens.servers) == 3
    admin = ens.client()
    (ids, v0), _ = config_of(admin)
    assert ids == [1, 2, 3]
    s4, s5 = ens.spares[:2]
    load = make_load(ens, base)
    with load:
        time.sleep(2)
        # --- 3 -> 5 ----------------------------------------------------
        for s in (s4, s5):
            ens.start_spare(s)
        t0 = time.monotonic()
        data, st = admin.reconfig(joining="%s,%s" % (s4.spec(), s5.spec()),
                                  leaving=None, new_members=None)
        record_figure("reconfig 3 -> 5: answered", time.monotonic() - t0)
        ids, v5 = parse_config(data)
        assert ids == [1, 2, 3, 4, 5], data.decode()
        assert v5 > v0 and v5 == st.mzxid, (v0, v5, st)
        ens.joined([s4, s5])
        ens.wait_healthy()
        record_figure("reconfig 3 -> 5: five members synced", time.monotonic() - t0)
        assert_config_everywhere(ens, [1, 2, 3, 4, 5])
        for s in (s4, s5):
            assert s.mode() == "follower"

        # a stale expected version is refused, nothing changes
        with pytest.raises(BadVersionError):
            admin.reconfig(joining=None, leaving="5", new_members=None,
                           from_config=v0)

        # five voters: 3 of 5 is a quorum
        t_down = time.monotonic()
        down = [ens.server(1), ens.server(2)]
        for s in down:
            s.stop()
        ens.wait_leader(servers=[ens.server(3), s4, s5], timeout=60)
        wait_until(lambda: acked_between(load, t_down, time.monotonic()) > 0,
                   60, 0.05, "a write acknowledged by servers 3, 4 and 5 "
                   "(progress: %s)" % progress(load.workers, t_down))
        record_figure("five members, servers 1 and 2 stopped: first write after",
                      load.first_ok_after(t_down, "create") - t_down)
        for s in down:
            s.start()
        ens.wait_healthy()

        # --- 5 -> 3 ----------------------------------------------------
        t0 = time.monotonic()
        three = [ens.server(i) for i in (1, 2, 3)]
        data, st = admin.reconfig(joining=None, leaving=None,
                                  new_members=",".join(s.spec() for s in three))
        record_figure("reconfig 5 -> 3: answered", time.monotonic() - t0)
        ids, v3 = parse_config(data)
        assert ids == [1, 2, 3] and v3 > v5, data.decode()
        ens.left([s4, s5])
        ens.wait_healthy()
        assert_config_everywhere(ens, [1, 2, 3])

        # three voters again: 2 of 3 is a quorum
        follower = [s for s in ens.servers if s.mode() == "follower"][0]
        t_down = time.monotonic()
        follower.stop()
        wait_until(lambda: acked_between(load, t_down, time.monotonic()) > 0,
                   60, 0.05, "a write acknowledged by two of servers 1-3 "
                   "(progress: %s)" % progress(load.workers, t_down))
        follower.start()
        ens.wait_healthy()
        time.sleep(1)

    errors = [e for w in load.workers for e in w.errors]
    assert not errors, errors[:5]
    tree = converged_tree(ens, base)
    n = check_creates(tree, base, load)
    final, acked, unknown = check_counter(tree, base, load)
    record_figure("reconfig 3 -> 5 -> 3: creates ok/unknown/nodes",
                  "%d/%d/%d" % (load.count("ok", "create"),
                                load.count("unknown", "create"), n), "")


def test_reconfig_refuses_bad_requests(ens):
    c = ens.client()
    (ids, v0), _ = config_of(c)
    with pytest.raises(BadArgumentsError):
        # a malformed server line
        c.reconfig(joining="server.9=nonsense", leaving=None, new_members=None)
    with pytest.raises(BadVersionError):
        c.reconfig(joining=None, leaving="3", new_members=None,
                   from_config=v0 + 1)
    (after, v1), _ = config_of(c)
    assert (after, v1) == (ids, v0)


def test_reconfig_to_the_same_members_is_a_new_version(ens):
    """ZooKeeper answers a member list equal to the current one with a new
    config version and the same members (and so do we)."""
    c = ens.client()
    (ids, v0), _ = config_of(c)
    same = ",".join(ens.server(i).spec() for i in ids)
    data, st = c.reconfig(joining=None, leaving=None, new_members=same)
    got, v1 = parse_config(data)
    assert got == ids and v1 > v0 and v1 == st.mzxid, data.decode()
    assert_config_everywhere(ens, ids)
    ens.wait_healthy()
