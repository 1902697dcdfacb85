"""Client load for the fault tests: threads that each drive one kazoo client
and record every operation with its invocation and completion time
(time.monotonic()) and its outcome:

    ok       the server acknowledged it
    fail     the server answered with a definite error (BADVERSION, ...):
             it did not take effect
    unknown  no answer (connection loss, session expiry, our own timeout):
             it may or may not have taken effect, now or later
"""

import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

from kazoo.exceptions import (BadArgumentsError, BadVersionError,
                              ConnectionLoss, NoAuthError, NodeExistsError,
                              NoNodeError, NotEmptyError)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import KazooState

from ensemble_harness import assert_acked_present

DEFINITE = (BadVersionError, NoNodeError, NodeExistsError, NotEmptyError,
            BadArgumentsError, NoAuthError)
# What a client may see while servers fail and come back: the request's
# fate is unknown and the application retries it.
RETRIABLE = (ConnectionLoss, KazooTimeoutError)

OP_TIMEOUT = 20.0  # seconds a worker waits for one answer


def classify(exc):
    if exc is None:
        return "ok"
    if isinstance(exc, DEFINITE):
        return "fail"
    return "unknown"


@dataclass
class Op:
    worker: str
    kind: str
    invoke: float
    complete: Optional[float] = None
    outcome: str = "unknown"
    args: Any = None
    result: Any = None
    error: Optional[str] = None
    session: Optional[int] = None


def call(async_result, timeout=OP_TIMEOUT):
    """(value, exception) of a kazoo async call."""
    try:
        return async_result.get(timeout=timeout), None
    except Exception as e:  # noqa: BLE001 - every failure is recorded
        return None, e


class StateLog:
    """A kazoo connection listener that records (time, state)."""

    def __init__(self, client):
        self.events = []
        self.client = client
        client.add_listener(self)

    def __call__(self, state):
        self.events.append((time.monotonic(), state))

    @property
    def lost(self):
        return [t for t, s in self.events if s == KazooState.LOST]

    @property
    def suspended(self):
        return [t for t, s in self.events if s == KazooState.SUSPENDED]


class Worker(threading.Thread):
    """A thread running step() until stop(); ops are appended to self.ops."""

    def __init__(self, name, client, pause=0.0):
        super().__init__(name=name, daemon=True)
        self.client = client
        self.pause = pause
        self.ops = []
        self.current = None  # invocation time of the op in flight
        self.errors = []  # unexpected exceptions of the worker itself
        self._halt = threading.Event()
        self.states = StateLog(client)

    def stop(self):
        self._halt.set()

    @property
    def stopping(self):
        return self._halt.is_set()

    def session(self):
        cid = self.client.client_id
        return cid[0] if cid else None

    def record(self, kind, args, fn):
        op = Op(self.name, kind, time.monotonic(), args=args,
                session=self.session())
        self.current = op.invoke
        value, exc = fn()
        self.current = None
        op.complete = time.monotonic()
        op.outcome = classify(exc)
        op.result = value
        if exc is not None:
            op.error = type(exc).__name__
        if op.outcome == "unknown":
            op.complete = None  # it may still take effect at any later time
        self.ops.append(op)
        return op, value, exc

    def run(self):
        try:
            while not self._halt.is_set():
                self.step()
                if self.pause:
                    time.sleep(self.pause * (0.5 + random.random()))
        except Exception as e:  # noqa: BLE001
            self.errors.append(repr(e))

    def step(self):
        raise NotImplementedError

    # summaries
    def by_outcome(self, outcome, kind=None):
        return [o for o in self.ops if o.outcome == outcome
                and (kind is None or o.kind == kind)]


class Creator(Worker):
    """Creates unique nodes prefix/<name>-<n>: every acknowledged one must
    exist afterwards; an unknown one may or may not."""

    def __init__(self, name, client, prefix, pause=0.02):
        super().__init__(name, client, pause)
        self.prefix = prefix
        self.n = 0

    def step(self):
        path = "%s/%s-%06d" % (self.prefix, self.name, self.n)
        self.n += 1
        data = path.encode()
        op, _, exc = self.record("create", path,
                                 lambda: call(self.client.create_async(path, data)))
        if op.outcome == "unknown":
            time.sleep(0.05)  # no busy loop while disconnected


class SeqCreator(Worker):
    """Creates sequential nodes prefix/seq- holding a unique payload: a
    create applied twice (a forwarded write retried, say) shows up as two
    nodes with one payload."""

    def __init__(self, name, client, prefix, pause=0.02):
        super().__init__(name, client, pause)
        self.prefix = prefix
        self.n = 0

    def step(self):
        data = "%s-%06d" % (self.name, self.n)
        self.n += 1
        op, _, _ = self.record("seq", data, lambda: call(self.client.create_async(
            self.prefix + "/seq-", data.encode(), sequence=True)))
        if op.outcome == "unknown":
            time.sleep(0.05)


class MultiCreator(Worker):
    """Creates two nodes in one multi: afterwards both exist or neither."""

    def __init__(self, name, client, prefix, pause=0.02):
        super().__init__(name, client, pause)
        self.prefix = prefix
        self.n = 0

    def step(self):
        a = "%s/%s-%06d-a" % (self.prefix, self.name, self.n)
        b = a[:-1] + "b"
        self.n += 1

        def commit():
            tx = self.client.transaction()
            tx.create(a, a.encode())
            tx.create(b, b.encode())
            res, exc = call(tx.commit_async())
            if exc is None and any(isinstance(r, Exception) for r in res):
                exc = next(r for r in res if isinstance(r, Exception)
                           and not type(r).__name__ == "RolledBackError")
            return res, exc
        op, _, _ = self.record("multi", (a, b), commit)
        if op.outcome == "unknown":
            time.sleep(0.05)


class CasCounter(Worker):
    """get + setData(version) increments of one counter node."""

    def __init__(self, name, client, path, pause=0.01):
        super().__init__(name, client, pause)
        self.path = path

    def step(self):
        got, exc = call(self.client.get_async(self.path))
        if exc is not None:
            time.sleep(0.05)
            return
        data, st = got
        new = str(int(data) + 1).encode()
        op, _, _ = self.record(
            "incr", (st.version, int(data)),
            lambda: call(self.client.set_async(self.path, new, st.version)))
        if op.outcome == "unknown":
            time.sleep(0.05)


class Load:
    """Starts workers; stop() stops and joins them."""

    def __init__(self, workers):
        self.workers = list(workers)
        self.started = None

    def start(self):
        self.started = time.monotonic()
        for w in self.workers:
            w.start()
        return self

    def stop(self, timeout=OP_TIMEOUT + 10):
        for w in self.workers:
            w.stop()
        deadline = time.monotonic() + timeout
        for w in self.workers:
            w.join(max(0.1, deadline - time.monotonic()))
        stuck = [w.name for w in self.workers if w.is_alive()]
        if stuck:
            raise AssertionError("workers did not stop: %s" % stuck)
        errors = [(w.name, e) for w in self.workers for e in w.errors]
        if errors:
            raise AssertionError("worker errors: %s" % errors)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if exc[0] is None:
            self.stop()
        else:  # keep the original failure
            try:
                self.stop()
            except AssertionError:
                pass

    @property
    def ops(self):
        return [o for w in self.workers for o in w.ops]

    def count(self, outcome, kind=None):
        return sum(1 for o in self.ops if o.outcome == outcome
                   and (kind is None or o.kind == kind))

    def first_ok_after(self, t, kind=None):
        """Completion time of the earliest acknowledged op invoked after t."""
        done = [o.complete for o in self.ops
                if o.outcome == "ok" and o.invoke >= t
                and (kind is None or o.kind == kind)]
        return min(done) if done else None


def progress(workers, since):
    """One line per worker: ops, acknowledged since `since`, the last
    completion and the state changes, relative to `since` (for failure
    messages)."""
    lines = []
    for w in workers:
        oks = [o.complete for o in w.ops if o.outcome == "ok"]
        last = max(oks) - since if oks else None
        lines.append("%s: %d ops, %d ok since, last ok %s, in flight since %s, "
                     "states %s" % (
                         w.name, len(w.ops),
                         sum(1 for t in oks if t > since),
                         "%+.2fs" % last if last is not None else "-",
                         "%+.2fs" % (w.current - since) if w.current else "-",
                         [("%+.2f" % (t - since), str(st))
                          for t, st in w.states.events[-4:]]))
    return "\n".join(lines)


def error_kinds(ops):
    out = {}
    for o in ops:
        if o.error:
            out[o.error] = out.get(o.error, 0) + 1
    return out


@dataclass
class Interval:
    who: str
    start: float
    end: float
    lost: bool = False


def overlaps(intervals):
    """Pairs of intervals (sorted by start) that overlap."""
    bad = []
    ivs = sorted(intervals, key=lambda i: i.start)
    latest = None
    for iv in ivs:
        if latest is not None and iv.start < latest.end:
            bad.append((latest, iv))
        if latest is None or iv.end > latest.end:
            latest = iv
    return bad


# ----------------------------------------------------------------------
# the standard load of the fault tests and its checks
# ----------------------------------------------------------------------

WRITERS = 4
COUNTERS = 3


def make_load(ens, root, writers=WRITERS, counters=COUNTERS):
    """Creators, a SeqCreator and a MultiCreator under root/nodes and
    CasCounters on root/counter, each on its own client of the whole
    ensemble (not started)."""
    c = ens.client()
    c.create(root)
    c.create(root + "/nodes")
    c.create(root + "/counter", b"0")
    ws = [Creator("w%d" % i, ens.client(), root + "/nodes")
          for i in range(writers)]
    ws += [CasCounter("cas%d" % i, ens.client(), root + "/counter")
           for i in range(counters)]
    ws.append(SeqCreator("seq", ens.client(), root + "/nodes"))
    ws.append(MultiCreator("multi", ens.client(), root + "/nodes"))
    return Load(ws)


def check_counter(tree, root, load):
    """The counter is at least the acknowledged increments and at most those
    plus the unknown ones; its version equals its value."""
    data, st = tree[root + "/counter"]
    final = int(data)
    acked = load.count("ok", "incr")
    unknown = load.count("unknown", "incr")
    assert acked <= final <= acked + unknown, \
        "counter %d, acknowledged increments %d, unknown %d" % (final, acked,
                                                                unknown)
    assert st[4] == final, "counter version %d != value %d" % (st[4], final)
    return final, acked, unknown


def check_creates(tree, root, load):
    """Every acknowledged create is there with its data, nothing else is;
    each multi is all or nothing; each sequential create is there once."""
    ops = load.ops
    attempted = assert_acked_present(tree, ops)
    nodes = {p for p in tree if p.startswith(root + "/nodes/")}
    # multis: all or nothing, acknowledged ones present
    for o in ops:
        if o.kind != "multi":
            continue
        a, b = o.args
        attempted.update(o.args)
        assert (a in tree) == (b in tree), "half a multi applied: %s" % (o.args,)
        if o.outcome == "ok":
            assert a in tree, "acknowledged multi lost: %s" % (o.args,)
            assert o.result == [a, b], o.result
    # sequential creates: one node per payload, acknowledged ones present
    seq = {p: tree[p][0].decode() for p in nodes
           if p.rsplit("/", 1)[1].startswith("seq-")}
    by_payload = {}
    for p, data in seq.items():
        by_payload.setdefault(data, []).append(p)
    twice = {d: ps for d, ps in by_payload.items() if len(ps) > 1}
    assert not twice, "sequential creates applied twice: %s" % list(twice.items())[:3]
    sent = {o.args for o in ops if o.kind == "seq"}
    assert set(by_payload) <= sent, "sequential nodes nobody created: %s" % (
        sorted(set(by_payload) - sent)[:5])
    for o in ops:
        if o.kind == "seq" and o.outcome == "ok":
            assert seq.get(o.result) == o.args, \
                "acknowledged sequential create %s -> %s lost or wrong" % (
                    o.args, o.result)
    acked_paths = [o.result for o in ops if o.kind == "seq" and o.outcome == "ok"]
    assert len(acked_paths) == len(set(acked_paths)), \
        "one sequential name acknowledged to two creates"
    attempted.update(seq)
    phantom = nodes - attempted
    assert not phantom, "nodes nobody created: %s" % sorted(phantom)[:5]
    return len(nodes)
