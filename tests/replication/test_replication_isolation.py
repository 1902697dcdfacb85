"""A partition leader cut off from the cluster while clients still reach it:
the classic "zombie leader"."""

import subprocess
import sys
import time

import pytest

import kafkawire as kw
from replication_harness import PROBE_ID, ZK_SESSION_MS, BrokerNetwork
from replication_load import ProducerLoad, check_log, failover_seconds, read_log


def test_isolate_leader(cluster, topic, record_figure):
    """Cut the leader L of partition 0 off from the coordinators and the
    other brokers (its cluster link), under a continuous acks=all producer,
    while the clients keep reaching it (its client link stays up).

    That is the dangerous case, and so the meaningful one: L does not know
    it was replaced (its coordinator session expires out of its sight) and
    goes on accepting records. A correct L can acknowledge none of them: its
    followers no longer fetch, and it can neither shrink the ISR (that goes
    through the coordinator or the controller, both out of reach) nor
    advance the high watermark. Were the clients cut off too, no record
    could reach L at all and the test would be a plain failover (test 2).
    Besides the producer that knows all three brokers (it measures the
    failover), a second one is bootstrapped through L alone: it asks only L
    for metadata, so it keeps writing to L while L is cut off.

    Checks: the other brokers elect a new leader and acknowledged writes go
    on; once the link is back L rejoins as a follower (back in the ISR of
    every partition); every acknowledged record of either producer is in the
    log, at the offset acknowledged, once, in order; and each replica of
    each partition, L's included, holds exactly the same records (read from
    each broker: ListOffsets with replica_id -2, and a consumer Fetch with a
    rack id)."""
    c = cluster
    parts = [0, 1, 2]
    c.create_topic(topic, partitions=3, replication_factor=3)
    pr = ProducerLoad("iso", c.bootstrap, topic, parts, rate=300)
    pr.start()
    pr.wait_acks(600, timeout=60)

    old = c.leader(topic, 0)
    was_controller = c.controller() == old
    pz = ProducerLoad("via-old-leader", c.bootstrap_of(old), topic, [0], rate=50,
                      **{"message.timeout.ms": 30000})
    pz.start()
    pz.wait_acks(50, timeout=60)
    t_cut = time.monotonic()
    c.bnet.cut_cluster(old)
    try:
        new = c.leader(topic, 0, exclude=[old], timeout=90)
    except AssertionError as e:
        if old in c.registered():
            raise AssertionError(
                "broker %d, cut off from the coordinators, is still registered "
                "in /brokers/ids after 90s (session timeout %d ms): the "
                "coordinator kept its session alive, so no controller could "
                "react (see test_cut_off_client_session_expires)\n%s"
                % (old, ZK_SESSION_MS, e)) from None
        raise
    record_figure("isolate leader: a new leader of partition 0 in metadata "
                  "(broker %d cut off%s, broker %d leads)" % (
                      old, ", the controller" if was_controller else "", new),
                  time.monotonic() - t_cut)
    pr.wait_acks(150, partition=0, after=t_cut, timeout=120)

    # What the cut-off leader holds beyond what the others have: records it
    # appended after losing its links, which it must not have acknowledged.
    time.sleep(2)
    zombie_leo = kw.log_end_offsets(c.broker(old).addr, topic, [0])[0]

    t_heal = time.monotonic()
    c.bnet.heal_cluster(old)
    c.wait_isr(topic, 0, lambda isr: old in isr, 120,
               "broker %d back in the ISR of %s-0 after the link healed"
               % (old, topic))
    record_figure("isolate leader: broker %d back in the ISR of partition 0 "
                  "after healing" % old, time.monotonic() - t_heal)
    c.wait_healthy(120, topics=[topic])
    pz.wait_acks(50, after=time.monotonic(), timeout=90)
    pz.stop(join=False)
    pr.stop()
    pz.join()

    for p_ in (pr, pz):
        assert not p_.fatal_errors(), "fatal errors of producer %s: %s" % (
            p_.name, p_.fatal_errors())
        assert p_.undelivered == 0, "%d records of %s never got a delivery " \
            "report" % (p_.undelivered, p_.name)
    log, _ = read_log(c.bootstrap, topic, parts)
    counts = check_log([pr, pz], log, topic)
    fo = failover_seconds(pr, log, 0, t_cut)
    assert fo is not None, "no record acknowledged by the new leader of partition 0"
    record_figure("isolate leader: failover of partition 0", fo)

    # The new leader's first offset: whatever L held at or beyond it, it
    # appended as a zombie and had to throw away when it rejoined.
    before = {d.value for p_ in (pr, pz) for d in p_.acked(0) if d.done <= t_cut}
    old_epoch = max((r.leader_epoch or -1) for r in log[0] if r.value in before)
    first_new = next((r.offset for r in log[0]
                      if (r.leader_epoch or -1) > old_epoch), None)
    if first_new is not None:
        record_figure("isolate leader: records the cut-off leader appended, "
                      "then truncated", max(0, zombie_leo - first_new), "")

    c.wait_replicas_converged(topic, parts)
    for p in parts:
        consumed = [(r.offset, r.value) for r in log[p]]
        for bid, recs in sorted(c.replica_contents(topic, p).items()):
            if recs == consumed:
                continue
            i = next((i for i, (x, y) in enumerate(zip(recs, consumed)) if x != y),
                     min(len(recs), len(consumed)))
            raise AssertionError(
                "broker %d's replica of %s-%d (%d records) differs from what "
                "consumers read (%d records), first at index %d: %r != %r%s" % (
                    bid, topic, p, len(recs), len(consumed), i,
                    recs[i] if i < len(recs) else None,
                    consumed[i] if i < len(consumed) else None,
                    " (the broker that was cut off)" if bid == old else ""))
    record_figure("isolate leader: records acknowledged / read back / failed "
                  "(of which through the old leader alone)",
                  "%d / %d / %d (%d / - / %d)" % (
                      counts["acknowledged"], counts["consumed"], counts["failed"],
                      len(pz.acked()), len(pz.failed())), "")


# A kazoo client run inside a broker's namespace: connects to one coordinator
# server, creates an ephemeral node, prints its session id and waits.
_HOLDER = r"""
import sys, time
from kazoo.client import KazooClient
z = KazooClient(hosts=sys.argv[1], timeout=%d / 1000.0)
z.start(15)
z.create(sys.argv[2], b"held", ephemeral=True)
print("session %%#x" %% z.client_id[0], flush=True)
time.sleep(600)
""" % ZK_SESSION_MS


@pytest.mark.parametrize("role", ["leader", "follower"])
def test_cut_off_client_session_expires(cluster, role, record_figure):
    """The coordinator side of test_isolate_leader: a client (kazoo, in a
    namespace wired like a broker's, where no broker runs) connected to the coordinator server in `role`
    loses its network without a word (packets dropped, no FIN): its session
    expires after the session timeout and its ephemeral node goes, as
    /brokers/ids/N must for a cut-off broker, or no controller ever learns
    that the broker is gone."""
    c = cluster
    sid = next(i for i, m in c.ens.modes().items() if m == role)
    path = "/cut-off-probe-%s-%d" % (role, time.time_ns())
    p = subprocess.Popen(
        ["ip", "netns", "exec", BrokerNetwork.ns(PROBE_ID), sys.executable, "-c",
         _HOLDER, c.ens.server(sid).hosts, path],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = p.stdout.readline().strip()
        assert line.startswith("session"), "the client did not connect: %s" % line
        assert c.zk.exists(path), "no ephemeral node %s" % path
        t_cut = time.monotonic()
        c.bnet.cut_cluster(PROBE_ID)
        limit = ZK_SESSION_MS / 1000.0 + 20
        while c.zk.exists(path):
            if time.monotonic() - t_cut > limit:
                raise AssertionError(
                    "the ephemeral node of a client (%s) that vanished from the "
                    "network while connected to coordinator server %d (the %s) "
                    "is still there %.0fs later, with a session timeout of %d "
                    "ms: its session never expired" % (
                        line, sid, role, limit, ZK_SESSION_MS))
            time.sleep(0.1)
        record_figure("cut-off client's session expired (connected to the %s)"
                      % role, time.monotonic() - t_cut)
    finally:
        p.kill()
        p.wait()
        c.bnet.heal_cluster(PROBE_ID)
