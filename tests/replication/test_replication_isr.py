"""The in-sync replica set: min.insync.replicas refuses acks=all writes
that too few replicas would hold, and the ISR that clients see follows
brokers going and coming back."""

import time

from confluent_kafka import Producer, TopicCollection
from confluent_kafka.admin import AdminClient

from replication_harness import MIN_ISR, REPLICA_LAG_MS, ZK_SESSION_MS, poll
from replication_load import ProducerLoad, check_log, error_summary, read_log

# What a broker may answer an acks=all write that too few in-sync replicas
# would hold (or, before it notices, the request may time out).
REFUSALS = {"NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
            "REQUEST_TIMED_OUT", "_MSG_TIMED_OUT"}


def produce_once(bootstrap, topic, partition, n=5):
    """n records with a producer that does not retry (acks=all, no
    idempotence): the broker's own answer reaches the delivery reports.
    Returns [(error name or None, offset, value)]."""
    reports = []
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                  "enable.idempotence": False, "retries": 0,
                  "request.timeout.ms": 5000, "message.timeout.ms": 10000,
                  "compression.type": "none"})
    for i in range(n):
        p.produce(topic, value=b"once-%d-%f" % (i, time.time()), partition=partition,
                  on_delivery=lambda err, m: reports.append(
                      (err.name() if err else None, m.offset(), m.value())))
    assert p.flush(30) == 0
    return reports


def test_min_insync_replicas(cluster, topic, record_figure):
    """RF 3 with min.insync.replicas 2: with both followers of the
    partition stopped (SIGKILL), acks=all writes are refused
    (NOT_ENOUGH_REPLICAS, or they time out), never acknowledged; once the
    followers are back, writes are acknowledged again, and every
    acknowledged record is in the log."""
    c = cluster
    c.create_topic(topic, partitions=1, replication_factor=3)
    leader = c.leader(topic, 0)
    followers = [b for b in c.brokers if b != leader]
    before = produce_once(c.bootstrap, topic, 0)
    assert all(err is None for err, _, _ in before), \
        "acks=all writes refused with every replica in sync: %s" % before

    t_stop = time.monotonic()
    for f in followers:
        c.broker(f).kill()
    c.wait_isr(topic, 0, lambda isr: sorted(isr) == [leader], 60,
               "the ISR of %s-0 to shrink to its leader, broker %d" % (topic, leader))
    record_figure("min.insync.replicas: ISR down to the leader after killing "
                  "both followers", time.monotonic() - t_stop)

    reports = produce_once(c.bootstrap_of(leader), topic, 0)
    acked = [off for err, off, _ in reports if err is None]
    assert not acked, ("acks=all writes acknowledged (offsets %s) with an ISR of "
                       "1 < min.insync.replicas %d" % (acked, MIN_ISR))
    assert {err for err, _, _ in reports} <= REFUSALS, \
        "unexpected errors for writes below min.insync.replicas: %s" % reports
    record_figure("min.insync.replicas: the answer to acks=all with an ISR of 1",
                  ", ".join(sorted({err for err, _, _ in reports})), "")

    # An idempotent producer with retries: nothing acknowledged until the
    # followers are back.
    pr = ProducerLoad("minisr", c.bootstrap, topic, [0], rate=50,
                      **{"message.timeout.ms": 60000})
    pr.start()
    time.sleep(4)
    early = pr.acked()
    assert not early, "%d records acknowledged with an ISR of 1, e.g. offset %d" % (
        len(early), early[0].offset)

    t_back = time.monotonic()
    c.start_brokers(followers)
    pr.wait_acks(100, after=t_back, timeout=120)
    first = min(d.done for d in pr.acked(after=t_back))
    record_figure("min.insync.replicas: first acknowledgement after restarting "
                  "the followers", first - t_back)
    pr.stop()
    assert not pr.fatal_errors(), "fatal producer errors: %s" % pr.fatal_errors()
    log, _ = read_log(c.bootstrap, topic, [0])
    counts = check_log([pr], log, topic,
                       other_values=[v for _, _, v in before + reports])
    record_figure("min.insync.replicas: records acknowledged / read back / failed",
                  "%d / %d / %d (failed: %s)" % (
                      counts["acknowledged"], counts["consumed"], counts["failed"],
                      error_summary(pr.failed())), "")


def describe(admin, topic):
    """{partition: (leader id, [replica ids], [isr ids])} by AdminClient
    describe_topics."""
    fs = admin.describe_topics(TopicCollection([topic]), request_timeout=10)
    d = fs[topic].result(15)
    return {p.id: (p.leader.id if p.leader else -1, [n.id for n in p.replicas],
                   [n.id for n in p.isr]) for p in d.partitions}


def test_describe_shows_isr(cluster, topic, record_figure):
    """AdminClient describe_topics shows each partition's leader, replicas
    and ISR (and the coordinator's partition state agrees); a killed
    follower leaves the ISR of every partition within
    replica.lag.time.max.ms (or the coordinator session timeout) plus slack,
    and returns to all of them after a restart."""
    c = cluster
    parts = [0, 1, 2]
    c.create_topic(topic, partitions=3, replication_factor=3)
    admin = AdminClient({"bootstrap.servers": c.bootstrap})
    d = describe(admin, topic)
    assert sorted(d) == parts
    for p, (leader, replicas, isr) in d.items():
        assert sorted(replicas) == sorted(c.brokers), \
            "%s-%d: replicas %s, expected all three brokers" % (topic, p, replicas)
        assert sorted(isr) == sorted(replicas), "%s-%d: isr %s of %s" % (topic, p, isr, replicas)
        assert leader in isr, "%s-%d: leader %s not in isr %s" % (topic, p, leader, isr)
        st = c.zk_state(topic, p)
        assert st is not None, ("no /brokers/topics/%s/partitions/%d/state in the "
                                "coordinator" % (topic, p))
        assert (st["leader"], sorted(st["isr"])) == (leader, sorted(isr)), \
            "%s-%d: the coordinator's state %s, describe_topics leader %d isr %s" % (
                topic, p, st, leader, isr)

    pr = ProducerLoad("isr", c.bootstrap, topic, parts, rate=100)
    pr.start()
    pr.wait_acks(100, timeout=60)
    leader0 = d[0][0]
    ctl = c.controller()
    # a follower of partition 0 that is not the controller either
    victim = next(b for b in sorted(c.brokers) if b not in (leader0, ctl))
    t_kill = time.monotonic()
    c.broker(victim).kill()

    def left():
        now = describe(admin, topic)
        return all(victim not in isr for _, _, isr in now.values()), now
    slack = 30
    poll(left, (max(REPLICA_LAG_MS, ZK_SESSION_MS) / 1000.0) + slack,
         "broker %d to leave the ISR of every partition (describe_topics)" % victim, 0.2)
    record_figure("describe ISR: killed follower (broker %d) out of every ISR "
                  "(replica.lag.time.max.ms %d, session %d ms)" % (
                      victim, REPLICA_LAG_MS, ZK_SESSION_MS), time.monotonic() - t_kill)
    for p in parts:
        st = c.zk_state(topic, p)
        assert victim not in st["isr"], \
            "%s-%d: describe_topics dropped broker %d from the ISR, the " \
            "coordinator's state still has it: %s" % (topic, p, victim, st)

    t_start = time.monotonic()
    c.restart(victim)

    def back():
        now = describe(admin, topic)
        return all(victim in isr for _, _, isr in now.values()), now
    poll(back, 120, "broker %d back in the ISR of every partition after a "
         "restart (describe_topics)" % victim, 0.2)
    record_figure("describe ISR: broker %d back in every ISR after starting again"
                  % victim, time.monotonic() - t_start)
    pr.stop()
    log, _ = read_log(c.bootstrap, topic, parts)
    check_log([pr], log, topic)
