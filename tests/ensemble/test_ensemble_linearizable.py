"""Test 6: a compare-and-set register under the faults of tests 2 and 3
(the leader killed and restarted, then the leader cut off and healed, then
twice the leader cut off and healed as soon as the others elected anew),
then membership changes (3 -> 5, the leader removed, back to the first
three), checked for linearizability with lincheck.py.

Each client thread loops over two operations on one znode:

  cas   setData(value, expected version): ok, BADVERSION (failed) or
        unknown (no answer)
  read  getData, then a multi holding only check(version). ZooKeeper's reads
        are answered by the server the client is connected to and may be
        stale (sequentially consistent, not linearizable), so a plain read
        is not a linearizable read. The check goes through the leader and
        the quorum like a write; when it succeeds the register had the
        version read, and so the value read (versions are never reused),
        at an instant inside [getData sent, check answered]. Reads whose
        check fails or has no answer are dropped: a read says nothing
        about the state.

The plain getData results are still checked for what ZooKeeper does
promise: within one session the versions a client sees never go backwards,
even when its session moves to another server (the client's last zxid keeps
it off servers that are behind), and a client reads at least the version
its own acknowledged write produced.
"""

import random
import time

from kazoo.exceptions import BadVersionError

import lincheck
from ensemble_harness import wait_until
from ensemble_load import Load, Worker, call


class RegisterClient(Worker):
    def __init__(self, name, client, path, seed):
        super().__init__(name, client, pause=0.003)
        self.path = path
        self.rnd = random.Random(seed)
        self.history = []   # lincheck.Op
        self.seen = []      # (session, version) of plain reads and own writes
        self.version = 0    # the version this client believes current
        self.n = 0
        self.dropped_reads = 0

    def observe(self, version):
        self.seen.append((self.session(), version))
        self.version = version

    def step(self):
        if self.rnd.random() < 0.5:
            self.read()
        else:
            self.cas()

    def read(self):
        t0 = time.monotonic()
        got, exc = call(self.client.get_async(self.path))
        if exc is not None:
            time.sleep(0.05)
            return
        data, st = got
        self.observe(st.version)
        tx = self.client.transaction()
        tx.check(self.path, st.version)
        res, exc = call(tx.commit_async())
        t1 = time.monotonic()
        if exc is None and res == [True]:
            self.history.append(lincheck.Op(
                lincheck.READ, t0, t1, lincheck.OK,
                result=(st.version, data.decode()), client=self.name))
        else:
            self.dropped_reads += 1
            if exc is not None:
                time.sleep(0.05)

    def cas(self):
        value = "%s-%d" % (self.name, self.n)
        self.n += 1
        expected = self.version
        t0 = time.monotonic()
        st, exc = call(self.client.set_async(self.path, value.encode(), expected))
        t1 = time.monotonic()
        if exc is None:
            outcome = lincheck.OK
            if st.version != expected + 1:
                self.errors.append("set with version %d answered version %d"
                                   % (expected, st.version))
            self.observe(st.version)
        elif isinstance(exc, BadVersionError):
            outcome = lincheck.FAIL
        else:
            outcome = lincheck.UNKNOWN
            t1 = None
        self.history.append(lincheck.Op(
            lincheck.CAS, t0, t1, outcome, expected=expected, value=value,
            client=self.name))
        if outcome == lincheck.UNKNOWN:
            time.sleep(0.05)


def session_order_violations(worker):
    bad = []
    last = {}
    for session, version in worker.seen:
        if session is None:
            continue
        if version < last.get(session, -1):
            bad.append((session, last[session], version))
        last[session] = max(version, last.get(session, -1))
    return bad


def test_cas_register_is_linearizable_through_leader_kill_and_isolation(
        ens, base, record_figure):
    c = ens.client()
    c.create(base, b"init")
    workers = []
    # three clients of the whole ensemble, one pinned to each server
    for i in range(3):
        workers.append(RegisterClient("all%d" % i, ens.client(), base, i))
    for s in ens.servers:
        workers.append(RegisterClient("pin%d" % s.id, ens.client(hosts=s.hosts),
                                      base, 10 + s.id))
    load = Load(workers)
    marks = {}
    with load:
        time.sleep(2)
        # the faults of test 2: kill -9 the leader, restart it
        first = ens.leader()
        marks["kill"] = time.monotonic()
        first.kill()
        second = ens.wait_leader(servers=[s for s in ens.servers
                                          if s is not first], timeout=60)
        time.sleep(2)
        first.start()
        ens.wait_healthy()
        marks["restarted"] = time.monotonic()
        time.sleep(1)
        # the faults of test 3: cut the current leader off, heal
        second = ens.leader()
        others = [s for s in ens.servers if s is not second]
        marks["cut"] = time.monotonic()
        ens.net.cut_peer(second.id)
        ens.wait_leader(servers=others, timeout=60)
        time.sleep(2)
        marks["heal"] = time.monotonic()
        ens.net.heal_peer(second.id)
        wait_until(lambda: second.mode() == "follower", 60, 0.05,
                   "the cut-off leader to rejoin")
        ens.wait_healthy()
        time.sleep(1)
        # twice more: cut the leader, heal as soon as the others elected
        marks["flap"] = time.monotonic()
        for _ in range(2):
            ld = ens.wait_leader(timeout=60)
            ens.net.cut_peer(ld.id)
            ens.wait_leader(servers=[s for s in ens.servers if s is not ld],
                            timeout=60)
            ens.net.heal_peer(ld.id)
            ens.wait_healthy()
            time.sleep(0.5)
        # membership changes: 3 -> 5, the leader removed (5 -> 4, a new
        # leader), then the first three again (4 -> 3: the removed server
        # back from an empty directory, 4 and 5 out)
        marks["grow"] = time.monotonic()
        admin = ens.client()
        four, five = ens.spares[:2]
        for s in (four, five):
            ens.start_spare(s)
        admin.reconfig(joining="%s,%s" % (four.spec(), five.spec()),
                       leaving=None, new_members=None)
        ens.joined([four, five])
        ens.wait_healthy()
        time.sleep(1)
        marks["remove-leader"] = time.monotonic()
        ld = ens.leader()
        admin.retry(admin.reconfig, joining=None, leaving=str(ld.id),
                    new_members=None)
        ens.left([ld])
        ens.wait_healthy()
        time.sleep(1)
        marks["back-to-three"] = time.monotonic()
        ens.start_spare(ld)
        first_three = [ens.server(i) for i in (1, 2, 3)]
        admin.retry(admin.reconfig, joining=None, leaving=None,
                    new_members=",".join(s.spec() for s in first_three))
        ens.left([four, five])
        ens.joined([ld])
        ens.wait_healthy()
        time.sleep(1)
        marks["end"] = time.monotonic()

    history = [op for w in workers for op in w.history]
    cas_ok = [o for o in history if o.kind == lincheck.CAS and o.outcome == "ok"]
    cas_fail = [o for o in history if o.kind == lincheck.CAS and o.outcome == "fail"]
    cas_unknown = [o for o in history if o.outcome == "unknown"]
    reads = [o for o in history if o.kind == lincheck.READ]
    dropped = sum(w.dropped_reads for w in workers)
    # not vacuous: operations succeeded in every phase
    for a, b in (("kill", "restarted"), ("restarted", "cut"), ("cut", "heal"),
                 ("heal", "flap"), ("flap", "grow"), ("grow", "remove-leader"),
                 ("remove-leader", "back-to-three"), ("back-to-three", "end")):
        n = sum(1 for o in cas_ok if marks[a] < o.invoke < marks[b])
        assert n > 0, "no successful cas between %s and %s" % (a, b)
    assert len(reads) >= 50 and len(cas_ok) >= 50 and len(cas_fail) >= 10

    result = lincheck.check(history, (0, "init"))
    record_figure("linearizability: ops (cas ok/failed/unknown, reads, reads "
                  "dropped)", "%d (%d/%d/%d, %d, %d)" % (
                      len(history), len(cas_ok), len(cas_fail),
                      len(cas_unknown), len(reads), dropped), "")
    record_figure("linearizability: check", result.explain(), "")
    assert result.ok, result.explain()

    # session guarantees of the plain reads
    for w in workers:
        bad = session_order_violations(w)
        assert not bad, "%s saw versions go backwards within a session " \
            "(session, seen, then): %s" % (w.name, bad[:5])

    # the register's final state agrees with the history
    c.retry(c.sync, base)
    data, st = c.retry(c.get, base)
    assert st.version >= len(cas_ok)
    assert st.version <= len(cas_ok) + len(cas_unknown)
