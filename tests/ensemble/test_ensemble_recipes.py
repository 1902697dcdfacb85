"""Test 7: kazoo's Lock and Election recipes through a leader failover.

Contenders (one kazoo client each, connect string of all servers) loop:
acquire, hold a few milliseconds, release. Each records the interval from
"acquire returned" to "release called"; no two intervals of one recipe may
overlap. A holder whose session expired has lost the lock without knowing
when, so such an interval would not count; no session may expire here
anyway (kazoo state never LOST).
"""

import random
import threading
import time

from kazoo.exceptions import (CancelledError, ConnectionLoss,
                              LockTimeout, SessionExpiredError)

from ensemble_load import Interval, StateLog, overlaps

RETRY = (ConnectionLoss, SessionExpiredError)


class Contender(threading.Thread):
    def __init__(self, name, client, kind, path):
        super().__init__(name=name, daemon=True)
        self.client = client
        self.kind = kind
        self.states = StateLog(client)
        self.recipe = (client.Lock(path, name) if kind == "lock"
                       else client.Election(path, name))
        self.intervals = []
        self.errors = []
        self.halt = threading.Event()
        self.rnd = random.Random(name)

    def held(self):
        start = time.monotonic()
        time.sleep(0.005 + self.rnd.random() * 0.03)
        end = time.monotonic()
        self.intervals.append(Interval(self.name, start, end,
                                       lost=any(start <= t for t in self.states.lost)))

    def run(self):
        while not self.halt.is_set():
            try:
                if self.kind == "lock":
                    if self.recipe.acquire(timeout=2):
                        try:
                            self.held()
                        finally:
                            self.release()
                else:
                    self.recipe.run(self.held)
            except (LockTimeout, CancelledError):
                pass
            except RETRY as e:
                self.errors.append(type(e).__name__)
                time.sleep(0.05)
            except Exception as e:  # noqa: BLE001
                self.errors.append(repr(e))
                time.sleep(0.05)
            time.sleep(self.rnd.random() * 0.01)

    def release(self):
        # the lock is held until its node is gone: retry until release
        # succeeds (kazoo's release treats an already deleted node as done)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.recipe.release()
                return
            except RETRY as e:
                self.errors.append("release: " + type(e).__name__)
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self):
        self.halt.set()
        self.recipe.cancel()


def test_lock_and_election_have_one_holder_through_leader_failover(
        ens, base, record_figure):
    c = ens.client()
    c.create(base)
    cs = []
    for kind in ("lock", "election"):
        for i in range(3):
            cs.append(Contender("%s%d" % (kind, i), ens.client(), kind,
                                "%s/%s" % (base, kind)))
    for t in cs:
        t.start()
    try:
        time.sleep(3)
        leader = ens.leader()
        leader.kill()
        t_kill = time.monotonic()
        ens.wait_leader(servers=[s for s in ens.servers if s is not leader],
                        timeout=60)
        time.sleep(4)
        leader.start()
        ens.wait_healthy()
        time.sleep(2)
    finally:
        for t in cs:
            t.stop()
        for t in cs:
            t.join(30)
    assert not [t.name for t in cs if t.is_alive()], "contenders did not stop"

    lost = {t.name: t.states.lost for t in cs if t.states.lost}
    assert not lost, "sessions expired (kazoo LOST): %s" % lost
    unexpected = {t.name: [e for e in t.errors if "Error" in e and
                           not any(r.__name__ in e for r in RETRY)]
                  for t in cs}
    unexpected = {k: v for k, v in unexpected.items() if v}
    assert not unexpected, "recipe errors: %s" % unexpected
    for kind in ("lock", "election"):
        ivs = [iv for t in cs if t.kind == kind for iv in t.intervals]
        bad = overlaps(ivs)
        assert not bad, "%s held twice at once: %s" % (kind, [
            ("%s %.3f-%.3f" % (a.who, a.start - t_kill, a.end - t_kill),
             "%s %.3f-%.3f" % (b.who, b.start - t_kill, b.end - t_kill))
            for a, b in bad[:3]])
        before = sum(1 for iv in ivs if iv.end < t_kill)
        after = sum(1 for iv in ivs if iv.start > t_kill)
        assert before > 0 and after > 0, \
            "%s: %d holds before the kill, %d after" % (kind, before, after)
        holders = {iv.who for iv in ivs if iv.start > t_kill}
        gap = min((iv.start for iv in ivs if iv.start > t_kill), default=None)
        record_figure("%s: holds before/after the leader kill, first after "
                      "the kill" % kind, "%d/%d (holders after: %d), %.3fs" % (
                          before, after, len(holders), gap - t_kill), "")
