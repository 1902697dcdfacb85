"""Failover time of a replicated partition, for tests/bench.sh's replication benchmark: the same
method for strom-broker and for Apache Kafka.

One confluent-kafka (librdkafka) producer, acks=all and idempotent, writes a small record to one
partition every --interval-ms. After a warm-up the broker that leads that partition is killed with
SIGKILL (its PID comes from the benchmark, which started it). The producer keeps writing until a
record produced after the kill is acknowledged, and a little longer. Then the partition is read back
from the beginning, giving each acknowledged record's batch leader epoch, and

    failover = (first acknowledgement of a record appended under a newer leader epoch than any
                acknowledged before the kill) - (the SIGKILL)

both on this process's monotonic clock, the acknowledgement time being when the delivery report was
served (the loop polls every interval). A response the killed leader had sent before it died cannot
count, being of the old epoch. When the log carries no leader epochs the figure falls back to the
first acknowledgement after the kill (said in the output).

The partition is the first one whose leader is not the controller (strom: /controller in the
coordinators, --controller-zk; Kafka KRaft: the quorum leader in the nodes' quorum-state files,
--controller-kraft), so the figure is a partition leader's failover, not a controller's.

Prints one line, `FAILOVER key=value ...`, and exits 0; exits 1 (after printing it) when no write
was acknowledged under a new leader before --timeout, or on a setup error.
"""

import argparse
import json
import os
import signal
import sys
import time
import uuid
from collections import Counter

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient


def controller_from_zk(hosts):
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=hosts)
    zk.start(timeout=15)
    try:
        data, _ = zk.get("/controller")
        return json.loads(data)["brokerid"]
    finally:
        zk.stop()
        zk.close()


def controller_from_kraft(dirs):
    """The KRaft quorum leader: the highest epoch's leaderId among the nodes' quorum-state files."""
    best = (-1, None)
    for d in dirs:
        try:
            with open(os.path.join(d, "__cluster_metadata-0", "quorum-state")) as f:
                s = json.load(f)
        except (OSError, ValueError):
            continue
        if s.get("leaderId", -1) >= 0 and s.get("leaderEpoch", -1) > best[0]:
            best = (s["leaderEpoch"], s["leaderId"])
    return best[1]


def partition_view(admin, topic):
    md = admin.list_topics(topic, timeout=10)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return {}
    return {p: (pm.leader, list(pm.isrs), list(pm.replicas)) for p, pm in t.partitions.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--pids", required=True, help="BROKER_ID:PID,... of the brokers that may be killed")
    ap.add_argument("--controller-zk", help="coordinator connect string: avoid the broker in /controller")
    ap.add_argument("--controller-kraft", help="log dirs (comma-separated): avoid the KRaft quorum leader")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of acknowledged writes before the kill")
    ap.add_argument("--after", type=float, default=1.0, help="seconds to keep writing after the first new ack")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds after the kill to give up")
    ap.add_argument("--interval-ms", type=float, default=2.0)
    args = ap.parse_args()

    pids = {int(b): int(p) for b, p in (x.split(":") for x in args.pids.split(","))}
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    controller = None
    if args.controller_zk:
        controller = controller_from_zk(args.controller_zk)
    elif args.controller_kraft:
        controller = controller_from_kraft(args.controller_kraft.split(","))

    view = partition_view(admin, args.topic)
    candidates = [p for p in sorted(view) if view[p][0] in pids and view[p][0] != controller]
    if not candidates:
        print("FAILOVER error=no-partition-to-fail-over view=%s controller=%s" % (view, controller))
        return 1
    part = candidates[0]
    victim = view[part][0]
    isr_before = view[part][1]

    acks = {}       # value -> (ack time, offset)
    errors = Counter()
    sent = {}       # value -> produce() time
    kill = {"t": None, "acked_after": None}  # the SIGKILL; first ack of a record produced after it

    def report(err, msg):
        now = time.monotonic()
        v = msg.value().decode()
        if err is None:
            acks[v] = (now, msg.offset())
            if kill["t"] is not None and kill["acked_after"] is None and sent[v] > kill["t"]:
                kill["acked_after"] = now
        else:
            errors[err.name()] += 1

    producer = Producer({
        "bootstrap.servers": args.bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 0,
        "compression.type": "none",
        # ride out the slowest failover measured (a session timeout plus an election)
        "message.timeout.ms": int(max(args.timeout, 30) * 1000) + 30000,
    })
    seq = 0
    interval = args.interval_ms / 1000.0

    def produce_one():
        nonlocal seq
        v = "r%d" % seq
        seq += 1
        sent[v] = time.monotonic()
        producer.produce(args.topic, value=v.encode(), partition=part, on_delivery=report)

    # warm-up: writes acknowledged for --warmup seconds (at most 60 s to get the first one)
    start = time.monotonic()
    first_ack = None
    while True:
        produce_one()
        producer.poll(interval)
        now = time.monotonic()
        if first_ack is None and acks:
            first_ack = now
        if first_ack is not None and now - first_ack >= args.warmup:
            break
        if first_ack is None and now - start > 60:
            print("FAILOVER error=no-ack-before-kill partition=%d errors=%s" % (part, dict(errors)))
            return 1

    t_kill = time.monotonic()
    wall_kill = time.time()
    kill["t"] = t_kill
    os.kill(pids[victim], signal.SIGKILL)

    gave_up = False
    while True:
        produce_one()
        producer.poll(interval)
        now = time.monotonic()
        if kill["acked_after"] is not None and now - kill["acked_after"] >= args.after:
            break
        if now - t_kill > args.timeout:
            gave_up = True
            break
    producer.flush(0 if gave_up else 30)

    # the partition from the beginning: each record's batch leader epoch
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": "bench-failover-%s" % uuid.uuid4().hex,
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    })
    epochs = {}
    high = None
    read_deadline = time.monotonic() + 30
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(args.topic, part), timeout=10)
        consumer.assign([TopicPartition(args.topic, part, OFFSET_BEGINNING)])
        while time.monotonic() < read_deadline:
            m = consumer.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().name() == "_PARTITION_EOF" and m.offset() >= high:
                    break
                continue
            epochs[m.value().decode()] = m.leader_epoch()
            if m.offset() + 1 >= high:
                break
    except Exception as e:  # noqa: BLE001 - reported, the figure may still come from the acks
        errors["read-back:" + str(e).replace(" ", "_")[:80]] += 1
    finally:
        consumer.close()

    before = [epochs.get(v) for v, (t, _) in acks.items() if t <= t_kill]
    before = [e for e in before if e is not None and e >= 0]
    after = sorted((t, v) for v, (t, _) in acks.items() if t > t_kill)
    method = "epoch"
    if before:
        old = max(before)
        new = [(t, v) for t, v in after if (epochs.get(v) if epochs.get(v) is not None else -1) > old]
    else:
        method = "first-ack-after-kill"
        new = after
    lost = sum(1 for v in acks if v not in epochs)
    view_after = partition_view(admin, args.topic).get(part, (None, [], []))
    fields = {
        "partition": part,
        "killed": victim,
        "controller": controller,
        "isr_before": "/".join(map(str, isr_before)),
        "new_leader": view_after[0],
        "isr_after": "/".join(map(str, view_after[1])),
        "seconds": "%.3f" % (new[0][0] - t_kill) if new else "none",
        # wall clock (UTC), to find the kill in the servers' logs
        "killed_at": time.strftime("%H:%M:%S", time.gmtime(wall_kill)) + (".%03d" % (wall_kill % 1 * 1000)),
        "method": method,
        "acked_before": sum(1 for t, _ in acks.values() if t <= t_kill),
        "acked_after": len(after),
        "produced": seq,
        "acked_not_read_back": lost,
        "errors": ";".join("%s=%d" % kv for kv in sorted(errors.items())) or "none",
    }
    print("FAILOVER " + " ".join("%s=%s" % kv for kv in fields.items()))
    return 0 if new else 1


if __name__ == "__main__":
    sys.exit(main())
