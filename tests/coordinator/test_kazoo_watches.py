"""Watches through kazoo, plus the watch features kazoo 2.11 lacks (persistent
and recursive watches, removeWatches, SetWatches) through the raw protocol."""

import queue

import pytest
from kazoo.protocol.states import EventType, KazooState

from harness import (FAST_RECONNECT, RESTART_SESSION_TIMEOUT, Recorder,
                     wait_until)
from jute import AddWatchMode, Err, Ev, WatcherType


def test_data_watch_fires_once(kazoo_factory, base):
    a, b = kazoo_factory(), kazoo_factory()
    p = base + "/d"
    a.create(p, b"0")
    rec = Recorder()
    assert a.get(p, watch=rec)[0] == b"0"
    b.set(p, b"1")
    ev = rec.next()
    assert ev.type == EventType.CHANGED and ev.path == p
    assert ev.state == KazooState.CONNECTED
    b.set(p, b"2")
    rec.none_within(0.5, a)
    # re-arming works
    a.get(p, watch=rec)
    b.delete(p)
    ev = rec.next()
    assert ev.type == EventType.DELETED and ev.path == p


def test_child_watch(kazoo_factory, base):
    a, b = kazoo_factory(), kazoo_factory()
    rec = Recorder()
    assert a.get_children(base, watch=rec) == []
    b.create(base + "/c1")
    ev = rec.next()
    assert ev.type == EventType.CHILD and ev.path == base
    b.create(base + "/c2")
    rec.none_within(0.5, a)
    # child removal also fires, and data changes of the parent do not
    a.get_children(base, watch=rec)
    b.set(base, b"data")
    rec.none_within(0.3, a)
    b.delete(base + "/c1")
    ev = rec.next()
    assert ev.type == EventType.CHILD and ev.path == base
    # a child watch fires DELETED when the watched node itself goes
    b.create(base + "/c3")
    a.get_children(base + "/c3", watch=rec)
    b.delete(base + "/c3")
    ev = rec.next()
    assert ev.type == EventType.DELETED and ev.path == base + "/c3"


def test_grandchild_changes_do_not_fire_child_watch(kazoo_factory, base):
    a, b = kazoo_factory(), kazoo_factory()
    b.create(base + "/c")
    rec = Recorder()
    a.get_children(base, watch=rec)
    b.create(base + "/c/g")
    b.set(base + "/c", b"x")
    rec.none_within(0.5, a)


def test_exists_watch_on_missing_node(kazoo_factory, base):
    a, b = kazoo_factory(), kazoo_factory()
    p = base + "/later"
    rec = Recorder()
    assert a.exists(p, watch=rec) is None
    b.create(p, b"x")
    ev = rec.next()
    assert ev.type == EventType.CREATED and ev.path == p
    # exists watch on an existing node fires on data change and delete
    assert a.exists(p, watch=rec) is not None
    b.set(p, b"y")
    assert rec.next().type == EventType.CHANGED
    a.exists(p, watch=rec)
    b.delete(p)
    assert rec.next().type == EventType.DELETED


def test_watch_triggered_by_own_write(client, base):
    p = base + "/own"
    client.create(p, b"0")
    rec = Recorder()
    client.get(p, watch=rec)
    client.set(p, b"1")
    ev = rec.next()
    assert ev.type == EventType.CHANGED and ev.path == p


def test_one_notification_per_watch_kind(kazoo_factory, base):
    """A node deletion fires the data watch and the child watch that one
    client holds on it (kazoo dispatches one event per registered
    callback); the parent's child watch fires separately."""
    a, b = kazoo_factory(), kazoo_factory()
    p = base + "/n"
    b.create(p)
    data_rec, child_rec, parent_rec = Recorder(), Recorder(), Recorder()
    a.get(p, watch=data_rec)
    a.get_children(p, watch=child_rec)
    a.get_children(base, watch=parent_rec)
    b.delete(p)
    assert data_rec.next().type == EventType.DELETED
    assert child_rec.next().type == EventType.DELETED
    ev = parent_rec.next()
    assert ev.type == EventType.CHILD and ev.path == base
    data_rec.none_within(0.3, a)
    child_rec.none_within(0.1)
    parent_rec.none_within(0.1)


def test_datawatch_recipe(kazoo_factory, base):
    a, b = kazoo_factory(), kazoo_factory()
    p = base + "/dw"
    seen = queue.Queue()

    @a.DataWatch(p)
    def watcher(data, stat):
        seen.put(data)

    assert seen.get(timeout=10) is None  # node missing at first
    b.create(p, b"a")
    assert seen.get(timeout=10) == b"a"
    b.set(p, b"b")
    assert seen.get(timeout=10) == b"b"


def test_childrenwatch_recipe(kazoo_factory, base):
    a, b = kazoo_factory(), kazoo_factory()
    seen = queue.Queue()

    @a.ChildrenWatch(base)
    def watcher(children):
        seen.put(sorted(children))

    assert seen.get(timeout=10) == []
    b.create(base + "/x")
    assert seen.get(timeout=10) == ["x"]
    b.create(base + "/y")
    assert seen.get(timeout=10) == ["x", "y"]


# ----------------------------------------------------------------------
# persistent / recursive watches
# ----------------------------------------------------------------------


def test_persistent_watch_kazoo_api(client, base):
    if not hasattr(client, "add_watch"):
        pytest.skip("kazoo %s has no add_watch (persistent watches); "
                    "covered by the raw-protocol tests below"
                    % __import__("kazoo").__version__)
    from kazoo.protocol.states import AddWatchMode as KAddWatchMode
    rec = Recorder()
    client.add_watch(base, rec, KAddWatchMode.PERSISTENT)
    client.set(base, b"1")
    client.set(base, b"2")
    assert rec.next().type == EventType.CHANGED
    assert rec.next().type == EventType.CHANGED


def test_persistent_recursive_watch_kazoo_api(client, base):
    if not hasattr(client, "add_watch"):
        pytest.skip("kazoo %s has no add_watch (persistent recursive "
                    "watches); covered by the raw-protocol tests below"
                    % __import__("kazoo").__version__)
    from kazoo.protocol.states import AddWatchMode as KAddWatchMode
    rec = Recorder()
    client.add_watch(base, rec, KAddWatchMode.PERSISTENT_RECURSIVE)
    client.create(base + "/a")
    client.create(base + "/a/b")
    evs = [rec.next(), rec.next()]
    assert [e.type for e in evs] == [EventType.CREATED] * 2
    rec.none_within(0.3, client)


def test_persistent_watch_raw(client, base, raw):
    w = raw()
    p = base + "/pw"
    client.create(p)
    rep, _ = w.add_watch(p, AddWatchMode.PERSISTENT)
    assert rep.err == 0
    client.set(p, b"1")
    client.set(p, b"2")
    client.create(p + "/kid")
    client.create(p + "/kid/grandkid")   # not reported: not recursive
    client.set(p + "/kid", b"x")         # not reported
    client.delete(p + "/kid/grandkid")
    client.delete(p + "/kid")
    client.delete(p)
    client.create(p)                     # the watch survives deletion
    evs = w.drain_events(0.5)
    assert [(e.type, e.path) for e in evs] == [
        (Ev.NODE_DATA_CHANGED, p),
        (Ev.NODE_DATA_CHANGED, p),
        (Ev.NODE_CHILDREN_CHANGED, p),
        (Ev.NODE_CHILDREN_CHANGED, p),
        (Ev.NODE_DELETED, p),
        (Ev.NODE_CREATED, p),
    ]
    assert all(e.state == 3 for e in evs)  # SyncConnected


def test_persistent_recursive_watch_raw(client, base, raw):
    w = raw()
    r = base + "/rw"
    client.create(r)
    rep, _ = w.add_watch(r, AddWatchMode.PERSISTENT_RECURSIVE)
    assert rep.err == 0
    client.create(r + "/a", b"")
    client.create(r + "/a/b", b"")
    client.set(r + "/a/b", b"z")
    client.set(r, b"top")
    client.delete(r + "/a/b")
    client.create(base + "/rwx")          # sibling prefix: not below r
    client.create(base + "/other")
    evs = w.drain_events(0.5)
    assert [(e.type, e.path) for e in evs] == [
        (Ev.NODE_CREATED, r + "/a"),
        (Ev.NODE_CREATED, r + "/a/b"),
        (Ev.NODE_DATA_CHANGED, r + "/a/b"),
        (Ev.NODE_DATA_CHANGED, r),
        (Ev.NODE_DELETED, r + "/a/b"),
    ]
    # recursive watches never deliver NodeChildrenChanged
    assert not any(e.type == Ev.NODE_CHILDREN_CHANGED for e in evs)


def test_persistent_watch_on_missing_node_raw(client, base, raw):
    w = raw()
    p = base + "/notyet"
    rep, _ = w.add_watch(p, AddWatchMode.PERSISTENT)
    assert rep.err == 0   # no NONODE: persistent watches may precede nodes
    client.create(p)
    ev = w.wait_event(10)
    assert ev is not None and (ev.type, ev.path) == (Ev.NODE_CREATED, p)


def test_persistent_and_standard_watch_together_raw(client, base, raw):
    """A one-shot data watch and a persistent watch of the same connection
    on the same node yield a single notification for a change.

    (What happens on the *next* change is not asserted: ZooKeeper 3.8.0
    loses the persistent watch there, bug ZOOKEEPER-4466, fixed later.)"""
    w = raw()
    p = base + "/both"
    client.create(p)
    w.add_watch(p, AddWatchMode.PERSISTENT)
    rep, _ = w.get_data(p, watch=True)
    assert rep.err == 0
    client.set(p, b"1")
    evs = w.drain_events(0.5)
    assert [(e.type, e.path) for e in evs] == [(Ev.NODE_DATA_CHANGED, p)]


# ----------------------------------------------------------------------
# removeWatches / checkWatches
# ----------------------------------------------------------------------


def test_remove_all_watches_kazoo_api(client, base):
    if not hasattr(client, "remove_all_watches"):
        pytest.skip("kazoo %s has no remove_all_watches; covered by the "
                    "raw-protocol tests below"
                    % __import__("kazoo").__version__)
    from kazoo.protocol.states import WatcherType as KWatcherType
    rec = Recorder()
    client.get(base, watch=rec)
    client.remove_all_watches(base, KWatcherType.ANY)
    client.set(base, b"after-removal")
    client.sync("/")
    while not rec.q.empty():
        assert rec.q.get().type != EventType.CHANGED


def test_remove_watches_raw(client, base, raw):
    w = raw()
    p = base + "/rm"
    client.create(p)
    assert w.get_data(p, watch=True)[0].err == 0
    assert w.get_children(p, watch=True)[0].err == 0
    # remove only the data watch: child watch still fires
    rep, _ = w.remove_watches(p, WatcherType.DATA)
    assert rep.err == 0
    rep, _ = w.remove_watches(p, WatcherType.DATA)
    assert rep.err == Err.NOWATCHER
    client.set(p, b"x")
    client.create(p + "/c")
    evs = w.drain_events(0.5)
    # the server sends no notification for a removed watch (the Java client
    # makes the DataWatchRemoved event itself)
    assert [(e.type, e.path) for e in evs] == [(Ev.NODE_CHILDREN_CHANGED, p)]

    # ANY removes both kinds
    w.get_data(p, watch=True)
    w.get_children(p, watch=True)
    assert w.check_watches(p, WatcherType.ANY)[0].err == 0
    rep, _ = w.remove_watches(p, WatcherType.ANY)
    assert rep.err == 0
    assert w.check_watches(p, WatcherType.ANY)[0].err == Err.NOWATCHER
    client.set(p, b"y")
    client.delete(p + "/c")
    assert w.drain_events(0.5) == []
    rep, _ = w.remove_watches(base + "/nothing", WatcherType.ANY)
    assert rep.err == Err.NOWATCHER


def test_remove_persistent_watch_raw(client, base, raw):
    w = raw()
    p = base + "/rp"
    client.create(p)
    assert w.add_watch(p, AddWatchMode.PERSISTENT_RECURSIVE)[0].err == 0
    client.set(p, b"1")
    assert [e.type for e in w.drain_events(0.3)] == [Ev.NODE_DATA_CHANGED]
    rep, _ = w.remove_watches(p, WatcherType.ANY)
    assert rep.err == 0
    client.set(p, b"2")
    client.create(p + "/k")
    assert w.drain_events(0.5) == []


# ----------------------------------------------------------------------
# ordering and re-registration
# ----------------------------------------------------------------------


def test_notification_precedes_reply_of_triggering_write(client, base, raw):
    """ZooKeeper sends the watch notification to the writing client before
    the reply of the write that triggered it."""
    w = raw()
    p = base + "/order"
    client.create(p)
    w.get_data(p, watch=True)
    w.get_children(base, watch=True)
    w.log.clear()
    xid = w.next_xid
    rep, _ = w.set_data(p, b"1")
    assert rep.err == 0
    assert [k for k, _ in w.log] == ["event", "reply"], w.log
    assert w.log[1] == ("reply", xid)
    ev = w.log[0][1]
    assert (ev.type, ev.path) == (Ev.NODE_DATA_CHANGED, p)
    w.events.clear()
    w.log.clear()
    rep, _ = w.delete(p)
    assert rep.err == 0
    assert [k for k, _ in w.log] == ["event", "reply"], w.log
    assert (w.log[0][1].type, w.log[0][1].path) == \
        (Ev.NODE_CHILDREN_CHANGED, base)


def test_set_watches_fires_for_missed_changes(client, base, raw):
    """SetWatches (what clients send after reconnecting) with an old
    relativeZxid fires at once for changes the client missed."""
    p = base + "/sw"
    q = base + "/sw_new"
    client.create(p, b"0")
    old_zxid = client.exists(p).mzxid
    client.set(p, b"1")              # missed data change
    client.create(q)                 # missed creation
    w = raw()
    rep, _ = w.set_watches(old_zxid, data=[p], exist=[q], child=[base])
    assert rep.err == 0
    evs = sorted((e.type, e.path) for e in w.drain_events(0.5))
    assert evs == sorted([(Ev.NODE_DATA_CHANGED, p), (Ev.NODE_CREATED, q),
                          (Ev.NODE_CHILDREN_CHANGED, base)])
    # with a current zxid nothing fires, and the watches are armed
    w2 = raw()
    now = client.exists(p).mzxid
    now = max(now, client.exists(q).czxid, client.exists(base).pzxid)
    w2.set_watches(now, data=[p])
    assert w2.drain_events(0.3) == []
    client.set(p, b"2")
    ev = w2.wait_event(10)
    assert ev is not None and (ev.type, ev.path) == (Ev.NODE_DATA_CHANGED, p)


def test_session_and_watch_recipes_survive_server_restart(
        zk, kazoo_factory, base):
    """Kill -9 the server and restart it on the same port and dataDir: the
    kazoo client resumes its session (same id, not LOST).

    kazoo itself does not re-register plain watches after a reconnect: it
    fires them with EventType.NONE when the connection drops (the Java
    client's SetWatches re-registration is covered in test_zkcli.py and the
    server side of SetWatches in test_set_watches_fires_for_missed_changes).
    Its DataWatch / ChildrenWatch recipes re-arm on reconnect, so a change
    made after the restart must reach them."""
    a = kazoo_factory(timeout=RESTART_SESSION_TIMEOUT,
                      connection_retry=FAST_RECONNECT)
    p = base + "/rewatch"
    a.create(p, b"0")
    sid = a.client_id[0]
    plain = Recorder()
    a.get(p, watch=plain)
    data_seen, kids_seen = queue.Queue(), queue.Queue()
    a.DataWatch(p)(lambda data, stat: data_seen.put(data))
    a.ChildrenWatch(base)(lambda children: kids_seen.put(sorted(children)))
    assert data_seen.get(timeout=10) == b"0"
    assert kids_seen.get(timeout=10) == ["rewatch"]
    states = []
    a.add_listener(states.append)
    try:
        zk.kill()
    finally:
        zk.start()
    assert wait_until(lambda: KazooState.SUSPENDED in states, timeout=30)
    assert plain.next(15).type == EventType.NONE
    assert wait_until(lambda: a.state == KazooState.CONNECTED, timeout=60)
    assert a.client_id[0] == sid
    assert KazooState.LOST not in states
    assert a.get(p)[0] == b"0"
    b = kazoo_factory()
    b.set(p, b"1")
    b.create(base + "/later")
    assert wait_until(lambda: data_seen.get(timeout=15) == b"1", timeout=15)
    assert wait_until(
        lambda: kids_seen.get(timeout=15) == ["later", "rewatch"], timeout=15)
