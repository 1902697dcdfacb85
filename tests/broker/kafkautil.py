"""Client-side helpers shared by the broker tests (confluent-kafka and kcat).

Every wait here is bounded; a helper that runs out of time raises
AssertionError with what it saw.
"""

import re
import subprocess
import time
import uuid

DEFAULT_TIMEOUT = 30.0


def unique_name(hint=""):
    safe = re.sub(r"[^A-Za-z0-9-]+", "-", hint).strip("-")[:60]
    return "%s-%s" % (safe or "t", uuid.uuid4().hex[:8])


def wait_until(pred, timeout=DEFAULT_TIMEOUT, interval=0.1, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    last = pred()
    if not last:
        raise AssertionError("%s not reached within %.0fs" % (what, timeout))
    return last


# ----------------------------------------------------------------------
# confluent-kafka
# ----------------------------------------------------------------------

def admin_client(bootstrap, **conf):
    from confluent_kafka.admin import AdminClient
    c = {"bootstrap.servers": bootstrap}
    c.update(conf)
    return AdminClient(c)


def wait_for_brokers(bootstrap, ids, timeout=DEFAULT_TIMEOUT):
    """Until Metadata through bootstrap lists exactly the broker ids `ids`."""
    a = admin_client(bootstrap)
    ids = set(ids)

    def ok():
        try:
            return set(a.list_topics(timeout=5).brokers) == ids
        except Exception:
            return False
    wait_until(ok, timeout, what="brokers %s in metadata" % sorted(ids))


def wait_for_brokers_on_each(bootstraps, ids, timeout=DEFAULT_TIMEOUT):
    """Until every broker in `bootstraps`, asked itself (a fresh client per
    question, so the bootstrap broker answers), lists exactly the broker ids
    `ids`: each broker's own view, which is what it assigns replicas from."""
    ids = set(ids)
    for b in bootstraps:
        def ok():
            try:
                return set(admin_client(b).list_topics(timeout=5).brokers) == ids
            except Exception:
                return False
        wait_until(ok, timeout, interval=0.2, what="brokers %s in %s's metadata" % (sorted(ids), b))


def topic_metadata(bootstrap, topic, timeout=10):
    md = admin_client(bootstrap).list_topics(topic=topic, timeout=timeout)
    return md.topics.get(topic)


def wait_topic_ready(bootstrap, topic, partitions, timeout=DEFAULT_TIMEOUT):
    """Until Metadata shows `partitions` partitions of topic, each with a
    leader. Returns the TopicMetadata."""
    def ok():
        try:
            t = topic_metadata(bootstrap, topic)
        except Exception:
            return None
        if t is None or t.error is not None or len(t.partitions) != partitions:
            return None
        if any(p.leader < 0 or p.error is not None
               for p in t.partitions.values()):
            return None
        return t
    return wait_until(ok, timeout, what="topic %s with %d led partitions"
                      % (topic, partitions))


def create_topic(bootstrap, topic, partitions=1, replication_factor=1,
                 config=None, timeout=DEFAULT_TIMEOUT):
    from confluent_kafka.admin import NewTopic
    a = admin_client(bootstrap)
    fs = a.create_topics([NewTopic(topic, num_partitions=partitions,
                                   replication_factor=replication_factor,
                                   config=config or {})],
                         operation_timeout=timeout)
    fs[topic].result(timeout)
    return wait_topic_ready(bootstrap, topic, partitions, timeout)


def producer(bootstrap, **conf):
    from confluent_kafka import Producer
    c = {"bootstrap.servers": bootstrap, "linger.ms": 5,
         "message.timeout.ms": 30000}
    c.update(conf)
    return Producer(c)


def produce(bootstrap, topic, values, keys=None, partition=None,
            timestamps=None, conf=None, timeout=DEFAULT_TIMEOUT):
    """Produce values (bytes/str); returns the delivery reports as a list of
    (err, partition, offset) in the order the reports came."""
    p = producer(bootstrap, **(conf or {}))
    reports = []

    def cb(err, msg):
        reports.append((err, msg.partition(), msg.offset()))

    for i, v in enumerate(values):
        kw = {"value": v, "on_delivery": cb}
        if keys is not None:
            kw["key"] = keys[i]
        if partition is not None:
            kw["partition"] = partition
        if timestamps is not None:
            kw["timestamp"] = timestamps[i]
        while True:
            try:
                p.produce(topic, **kw)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(timeout)
    assert left == 0, "%d messages undelivered after %.0fs" % (left, timeout)
    assert len(reports) == len(values)
    return reports


def consumer(bootstrap, group=None, **conf):
    from confluent_kafka import Consumer
    c = {"bootstrap.servers": bootstrap,
         "group.id": group or unique_name("solo"),
         "enable.auto.commit": False,
         "auto.offset.reset": "earliest",
         "session.timeout.ms": 6000,
         "heartbeat.interval.ms": 500,
         "enable.partition.eof": False}
    c.update(conf)
    return Consumer(c)


def read_partition(bootstrap, topic, partition, count, start=0,
                   timeout=DEFAULT_TIMEOUT, **conf):
    """Read `count` messages of one partition from offset `start` with an
    assigned (group-less) consumer; returns the Message objects."""
    from confluent_kafka import TopicPartition
    c = consumer(bootstrap, **conf)
    try:
        c.assign([TopicPartition(topic, partition, start)])
        return collect(c, count, timeout)
    finally:
        c.close()


def read_topic(bootstrap, topic, partitions, count, timeout=DEFAULT_TIMEOUT,
               **conf):
    """Read `count` messages from all `partitions` partitions, each from its
    beginning."""
    from confluent_kafka import TopicPartition, OFFSET_BEGINNING
    c = consumer(bootstrap, **conf)
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                  for p in range(partitions)])
        return collect(c, count, timeout)
    finally:
        c.close()


def collect(c, count, timeout):
    out = []
    deadline = time.time() + timeout
    while len(out) < count and time.time() < deadline:
        for m in c.consume(num_messages=count - len(out), timeout=0.5):
            if m.error():
                raise AssertionError("consume error: %s" % m.error())
            out.append(m)
    assert len(out) == count, "got %d of %d messages within %.0fs" % (
        len(out), count, timeout)
    return out


def warm_up_group_coordinator(bootstrap):
    """Commit one offset with a throwaway group, so the broker's group
    coordination state (Kafka: the __consumer_offsets topic) exists."""
    from confluent_kafka import TopicPartition
    t = unique_name("warmup")
    create_topic(bootstrap, t)
    produce(bootstrap, t, [b"x"])
    g = unique_name("warmup-group")
    c = consumer(bootstrap, group=g)
    try:
        c.commit(offsets=[TopicPartition(t, 0, 1)], asynchronous=False)
    finally:
        c.close()


# ----------------------------------------------------------------------
# kcat
# ----------------------------------------------------------------------

def kcat(bootstrap, *args, input=None, timeout=DEFAULT_TIMEOUT, check=True):
    """Run kcat -b bootstrap ARGS; returns CompletedProcess (bytes)."""
    cmd = ["kcat", "-b", bootstrap] + list(args)
    r = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("%s exited %d\nstdout: %r\nstderr: %s" % (
            " ".join(cmd), r.returncode, r.stdout[-2000:],
            r.stderr.decode("utf-8", "replace")[-3000:]))
    return r
