"""kazoo's high-level recipes: each relies on sequential/ephemeral nodes,
watches and version checks behaving exactly like ZooKeeper."""

import threading
import time

from kazoo.exceptions import LockTimeout

from harness import wait_until


def test_lock_mutual_exclusion(kazoo_factory, base):
    clients = [kazoo_factory() for _ in range(3)]
    path = base + "/lock"
    inside = []
    max_inside = [0]
    log = []
    errors = []
    guard = threading.Lock()

    def worker(i, c):
        try:
            lock = c.Lock(path, "worker-%d" % i)
            for _ in range(4):
                with lock:
                    with guard:
                        inside.append(i)
                        max_inside[0] = max(max_inside[0], len(inside))
                    log.append(i)
                    time.sleep(0.01)
                    with guard:
                        inside.remove(i)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i, c))
               for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert max_inside[0] == 1
    assert sorted(log) == sorted([0, 1, 2] * 4)
    # all lock nodes are gone again
    assert clients[0].get_children(path) == []


def test_lock_contenders_and_timeout(kazoo_factory, base):
    a, b, c = kazoo_factory(), kazoo_factory(), kazoo_factory()
    path = base + "/lock2"
    la = a.Lock(path, "alpha")
    lb = b.Lock(path, "beta")
    assert la.acquire(timeout=10)
    try:
        lb.acquire(timeout=0.5)
        raise AssertionError("second acquire should time out")
    except LockTimeout:
        pass
    got = threading.Event()

    def waiter():
        if lb.acquire(timeout=30):
            got.set()

    t = threading.Thread(target=waiter)
    t.start()
    assert wait_until(lambda: c.Lock(path).contenders() == ["alpha", "beta"],
                      timeout=10)
    assert not got.is_set()
    la.release()
    assert got.wait(15)
    t.join(5)
    assert c.Lock(path).contenders() == ["beta"]
    lb.release()
    assert c.Lock(path).contenders() == []


def test_lock_released_when_holder_session_closes(kazoo_factory, base):
    a, b = kazoo_factory(), kazoo_factory()
    path = base + "/lock3"
    assert a.Lock(path, "a").acquire(timeout=10)
    lb = b.Lock(path, "b")
    got = threading.Event()
    t = threading.Thread(target=lambda: lb.acquire(timeout=30) and got.set())
    t.start()
    time.sleep(0.3)
    assert not got.is_set()
    a.stop()  # closing the session deletes the holder's ephemeral node
    assert got.wait(15)
    t.join(5)
    lb.release()


def test_election(kazoo_factory, base):
    path = base + "/election"
    clients = [kazoo_factory() for _ in range(2)]
    leaders = []
    release = {0: threading.Event(), 1: threading.Event()}
    elections = [c.Election(path, "node-%d" % i)
                 for i, c in enumerate(clients)]

    def lead(i):
        leaders.append(i)
        release[i].wait(30)

    threads = []
    for i, e in enumerate(elections):
        t = threading.Thread(target=e.run, args=(lead, i))
        t.start()
        threads.append(t)
        if i == 0:
            assert wait_until(lambda: leaders == [0], timeout=10)
    assert wait_until(lambda: elections[0].contenders()
                      == ["node-0", "node-1"], timeout=10)
    time.sleep(0.2)
    assert leaders == [0]
    release[0].set()
    assert wait_until(lambda: leaders == [0, 1], timeout=15)
    release[1].set()
    for t in threads:
        t.join(10)
    assert elections[0].contenders() == []


def test_queue(kazoo_factory, base):
    a, b = kazoo_factory(), kazoo_factory()
    qa = a.Queue(base + "/q")
    qb = b.Queue(base + "/q")
    for v in (b"one", b"two", b"three"):
        qa.put(v)
    qa.put(b"urgent", priority=10)
    assert len(qb) == 4
    assert qb.get() == b"urgent"
    assert [qb.get(), qa.get(), qb.get()] == [b"one", b"two", b"three"]
    assert qb.get() is None
    assert len(qa) == 0


def test_locking_queue(kazoo_factory, base):
    a, b = kazoo_factory(), kazoo_factory()
    qa = a.LockingQueue(base + "/lq")
    qb = b.LockingQueue(base + "/lq")
    qa.put_all([b"a", b"b"])
    assert len(qb) == 2
    assert qb.get(timeout=10) == b"a"
    assert qb.holds_lock()
    # while b holds "a", a consumer on a gets the next entry
    assert qa.get(timeout=10) == b"b"
    assert qb.consume()
    assert qa.release()  # give "b" back
    assert qb.get(timeout=10) == b"b"
    assert qb.consume()
    assert len(qa) == 0
    # a blocking get wakes up for a later put
    out = []
    t = threading.Thread(target=lambda: out.append(qa.get(timeout=20)))
    t.start()
    time.sleep(0.3)
    qb.put(b"late")
    t.join(25)
    assert out == [b"late"]
    assert qa.consume()


def test_barrier(kazoo_factory, base):
    a, b = kazoo_factory(), kazoo_factory()
    path = base + "/barrier"
    ba = a.Barrier(path)
    ba.create()
    bb = b.Barrier(path)
    passed = []
    t = threading.Thread(target=lambda: passed.append(bb.wait(30)))
    t.start()
    time.sleep(0.3)
    assert passed == []
    assert bb.wait(0.2) is False
    ba.remove()
    t.join(20)
    assert passed == [True]
    assert b.Barrier(path).wait(1) is True


def test_double_barrier(kazoo_factory, base):
    path = base + "/dbarrier"
    clients = [kazoo_factory() for _ in range(3)]
    entered, left = [], []
    guard = threading.Lock()

    def participant(i, c):
        db = c.DoubleBarrier(path, 3, identifier="p%d" % i)
        db.enter()
        with guard:
            entered.append((i, time.monotonic()))
        db.leave()
        with guard:
            left.append((i, time.monotonic()))

    threads = []
    for i, c in enumerate(clients):
        t = threading.Thread(target=participant, args=(i, c))
        t.start()
        threads.append(t)
        if i < 2:
            time.sleep(0.3)
            assert len(entered) == 0  # blocks until all three are there
    for t in threads:
        t.join(30)
    assert sorted(i for i, _ in entered) == [0, 1, 2]
    assert sorted(i for i, _ in left) == [0, 1, 2]
    # nobody left before everybody had entered
    assert max(t for _, t in entered) <= min(t for _, t in left)


def test_counter(kazoo_factory, base):
    path = base + "/counter"
    clients = [kazoo_factory() for _ in range(3)]
    ctr = clients[0].Counter(path)
    assert ctr.value == 0
    ctr += 5
    ctr -= 2
    assert ctr.value == 3
    errors = []

    def bump(c):
        try:
            cc = c.Counter(path)
            for _ in range(20):
                cc += 1
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=bump, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert clients[1].Counter(path).value == 63
    fc = clients[2].Counter(base + "/fcounter", default=0.0)
    fc += 1.5
    assert fc.value == 1.5


def test_semaphore(kazoo_factory, base):
    a, b, c = kazoo_factory(), kazoo_factory(), kazoo_factory()
    path = base + "/sem"
    sa = a.Semaphore(path, "a", max_leases=2)
    sb = b.Semaphore(path, "b", max_leases=2)
    sc = c.Semaphore(path, "c", max_leases=2)
    assert sa.acquire(timeout=10) and sb.acquire(timeout=10)
    assert sorted(sc.lease_holders()) == ["a", "b"]
    try:
        sc.acquire(timeout=0.5)
        raise AssertionError("third lease should time out")
    except LockTimeout:
        pass
    sa.release()
    assert sc.acquire(timeout=10)
    assert sorted(sa.lease_holders()) == ["b", "c"]
    sb.release()
    sc.release()


def test_party(kazoo_factory, base):
    a, b = kazoo_factory(), kazoo_factory()
    pa = a.Party(base + "/party", "alice")
    pb = b.Party(base + "/party", "bob")
    pa.join()
    pb.join()
    assert sorted(pa) == ["alice", "bob"]
    assert len(pb) == 2
    pb.leave()
    assert list(pa) == ["alice"]
