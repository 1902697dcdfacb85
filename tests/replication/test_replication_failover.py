"""Brokers killed (SIGKILL) under load: the user's scenario, a partition
leader, the controller. Nothing acknowledged with acks=all may be lost."""

import time

from replication_harness import poll
from replication_load import (ProducerLoad, check_log, error_summary,
                              failover_seconds, read_log)


def test_seed_scenario(cluster, record_figure):
    """The user's setup: topic `lzq` with 3 partitions and replication
    factor 2, created with the AdminClient; min.insync.replicas is the
    topic's default there (1), so it is set on the topic. Records are
    produced through broker A's address (acks=all, idempotent), broker B is
    killed (one leading at least one partition), the producer goes on
    through A, and everything is read from the beginning through broker C's
    address by a consumer group, as kafka-console-consumer --from-beginning
    does: every acknowledged record is there.

    The producer goes on after the kill because that is what the user's
    pipeline does, and because Kafka's new leader of a quiet partition may
    hold back its high watermark (and with it the last records the old
    leader acknowledged) until the next write arrives."""
    c = cluster
    a = 1
    c.create_topic("lzq", partitions=3, replication_factor=2, via=a,
                   config={"min.insync.replicas": "1"})
    leaders = c.leaders("lzq")
    candidates = sorted({ld for ld in leaders.values() if ld != a})
    b = candidates[0] if candidates else leaders[0]
    (c_id,) = [i for i in c.brokers if i not in (a, b)]
    led_by_b = sorted(p for p, ld in leaders.items() if ld == b)

    pr = ProducerLoad("seed", c.bootstrap_of(a), "lzq", [0, 1, 2], rate=500)
    pr.start()
    pr.wait_acks(1500, timeout=60)
    assert not pr.failed(), "deliveries failed with every broker up: %s" % \
        error_summary(pr.failed())

    t_kill = time.monotonic()
    c.broker(b).kill()
    for p in led_by_b:
        pr.wait_acks(100, partition=p, after=t_kill, timeout=90)
    record_figure("seed: writes to lzq's partitions %s acknowledged again after "
                  "killing their leader, broker %d" % (led_by_b, b),
                  max(min(d.done for d in pr.acked(p, t_kill)) for p in led_by_b)
                  - t_kill)
    pr.stop()
    assert not pr.fatal_errors(), "fatal producer errors: %s" % pr.fatal_errors()

    t0 = time.monotonic()
    log, _ = read_log(c.bootstrap_of(c_id), "lzq", [0, 1, 2], timeout=90,
                      subscribe=True)
    record_figure("seed: lzq read from the beginning through broker %d" % c_id,
                  time.monotonic() - t0)
    counts = check_log([pr], log, "lzq")
    record_figure("seed: records acknowledged / read back / failed",
                  "%d / %d / %d" % (counts["acknowledged"], counts["consumed"],
                                    counts["failed"]), "")


def test_kill_partition_leader_under_load(cluster, topic, record_figure):
    """RF 3, min.insync.replicas 2, a continuous idempotent acks=all
    producer: SIGKILL the leader of partition 0. Writes to partition 0 go on
    once a follower takes over (the failover time is the time from the kill
    to the first acknowledgement of a record the new leader appended);
    afterwards every acknowledged record is in the log, once, in order."""
    c = cluster
    c.create_topic(topic, partitions=3, replication_factor=3)
    pr = ProducerLoad("load", c.bootstrap, topic, [0, 1, 2], rate=300)
    pr.start()
    pr.wait_acks(600, timeout=60)

    victim = c.leader(topic, 0)
    t_kill = time.monotonic()
    c.broker(victim).kill()
    pr.wait_acks(150, partition=0, after=t_kill, timeout=120)
    new_leader = c.leader(topic, 0, exclude=[victim])
    time.sleep(2)
    pr.stop()

    assert not pr.fatal_errors(), "fatal producer errors: %s" % pr.fatal_errors()
    assert pr.undelivered == 0, "%d records never got a delivery report" % pr.undelivered
    log, _ = read_log(c.bootstrap, topic, [0, 1, 2])
    counts = check_log([pr], log, topic)
    fo = failover_seconds(pr, log, 0, t_kill)
    assert fo is not None, "no record acknowledged by the new leader of partition 0"
    record_figure("kill leader: failover of partition 0 (broker %d killed, "
                  "broker %d leads)" % (victim, new_leader), fo)
    record_figure("kill leader: records acknowledged / read back / failed",
                  "%d / %d / %d" % (counts["acknowledged"], counts["consumed"],
                                    counts["failed"]), "")


def test_kill_controller(cluster, topic, record_figure):
    """SIGKILL the controller (/controller): another broker becomes
    controller. The old one restarts and rejoins every ISR (the new
    controller brings it back). Then SIGKILL the leader of a partition
    (not the new controller): the new controller elects a new leader and
    acknowledged writes go on."""
    c = cluster
    c.create_topic(topic, partitions=6, replication_factor=3)
    parts = list(range(6))
    pr = ProducerLoad("ctl", c.bootstrap, topic, parts, rate=300)
    pr.start()
    pr.wait_acks(300, timeout=60)

    old = c.controller()
    assert old in c.brokers, "no controller in /controller: %r" % c.zk_json("/controller")
    epoch = c.controller_epoch()
    t_kill = time.monotonic()
    c.broker(old).kill()

    def new_controller():
        ctl = c.controller()
        return ctl is not None and ctl != old, ctl
    new = poll(new_controller, 60, "a new controller after killing broker %d" % old)
    record_figure("kill controller: a new controller in /controller (broker %d "
                  "-> broker %d)" % (old, new), time.monotonic() - t_kill)
    assert (c.controller_epoch() or 0) > (epoch or 0), \
        "/controller_epoch did not grow: %s -> %s" % (epoch, c.controller_epoch())
    pr.wait_acks(100, after=time.monotonic(), timeout=90)

    c.restart(old)
    c.wait_healthy(120, topics=[topic])

    by_leader = c.leaders(topic)
    choices = [p for p, ld in sorted(by_leader.items()) if ld != new]
    if not choices:
        # every partition led by the new controller (unlikely with six):
        # then it is the one killed, and a third controller acts
        choices = [p for p, ld in sorted(by_leader.items())]
    p = choices[0]
    victim = by_leader[p]
    t_kill2 = time.monotonic()
    c.broker(victim).kill()
    pr.wait_acks(100, partition=p, after=t_kill2, timeout=120)
    time.sleep(1)
    pr.stop()

    assert not pr.fatal_errors(), "fatal producer errors: %s" % pr.fatal_errors()
    log, _ = read_log(c.bootstrap, topic, parts)
    counts = check_log([pr], log, topic)
    fo = failover_seconds(pr, log, p, t_kill2)
    assert fo is not None, "no record acknowledged by the new leader of partition %d" % p
    record_figure("kill controller: then failover of partition %d (leader broker "
                  "%d killed, controller broker %d)" % (p, victim, c.controller()), fo)
    record_figure("kill controller: records acknowledged / read back / failed",
                  "%d / %d / %d" % (counts["acknowledged"], counts["consumed"],
                                    counts["failed"]), "")
