"""A linearizability checker for one compare-and-set register.

The register is a znode: its state is (version, value). Operations:

    read          -> (version, value)       the state at some instant
    cas(expected, new)
        ok        the version was `expected`; the state becomes
                  (expected + 1, new)
        failed    the version was not `expected` (BADVERSION); no change
        unknown   no answer: it took effect at some instant after its
                  invocation (if the version was `expected` then), or never

A history is linearizable if every operation with a known outcome can be
given an instant between its invocation and its completion, and some unknown
ones an instant after their invocation, so that applying them in that order
to the initial state gives every recorded result.

The search is Wing & Gong's, with Lowe's memoisation of (set of linearized
operations, state) pairs ("Testing for linearizability", 2016; the algorithm
Knossos and Porcupine use): walk the history's call and return events in
time order; at a call, try to linearize that operation now (apply it to the
model, lift its two events out of the list and start again from the front);
at a return whose operation has not been linearized, undo the last choice.
An unknown operation has no return event: it never forces a backtrack, and
the search succeeds once every operation with a known outcome is linearized.
"""

import time
from dataclasses import dataclass, field
from typing import Any, Optional, Tuple

READ = "read"
CAS = "cas"
OK = "ok"
FAIL = "fail"
UNKNOWN = "unknown"


@dataclass
class Op:
    kind: str                      # READ or CAS
    invoke: float
    complete: Optional[float]      # None when the outcome is unknown
    outcome: str                   # OK, FAIL or UNKNOWN (reads: OK only)
    expected: Optional[int] = None  # cas: expected version
    value: Any = None              # cas: value written
    result: Optional[Tuple[int, Any]] = None  # read: (version, value)
    client: Any = None
    id: int = field(default=-1)

    def __str__(self):
        when = "[%.3f, %s]" % (self.invoke, "?" if self.complete is None
                                else "%.3f" % self.complete)
        if self.kind == READ:
            return "%s read -> %r %s" % (self.client, self.result, when)
        return "%s cas(v%d -> %r) %s %s" % (self.client, self.expected,
                                            self.value, self.outcome, when)


def step(state, op):
    """The state after op, or None if op cannot happen in state. An unknown
    cas is only ever applied as taking effect; not taking effect is the
    choice of never linearizing it."""
    version, _ = state
    if op.kind == READ:
        return state if tuple(op.result) == state else None
    if op.outcome == FAIL:
        return state if version != op.expected else None
    # OK or UNKNOWN (taking effect)
    return (op.expected + 1, op.value) if version == op.expected else None


class _Entry:
    __slots__ = ("op", "call", "match", "prev", "next", "time")

    def __init__(self, op, call, time_):
        self.op = op
        self.call = call
        self.match = None
        self.prev = None
        self.next = None
        self.time = time_


@dataclass
class Result:
    ok: bool
    ops: int
    definite: int
    explored: int
    seconds: float
    # on failure: the longest linearizable prefix found and where it stuck
    best_prefix: list = field(default_factory=list)
    stuck_at: Optional[Op] = None

    def explain(self, tail=8):
        if self.ok:
            return "linearizable (%d ops, %d states explored, %.2fs)" % (
                self.ops, self.explored, self.seconds)
        lines = ["NOT linearizable: %d ops (%d with a known outcome), "
                 "%d states explored" % (self.ops, self.definite, self.explored),
                 "longest linearizable prefix (%d ops), last %d:"
                 % (len(self.best_prefix), min(tail, len(self.best_prefix)))]
        lines += ["  %s" % o for o in self.best_prefix[-tail:]]
        lines.append("then no order fits: %s" % self.stuck_at)
        return "\n".join(lines)


def check(ops, initial, max_states=5_000_000):
    """Checks a history (a list of Op) of one register starting at `initial`
    = (version, value). Returns a Result; raises RuntimeError when the search
    exceeds max_states (so that it cannot pass by giving up)."""
    t0 = time.monotonic()
    ops = list(ops)
    for i, op in enumerate(ops):
        op.id = i
        if op.kind not in (READ, CAS):
            raise ValueError("unknown op kind %r" % op.kind)
        if op.kind == READ and op.outcome != OK:
            raise ValueError("a read without a result says nothing: drop it")
        if (op.complete is None) != (op.outcome == UNKNOWN):
            raise ValueError("complete must be None exactly when the outcome "
                             "is unknown: %s" % op)
        if op.complete is not None and op.complete < op.invoke:
            raise ValueError("completes before it starts: %s" % op)

    # Events in time order; at equal times calls first (that makes the ops
    # concurrent, which only ever allows more orders).
    events = []
    for op in ops:
        events.append((op.invoke, 0, op.id, _Entry(op, True, op.invoke)))
        if op.complete is not None:
            events.append((op.complete, 1, op.id, _Entry(op, False, op.complete)))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    calls = {}
    head = _Entry(None, False, float("-inf"))
    prev = head
    for _, _, _, e in events:
        if e.call:
            calls[e.op.id] = e
        else:
            calls[e.op.id].match = e
            e.match = calls[e.op.id]
        prev.next = e
        e.prev = prev
        prev = e

    def lift(e):
        e.prev.next = e.next
        if e.next is not None:
            e.next.prev = e.prev
        m = e.match
        if m is not None:
            m.prev.next = m.next
            if m.next is not None:
                m.next.prev = m.prev

    def unlift(e):
        m = e.match
        if m is not None:
            m.prev.next = m
            if m.next is not None:
                m.next.prev = m
        e.prev.next = e
        if e.next is not None:
            e.next.prev = e

    definite = sum(1 for op in ops if op.complete is not None)
    remaining = definite
    state = tuple(initial)
    linearized = 0
    cache = set()
    stack = []  # (call entry, state before it)
    explored = 0
    best = []
    stuck = None
    entry = head.next
    while remaining > 0:
        if entry is not None and entry.call:
            op = entry.op
            new = step(state, op)
            if new is not None:
                lin = linearized | (1 << op.id)
                key = (lin, new)
                if key not in cache:
                    cache.add(key)
                    explored += 1
                    if explored > max_states:
                        raise RuntimeError("linearizability search gave up "
                                           "after %d states" % max_states)
                    stack.append((entry, state))
                    state = new
                    linearized = lin
                    if op.complete is not None:
                        remaining -= 1
                    lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
            continue
        # A return event whose op is not linearized yet (or the end of the
        # list, which cannot happen while a known op is left): undo the
        # latest choice.
        if len(stack) > len(best) or stuck is None:
            best = [e.op for e, _ in stack]
            stuck = entry.op if entry is not None else None
        if not stack:
            return Result(False, len(ops), definite, explored,
                          time.monotonic() - t0, best, stuck)
        e, state = stack.pop()
        linearized &= ~(1 << e.op.id)
        if e.op.complete is not None:
            remaining += 1
        unlift(e)
        entry = e.next
    return Result(True, len(ops), definite, explored, time.monotonic() - t0)
