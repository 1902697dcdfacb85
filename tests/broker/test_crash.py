"""SIGKILL the broker while acks=1 and acks=all producers run and a group commits: after a
restart every acknowledged record is there, in order, and the group resumes at its commits."""

import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition

import broker_kafkautil as ku


def _producer(bootstrap, acks, tag, acked, stop, errors):
    conf = {"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 2,
            "message.timeout.ms": 5000, "retries": 0 if acks == "1" else 2147483647}
    if acks == "all":
        conf["enable.idempotence"] = True
    p = Producer(conf)

    def on_delivery(err, msg):
        if err is None:
            acked.append((msg.partition(), msg.offset(), msg.value()))
        else:
            errors.append(str(err))

    i = 0
    while not stop.is_set():
        try:
            p.produce("crash", value=b"%s-%06d" % (tag, i), key=b"%d" % (i % 7), on_delivery=on_delivery)
            i += 1
        except BufferError:
            pass
        p.poll(0.001)
    p.flush(8)


def test_acknowledged_records_and_commits_survive_sigkill(make_cluster):
    c = make_cluster(**{"zookeeper.session.timeout.ms": "6000"})
    b = c.bootstrap
    ku.create_topic(b, "crash", partitions=3)
    acked = {"1": [], "all": []}
    errors = []
    stop = threading.Event()
    threads = [threading.Thread(target=_producer, args=(b, a, a.encode(), acked[a], stop, errors)) for a in acked]
    for t in threads:
        t.start()

    # A group consumes and commits synchronously while the producers run.
    cons = Consumer({"bootstrap.servers": b, "group.id": "crash-group", "auto.offset.reset": "earliest",
                     "enable.auto.commit": False})
    cons.subscribe(["crash"])
    committed = {}
    deadline = time.time() + 30
    while time.time() < deadline and sum(committed.values()) < 300:
        m = cons.poll(0.2)
        if m is None or m.error():
            continue
        cons.commit(message=m, asynchronous=False)
        committed[m.partition()] = m.offset() + 1
    assert sum(committed.values()) >= 300, committed
    # Both producers are well under way (the idempotent one starts later: it needs a producer id).
    ku.wait_until(lambda: len(acked["1"]) > 200 and len(acked["all"]) > 200, timeout=30,
                  what="acknowledgements from both producers")

    c.broker.kill()
    stop.set()
    for t in threads:
        t.join(30)
    cons.close()
    assert len(acked["1"]) > 100 and len(acked["all"]) > 100, ({k: len(v) for k, v in acked.items()}, errors[:3])

    c.broker.start()
    got = {}
    reader = Consumer({"bootstrap.servers": b, "group.id": "crash-reader", "auto.offset.reset": "earliest",
                       "enable.auto.commit": False})
    reader.assign([TopicPartition("crash", p, 0) for p in range(3)])
    # Everything up to each partition's high watermark (written but unacknowledged records too).
    ends = {p: reader.get_watermark_offsets(TopicPartition("crash", p), timeout=30)[1] for p in range(3)}
    done = {p: ends[p] == 0 for p in range(3)}
    deadline = time.time() + 60
    while time.time() < deadline and not all(done.values()):
        m = reader.poll(0.5)
        if m is not None and not m.error():
            got[(m.partition(), m.offset())] = m.value()
            if m.offset() >= ends[m.partition()] - 1:
                done[m.partition()] = True
    reader.close()
    for acks, recs in acked.items():
        missing = [(p, o) for p, o, v in recs if got.get((p, o)) != v]
        assert not missing, "acks=%s: %d acknowledged records lost or changed, e.g. %s" % (acks, len(missing), missing[:5])
        # In order: per partition, offsets grow with the producer's sequence numbers.
        for part in range(3):
            seq = [v for p, o, v in sorted(recs) if p == part]
            assert seq == sorted(seq), "acks=%s partition %d out of order" % (acks, part)

    # The group resumes where it committed.
    resumed = Consumer({"bootstrap.servers": b, "group.id": "crash-group", "auto.offset.reset": "earliest",
                        "enable.auto.commit": False})
    positions = resumed.committed([TopicPartition("crash", p) for p in range(3)], timeout=30)
    resumed.close()
    for tp in positions:
        assert tp.offset == committed.get(tp.partition, -1001), (tp, committed)
