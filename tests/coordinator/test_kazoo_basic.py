"""Basic znode operations through the unmodified kazoo client.

Where kazoo (2.11) has no public API for a feature (TTL and container nodes,
getAllChildrenNumber, getEphemerals) the kazoo test is skipped with a reason
and the feature is exercised through the raw wire protocol (jute.py) instead.
"""

import pytest
from kazoo.exceptions import (
    BadVersionError,
    ConnectionLoss,
    KazooException,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    ZookeeperError,
)
from kazoo.protocol.states import KazooState

from harness import wait_until
from jute import Err, Mode


def test_create_get_set_delete(client, base):
    p = base + "/node"
    assert client.create(p, b"hello") == p
    data, st = client.get(p)
    assert data == b"hello"
    assert st.version == 0 and st.dataLength == 5
    st2 = client.set(p, b"world!")
    assert st2.version == 1 and st2.dataLength == 6
    assert client.get(p)[0] == b"world!"
    client.delete(p)
    assert client.exists(p) is None
    with pytest.raises(NoNodeError):
        client.get(p)


def test_children_listing_and_exists(client, base):
    for name in ("b", "a", "c"):
        client.create("%s/%s" % (base, name), name.encode())
    assert sorted(client.get_children(base)) == ["a", "b", "c"]
    assert client.exists(base + "/a") is not None
    assert client.exists(base + "/zz") is None
    assert client.get_children(base + "/a") == []
    with pytest.raises(NoNodeError):
        client.get_children(base + "/zz")


def test_get_children_include_data(client, base):
    client.create(base + "/x", b"1")
    client.create(base + "/y", b"2")
    children, st = client.get_children(base, include_data=True)
    assert sorted(children) == ["x", "y"]
    assert st.numChildren == 2
    assert st.cversion == 2
    assert st == client.exists(base)


def test_stat_fields_on_create_and_set(client, base):
    p = base + "/s"
    client.create(p, b"abc")
    st = client.exists(p)
    assert st.czxid == st.mzxid == st.pzxid
    assert st.version == 0 and st.cversion == 0 and st.aversion == 0
    assert st.ephemeralOwner == 0
    assert st.dataLength == 3 and st.numChildren == 0
    assert st.ctime == st.mtime and st.ctime > 0

    st1 = client.set(p, b"")
    assert st1.version == 1
    assert st1.dataLength == 0
    assert st1.czxid == st.czxid
    assert st1.mzxid > st.mzxid
    assert st1.pzxid == st.pzxid  # data changes do not touch pzxid
    assert st1.cversion == 0 and st1.aversion == 0
    assert st1.mtime >= st1.ctime == st.ctime
    assert client.exists(p) == st1

    # setting the same data again still bumps version and mzxid
    st2 = client.set(p, b"")
    assert st2.version == 2 and st2.mzxid > st1.mzxid


def test_parent_stat_on_child_create_and_delete(client, base):
    """Real ZooKeeper 3.8: both creating and deleting a child bump the
    parent's cversion and move its pzxid to the zxid of that create/delete;
    the parent's mzxid/version are untouched."""
    p0 = client.exists(base)
    child = client.create(base + "/c1", include_data=True)[1]
    p1 = client.exists(base)
    assert p1.cversion == p0.cversion + 1
    assert p1.numChildren == 1
    assert p1.pzxid == child.czxid
    assert p1.mzxid == p0.mzxid and p1.version == p0.version

    client.delete(base + "/c1")
    p2 = client.exists(base)
    assert p2.cversion == p1.cversion + 1
    assert p2.numChildren == 0
    assert p2.pzxid > p1.pzxid
    assert p2.mzxid == p0.mzxid and p2.version == p0.version
    # the delete's zxid lies between the child's creation and any later write
    later = client.create(base + "/c2", include_data=True)[1]
    assert p2.pzxid < later.czxid
    p3 = client.exists(base)
    assert p3.pzxid == later.czxid and p3.cversion == p2.cversion + 1


def test_set_acl_bumps_aversion_only(client, base):
    from kazoo.security import OPEN_ACL_UNSAFE
    st0 = client.exists(base)
    st1 = client.set_acls(base, OPEN_ACL_UNSAFE)
    assert st1.aversion == st0.aversion + 1
    assert st1.version == st0.version and st1.mzxid == st0.mzxid
    assert st1.cversion == st0.cversion
    assert client.exists(base) == st1


def test_zxids_increase_across_writes(client, base):
    a = client.create(base + "/a", include_data=True)[1]
    b = client.create(base + "/b", include_data=True)[1]
    assert b.czxid > a.czxid
    s = client.set(base + "/a", b"x")
    assert s.mzxid > b.czxid


def test_create_include_data_returns_stat(client, base):
    path, st = client.create(base + "/inc", b"12345", include_data=True)
    assert path == base + "/inc"
    assert st.dataLength == 5 and st.version == 0
    assert st == client.exists(path)


def test_makepath_and_ensure_path(client, base):
    client.create(base + "/a/b/c", b"deep", makepath=True)
    assert client.get(base + "/a/b/c")[0] == b"deep"
    client.ensure_path(base + "/x/y")
    assert client.exists(base + "/x/y") is not None


def test_error_codes(client, base):
    p = base + "/e"
    client.create(p, b"v")
    with pytest.raises(NodeExistsError):
        client.create(p)
    with pytest.raises(NoNodeError):
        client.delete(base + "/missing")
    with pytest.raises(NoNodeError):
        client.set(base + "/missing", b"")
    with pytest.raises(NoNodeError):
        client.create(base + "/missing/child")
    with pytest.raises(BadVersionError):
        client.set(p, b"x", version=5)
    with pytest.raises(BadVersionError):
        client.delete(p, version=3)
    client.create(p + "/kid")
    with pytest.raises(NotEmptyError):
        client.delete(p)
    # versioned operations succeed with the right version
    st = client.set(p, b"y", version=0)
    assert st.version == 1
    client.delete(p + "/kid", version=0)
    client.delete(p, version=1)
    assert client.exists(p) is None


def test_recursive_delete(client, base):
    for q in ("/r/a/1", "/r/a/2", "/r/b"):
        client.create(base + q, makepath=True)
    client.delete(base + "/r", recursive=True)
    assert client.exists(base + "/r") is None


def test_ephemeral_node_lifecycle(kazoo_factory, client, base):
    other = kazoo_factory()
    p = base + "/eph"
    other.create(p, b"e", ephemeral=True)
    st = client.exists(p)
    assert st is not None
    assert st.ephemeralOwner == other.client_id[0]
    assert st.ephemeralOwner != 0
    with pytest.raises(NoChildrenForEphemeralsError):
        other.create(p + "/child")
    with pytest.raises(NoChildrenForEphemeralsError):
        client.create(p + "/child")
    other.stop()
    other.close()
    # closing the session removes its ephemerals (closeSession is a txn)
    assert wait_until(lambda: client.exists(p) is None, timeout=10)


def test_sequential_nodes(client, base):
    p1 = client.create(base + "/seq-", sequence=True)
    p2 = client.create(base + "/seq-", sequence=True)
    assert p1 == base + "/seq-0000000000"
    assert p2 == base + "/seq-0000000001"
    assert client.exists(base).cversion == 2


def test_sequence_counter_counts_creates_not_deletes(client, base):
    """Real ZooKeeper 3.8 stores, per parent, the number of child creations
    and uses it as the sequence counter; the cversion it *reports* is
    2 * creations - numChildren (DataNode.copyStat), i.e. creates + deletes.
    So after a child deletion the next suffix is lower than the cversion."""
    client.create(base + "/seq-", sequence=True)        # creates=1
    client.create(base + "/seq-", sequence=True)        # creates=2
    client.create(base + "/plain")                      # creates=3
    client.delete(base + "/plain")
    st = client.exists(base)
    assert st.cversion == 4 and st.numChildren == 2
    p3 = client.create(base + "/seq-", sequence=True)
    assert p3 == base + "/seq-0000000003"
    assert client.exists(base).cversion == 5
    # failed deletes change nothing
    with pytest.raises(NoNodeError):
        client.delete(base + "/plain")
    client.create(base + "/q")                          # creates=5
    client.delete(base + "/q")
    client.delete(p3)
    st = client.exists(base)
    assert st.cversion == 8 and st.numChildren == 2
    # bare-suffix name and ephemeral sequential
    p4 = client.create(base + "/", sequence=True, ephemeral=True)
    assert p4 == base + "/0000000005"
    assert client.exists(p4).ephemeralOwner == client.client_id[0]
    assert sorted(client.get_children(base)) == [
        "0000000005", "seq-0000000000", "seq-0000000001"]
    assert client.exists(base).cversion == 9


def test_sequential_suffix_is_ten_digits(client, base):
    p = client.create(base + "/n", sequence=True)
    suffix = p[len(base) + 2:]
    assert len(suffix) == 10 and suffix.isdigit()


# ----------------------------------------------------------------------
# containers and TTL nodes: kazoo 2.11 has no API, use the wire protocol
# ----------------------------------------------------------------------


def _create_params():
    import inspect
    from kazoo.client import KazooClient
    return inspect.signature(KazooClient.create).parameters


def test_container_kazoo_api(client, base):
    if "container" not in _create_params():
        pytest.skip("kazoo %s has no container node support; covered by "
                    "the raw-protocol tests below"
                    % __import__("kazoo").__version__)
    client.create(base + "/kbox", container=True)
    client.create(base + "/kbox/x")
    client.delete(base + "/kbox/x")
    assert wait_until(lambda: client.exists(base + "/kbox") is None, 15)


def test_container_removed_after_last_child(client, base, raw):
    c = raw()
    rep, res = c.create(base + "/box", flags=Mode.CONTAINER)
    assert rep.err == 0, rep
    path, st = res
    assert path == base + "/box"
    assert st.ephemeralOwner == 0  # container-ness is not revealed
    # a container that never had a child stays
    client.create(base + "/box/a")
    client.create(base + "/box/b")
    client.delete(base + "/box/a")
    # still has a child: must not be removed
    assert not wait_until(lambda: client.exists(base + "/box") is None,
                          timeout=1.0)
    client.delete(base + "/box/b")
    assert wait_until(lambda: client.exists(base + "/box") is None,
                      timeout=15), "container not removed"


def test_container_never_used_is_kept(client, base, raw):
    c = raw()
    rep, _ = c.create(base + "/empty_box", flags=Mode.CONTAINER)
    assert rep.err == 0
    # with the default maxNeverUsedIntervalMs=0 an unused container stays
    assert not wait_until(
        lambda: client.exists(base + "/empty_box") is None, timeout=1.5)


def test_ttl_kazoo_api(client, base):
    if "ttl" not in _create_params():
        pytest.skip("kazoo %s has no TTL node support; covered by the "
                    "raw-protocol tests below"
                    % __import__("kazoo").__version__)
    client.create(base + "/kttl", ttl=300)
    assert wait_until(lambda: client.exists(base + "/kttl") is None, 15)


def test_ttl_node_expires(client, base, raw):
    c = raw()
    rep, res = c.create(base + "/ttl", b"t", flags=Mode.PERSISTENT_WITH_TTL,
                        ttl=300)
    assert rep.err == 0, rep
    assert res[0] == base + "/ttl"
    # the TTL is not revealed through ephemeralOwner (ZK reports 0)
    assert res[1].ephemeralOwner == 0
    assert c.exists(base + "/ttl")[1].ephemeralOwner == 0
    rep, res = c.create(base + "/ttlseq-",
                        flags=Mode.PERSISTENT_SEQUENTIAL_WITH_TTL, ttl=300)
    assert rep.err == 0, rep
    assert res[0] == base + "/ttlseq-0000000001"
    # a TTL node with children is kept while it has them
    rep, _ = c.create(base + "/ttlkeep", flags=Mode.PERSISTENT_WITH_TTL,
                      ttl=300)
    assert rep.err == 0
    client.create(base + "/ttlkeep/child")
    assert wait_until(lambda: client.exists(base + "/ttl") is None
                      and client.exists(base + "/ttlseq-0000000001") is None,
                      timeout=15), "TTL nodes not removed"
    assert client.exists(base + "/ttlkeep") is not None
    client.delete(base + "/ttlkeep/child")
    assert wait_until(lambda: client.exists(base + "/ttlkeep") is None,
                      timeout=15)


def test_ttl_invalid_arguments(base, raw):
    c = raw()
    rep, _ = c.create(base + "/t0", flags=Mode.PERSISTENT_WITH_TTL, ttl=0)
    assert rep.err == Err.BADARGUMENTS
    rep, _ = c.create(base + "/t1", flags=Mode.EPHEMERAL, ttl=1000)
    assert rep.err == Err.BADARGUMENTS
    rep, _ = c.create(base + "/t2", flags=Mode.PERSISTENT, ttl=1000)
    assert rep.err == Err.BADARGUMENTS
    assert c.exists(base + "/t0")[0].err == Err.NONODE


# ----------------------------------------------------------------------
# size limit
# ----------------------------------------------------------------------


def test_data_just_under_one_mib(client, base):
    data = bytes(range(256)) * ((1024 * 1024 - 1024) // 256)
    p = base + "/big"
    client.create(p, data)
    got, st = client.get(p)
    assert got == data
    assert st.dataLength == len(data)


def test_data_of_two_mib_fails_and_service_continues(kazoo_factory, base):
    c = kazoo_factory()
    with pytest.raises((ZookeeperError, ConnectionLoss, KazooException)):
        c.create(base + "/huge", b"x" * (2 * 1024 * 1024))
    # the node must not exist, and both a new client and the old (possibly
    # reconnected) one keep working
    fresh = kazoo_factory()
    assert fresh.exists(base + "/huge") is None
    fresh.create(base + "/after", b"ok")
    assert wait_until(lambda: c.state == KazooState.CONNECTED, timeout=15)
    assert c.get(base + "/after")[0] == b"ok"


# ----------------------------------------------------------------------
# getAllChildrenNumber / getEphemerals (3.6+): not in kazoo, raw protocol
# ----------------------------------------------------------------------


def test_get_all_children_number_and_ephemerals_kazoo_api(client, base):
    has_num = hasattr(client, "get_all_children_number")
    has_eph = hasattr(client, "get_ephemerals")
    if not has_num and not has_eph:
        pytest.skip("kazoo %s exposes neither getAllChildrenNumber nor "
                    "getEphemerals; covered by the raw-protocol tests below"
                    % __import__("kazoo").__version__)
    client.create(base + "/a/b", makepath=True)
    client.create(base + "/e", ephemeral=True)
    if has_num:
        assert client.get_all_children_number(base) == 3
    if has_eph:
        assert sorted(client.get_ephemerals(base)) == [base + "/e"]


def test_get_all_children_number(client, base, raw):
    for q in ("/a", "/a/1", "/a/2", "/a/2/x", "/b"):
        client.create(base + q)
    c = raw()
    rep, n = c.get_all_children_number(base)
    assert rep.err == 0 and n == 5
    rep, n = c.get_all_children_number(base + "/a/1")
    assert rep.err == 0 and n == 0
    rep, n = c.get_all_children_number(base + "/nope")
    assert rep.err == Err.NONODE


def test_get_ephemerals(client, base, raw):
    c = raw()
    for q in ("/e1", "/e2"):
        rep, _ = c.create(base + q, flags=Mode.EPHEMERAL)
        assert rep.err == 0
    client.create(base + "/p")
    client.create(base + "/mine", ephemeral=True)  # other session's
    rep, eph = c.get_ephemerals(base)
    assert rep.err == 0
    assert sorted(eph) == [base + "/e1", base + "/e2"]
    rep, eph = c.get_ephemerals(base + "/e1")
    assert rep.err == 0 and eph == [base + "/e1"]
    rep, eph = c.get_ephemerals("/nothing-here")
    assert rep.err == 0 and eph == []


def test_kazoo_keeps_working_after_errors(client, base):
    """A burst of failing requests does not disturb the session."""
    sid = client.client_id[0]
    for i in range(20):
        with pytest.raises(NoNodeError):
            client.get("%s/none%d" % (base, i))
    assert client.client_id[0] == sid
    assert client.connected
