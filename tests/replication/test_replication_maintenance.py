"""Maintenance under load, as an operator does it: a rolling restart (each
broker stopped with SIGTERM and started again in turn), and draining a
broker by partition reassignment before stopping it."""

import time

import kafkawire as kw
from replication_harness import poll
from replication_load import ProducerLoad, check_log, error_summary, read_log


def test_rolling_restart_under_load(cluster, topic, record_figure):
    """RF 3, a continuous idempotent acks=all producer; each broker in turn
    (the controller last, as operators do) gets SIGTERM (Kafka: a controlled
    shutdown that moves its leaderships away first), writes go on while it
    is down, it starts again, and the next one waits until it is back in
    every ISR. Afterwards: no acknowledged record lost, none duplicated,
    order kept; the producer saw no fatal error and every delivery error it
    got (if any) is a retriable one."""
    c = cluster
    parts = [0, 1, 2]
    c.create_topic(topic, partitions=3, replication_factor=3)
    pr = ProducerLoad("roll", c.bootstrap, topic, parts, rate=300)
    pr.start()
    pr.wait_acks(300, timeout=60)

    ctl = c.controller()
    order = sorted(c.brokers, key=lambda b: (b == ctl, b))
    for bid in order:
        t0 = time.monotonic()
        c.broker(bid).stop()
        stopped = time.monotonic() - t0
        pr.wait_acks(150, after=time.monotonic(), timeout=90)
        t1 = time.monotonic()
        c.restart(bid)
        c.wait_healthy(120, topics=[topic])
        record_figure("rolling restart: broker %d%s stopped in / back in every "
                      "ISR after starting" % (bid, " (controller)" if bid == ctl else ""),
                      "%.2f s / %.2f s" % (stopped, time.monotonic() - t1), "")
    pr.wait_acks(150, after=time.monotonic(), timeout=60)
    pr.stop()

    fatal = pr.fatal_errors()
    assert not fatal, "fatal producer errors: %s" % fatal
    assert pr.undelivered == 0, "%d records never got a delivery report" % pr.undelivered
    not_retriable = [d for d in pr.failed() if not d.retriable]
    assert not not_retriable, "delivery errors that are not retriable: %s" % \
        error_summary(not_retriable)
    log, _ = read_log(c.bootstrap, topic, parts)
    counts = check_log([pr], log, topic)
    record_figure("rolling restart: records acknowledged / read back / failed",
                  "%d / %d / %d" % (counts["acknowledged"], counts["consumed"],
                                    counts["failed"]), "")
    seen = {}
    for _, name, _, _ in pr.client_errors:
        seen[name] = seen.get(name, 0) + 1
    record_figure("rolling restart: producer client errors (error_cb)",
                  ", ".join("%s x%d" % kv for kv in sorted(seen.items())) or "none", "")


def test_drain_broker_by_reassignment(cluster, topic, record_figure):
    """RF 2 over three brokers, a continuous acks=all producer: broker X
    (not the controller) is drained by a partition reassignment
    (AlterPartitionReassignments sent to the controller, as
    kafka-reassign-partitions --bootstrap-server does): each replica on X
    moves to the broker that had none. At no moment does a partition have
    fewer than 2 in-sync replicas; when the controller is done X holds no
    replica of the topic, every ISR is whole, and stopping X
    (SIGTERM) leaves every partition of the topic with its two in-sync
    replicas. Every acknowledged record is in the log."""
    c = cluster
    parts = list(range(6))
    c.create_topic(topic, partitions=6, replication_factor=2)
    pr = ProducerLoad("drain", c.bootstrap, topic, parts, rate=300)
    pr.start()
    pr.wait_acks(600, timeout=60)

    ctl = c.controller()
    x = next(b for b in sorted(c.brokers) if b != ctl)
    before = {p: pm["replicas"] for p, pm in c.view(topic).items()}
    target = {}
    for p, replicas in before.items():
        if x in replicas:
            (spare,) = [b for b in c.brokers if b not in replicas]
            target[p] = [r for r in replicas if r != x] + [spare]
    assert target, "broker %d holds no replica of %s: %s" % (x, topic, before)

    lowest = {"isr": 2, "seen": None}

    def watch():
        view = c.view(topic)
        for p, pm in view.items():
            if len(pm["isr"]) < lowest["isr"]:
                lowest["isr"], lowest["seen"] = len(pm["isr"]), (p, pm)
        done = all(sorted(view[p]["replicas"]) == sorted(r) and
                   sorted(view[p]["isr"]) == sorted(r) for p, r in target.items())
        return done, view

    t0 = time.monotonic()
    with kw.Connection(*c.broker(ctl).addr, timeout=35) as conn:
        err, msg, per_p = conn.alter_partition_reassignments(topic, target)
    bad = {p: (kw.error_name(e), m) for p, (e, m) in per_p.items() if e}
    assert not err and not bad and set(per_p) == set(target), (
        "AlterPartitionReassignments to the controller (broker %d) for %s: "
        "error %s %s, partitions %s" % (ctl, target, kw.error_name(err), msg,
                                        bad or per_p))
    poll(watch, 120, "the reassignment draining broker %d to finish (replicas "
         "and ISR as planned on every broker: %s)" % (x, target), 0.2)
    record_figure("drain: %d partitions moved off broker %d" % (len(target), x),
                  time.monotonic() - t0)
    assert lowest["isr"] >= 2, (
        "a partition dropped to %d in-sync replica(s) during the reassignment: %s"
        % (lowest["isr"], lowest["seen"]))
    view = c.view(topic)
    still = {p: pm["replicas"] for p, pm in view.items() if x in pm["replicas"]}
    assert not still, "broker %d still holds replicas after draining: %s" % (x, still)

    c.broker(x).stop()
    pr.wait_acks(300, after=time.monotonic(), timeout=60)
    view = c.view(topic)
    short = {p: pm["isr"] for p, pm in view.items() if len(pm["isr"]) < 2}
    assert not short, "with the drained broker %d stopped, partitions lost " \
        "in-sync replicas: %s" % (x, short)
    pr.stop()
    assert not pr.fatal_errors(), "fatal producer errors: %s" % pr.fatal_errors()
    log, _ = read_log(c.bootstrap, topic, parts)
    counts = check_log([pr], log, topic)
    record_figure("drain: records acknowledged / read back / failed",
                  "%d / %d / %d" % (counts["acknowledged"], counts["consumed"],
                                    counts["failed"]), "")
