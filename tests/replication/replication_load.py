"""Client load for the replication fault tests, and the checks on what the
cluster kept.

`ProducerLoad` is a thread driving one confluent-kafka (librdkafka) producer
with acks=all and enable.idempotence=true at a steady rate. Every record has
a unique value, `<producer name>-<sequence>`, goes to an explicit partition
(sequence mod the partition count) and gets a delivery report, recorded as a
`Delivery`:

    acknowledged   error None: the leader acknowledged it at (partition,
                   offset); it must be in the log there, once
    failed         an error: it may or may not be in the log (a timed-out
                   request may have been appended), but at most once

`read_log` consumes every partition from the beginning up to the high
watermark; `check_log` compares the two.
"""

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Optional

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError,
                             KafkaException, Producer, TopicPartition)


def producer_conf(bootstrap, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": "none",
        "linger.ms": 5,
        # long enough to ride out a failover (leader election waits for the
        # dead broker's coordinator session to expire)
        "message.timeout.ms": 90000,
        "request.timeout.ms": 10000,
        "retry.backoff.ms": 100,
        "reconnect.backoff.ms": 100,
        "reconnect.backoff.max.ms": 1000,
        "socket.connection.setup.timeout.ms": 5000,
        "topic.metadata.refresh.interval.ms": 5000,
    }
    conf.update(extra)
    return conf


@dataclass
class Delivery:
    seq: int
    value: bytes
    partition: int
    offset: int
    sent: float                  # time.monotonic() of produce()
    done: float                  # time.monotonic() of the delivery report
    error: Optional[str] = None  # librdkafka's error name, None = acknowledged
    code: Optional[int] = None
    retriable: bool = False
    fatal: bool = False

    @property
    def acked(self):
        return self.error is None


class ProducerLoad(threading.Thread):
    """Produces `rate` records a second to `partitions` of topic until
    stop(); deliveries are appended to self.deliveries as they come."""

    def __init__(self, name, bootstrap, topic, partitions, rate=200,
                 **conf):
        super().__init__(name=name, daemon=True)
        self.topic = topic
        self.partitions = list(partitions)
        self.rate = rate
        self.conf = producer_conf(bootstrap, **conf)
        self.deliveries = []
        self.client_errors = []   # (time, name, fatal, text) from error_cb
        self.exceptions = []
        self.undelivered = 0      # still queued when stop() gave up
        self.sent = 0
        self._halt = threading.Event()
        self._sent_at = {}
        self.started_at = None

    def value(self, seq):
        return ("%s-%08d" % (self.name, seq)).encode()

    def _on_delivery(self, err, msg):
        now = time.monotonic()
        seq = int(msg.value().rsplit(b"-", 1)[1])
        d = Delivery(seq, msg.value(), msg.partition(), msg.offset(),
                     self._sent_at.pop(seq, now), now)
        if err is not None:
            d.error, d.code = err.name(), err.code()
            d.retriable, d.fatal = err.retriable(), err.fatal()
            d.offset = -1
        self.deliveries.append(d)

    def _on_error(self, err):
        self.client_errors.append((time.monotonic(), err.name(), err.fatal(),
                                   err.str()))

    def run(self):
        conf = dict(self.conf, error_cb=self._on_error)
        p = Producer(conf)
        self.started_at = time.monotonic()
        try:
            while not self._halt.is_set():
                due = int((time.monotonic() - self.started_at) * self.rate)
                while self.sent < due and not self._halt.is_set():
                    seq = self.sent
                    try:
                        p.produce(self.topic, value=self.value(seq),
                                  partition=self.partitions[seq % len(self.partitions)],
                                  on_delivery=self._on_delivery)
                    except BufferError:
                        break
                    self._sent_at[seq] = time.monotonic()
                    self.sent += 1
                p.poll(0.01)
            flush_s = self.conf["message.timeout.ms"] / 1000.0 + 10
            self.undelivered = p.flush(flush_s)
        except KafkaException as e:  # a fatal error stops the producer
            self.exceptions.append(repr(e))
            try:
                self.undelivered = p.flush(5)
            except Exception:  # noqa: BLE001
                pass
        except Exception as e:  # noqa: BLE001
            self.exceptions.append(repr(e))

    def stop(self, join=True):
        self._halt.set()
        if join:
            self.join()

    # -- what happened ------------------------------------------------------
    def acked(self, partition=None, after=None):
        return [d for d in self.deliveries if d.acked
                and (partition is None or d.partition == partition)
                and (after is None or d.done > after)]

    def failed(self):
        return [d for d in self.deliveries if not d.acked]

    def wait_acks(self, n, partition=None, after=None, timeout=60):
        """Until n records (on partition, reported after `after`) are
        acknowledged; returns the time it took from `after` (or now)."""
        t0 = after if after is not None else time.monotonic()
        deadline = time.monotonic() + timeout
        while len(self.acked(partition, after)) < n:
            if not self.is_alive():
                raise AssertionError("producer %s stopped: %s" % (
                    self.name, self.exceptions or self.client_errors[-5:]))
            if time.monotonic() > deadline:
                raise AssertionError(
                    "%s: only %d of %d records acknowledged%s within %.0fs; "
                    "last delivery errors: %s; last client errors: %s" % (
                        self.name, len(self.acked(partition, after)), n,
                        "" if partition is None else " on partition %d" % partition,
                        timeout, error_summary(self.failed()[-50:]),
                        [e[1] for e in self.client_errors[-5:]]))
            time.sleep(0.05)
        return time.monotonic() - t0

    def fatal_errors(self):
        return [e for e in self.client_errors if e[2]] + \
            [(d.done, d.error, True, "delivery") for d in self.deliveries if d.fatal]


def error_summary(deliveries):
    counts = {}
    for d in deliveries:
        key = "%s%s" % (d.error, "" if d.retriable else " (not retriable)")
        counts[key] = counts.get(key, 0) + 1
    return ", ".join("%s x%d" % kv for kv in sorted(counts.items())) or "none"


# ----------------------------------------------------------------------
# reading the log back
# ----------------------------------------------------------------------

@dataclass
class Record:
    partition: int
    offset: int
    value: bytes
    leader_epoch: Optional[int]


def read_log(bootstrap, topic, partitions, timeout=90, group=None,
             subscribe=False):
    """Every record of the partitions, from the beginning to the high
    watermark each had when we started: {partition: [Record]} in offset
    order. With subscribe=True it joins a consumer group (like
    kafka-console-consumer --from-beginning) instead of assigning."""
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group or "replication-check-%s" % uuid.uuid4().hex[:8],
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        "fetch.wait.max.ms": 100,
        "reconnect.backoff.max.ms": 1000,
        "topic.metadata.refresh.interval.ms": 2000,
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 1000,
    }
    c = Consumer(conf)
    deadline = time.monotonic() + timeout
    try:
        ends = {}
        for p in partitions:
            ends[p] = _high_watermark(c, topic, p, deadline)
        if subscribe:
            c.subscribe([topic])
        else:
            c.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                      for p in partitions])
        out = {p: [] for p in partitions}
        next_off = {p: 0 for p in partitions}

        def done():
            return all(next_off[p] >= ends[p] for p in partitions)

        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(
                    "reading %s back through %s: within %.0fs got up to %s of "
                    "high watermarks %s" % (topic, bootstrap, timeout,
                                            next_off, ends))
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    if m.error().retriable() or not m.error().fatal():
                        continue
                    raise AssertionError("consume error: %s" % m.error())
                p = m.partition()
                if p not in out:
                    continue
                out[p].append(Record(p, m.offset(), m.value(), m.leader_epoch()))
                next_off[p] = m.offset() + 1
        return out, ends
    finally:
        c.close()


def _high_watermark(c, topic, p, deadline):
    last = None
    while time.monotonic() < deadline:
        try:
            return c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
        except KafkaException as e:
            last = e
            time.sleep(0.5)
    raise AssertionError("no high watermark for %s-%d: %s" % (topic, p, last))


# ----------------------------------------------------------------------
# checks
# ----------------------------------------------------------------------

def check_log(producers, log, topic, other_values=()):
    """Asserts, for the records of `producers` in `log` (read_log's):

      - every acknowledged record is in the log, at the partition and offset
        its delivery report gave;
      - no record is in the log twice;
      - each producer's records of one partition are in the order it sent
        them;
      - the log holds nothing that was not sent (by them, or as one of
        `other_values`).

    Returns counts for the figures."""
    by_value = {}
    for recs in log.values():
        for r in recs:
            by_value.setdefault(r.value, []).append(r)
    dups = {v: rs for v, rs in by_value.items() if len(rs) > 1}
    assert not dups, "%d records of %s are in the log more than once, e.g. %s" % (
        len(dups), topic, [(v, [(r.partition, r.offset) for r in rs])
                           for v, rs in list(dups.items())[:5]])
    missing, moved = [], []
    acked = failed = 0
    sent = set(other_values)
    for pr in producers:
        for d in pr.deliveries:
            sent.add(d.value)
            if not d.acked:
                failed += 1
                continue
            acked += 1
            rs = by_value.get(d.value)
            if not rs:
                missing.append(d)
            elif (rs[0].partition, rs[0].offset) != (d.partition, d.offset):
                moved.append((d, rs[0]))
    assert not missing, (
        "%d of %d acknowledged records of %s are not in the log, e.g. %s"
        % (len(missing), acked, topic,
           ["%s (acknowledged at %s-%d offset %d)" % (
               d.value.decode(), topic, d.partition, d.offset) for d in missing[:8]]))
    # (an offset of None: librdkafka acknowledged the record without one, which it does for a
    # batch whose request timed out once a later batch of the producer succeeded)
    assert not moved, (
        "%d acknowledged records of %s are at another offset than "
        "acknowledged, e.g. %s" % (len(moved), topic, [
            "%s acknowledged at %s-%s, found at %s-%s" % (
                d.value.decode(), d.partition, d.offset, r.partition, r.offset)
            for d, r in moved[:8]]))
    for pr in producers:
        sent |= {pr.value(s) for s in range(pr.sent)}
    strangers = [v for v in by_value if v not in sent]
    assert not strangers, "records nobody sent in %s: %s" % (topic, strangers[:5])
    for pr in producers:
        prefix = pr.name.encode() + b"-"
        for p, recs in log.items():
            seqs = [int(r.value.rsplit(b"-", 1)[1]) for r in recs
                    if r.value.startswith(prefix)]
            bad = [(a, b) for a, b in zip(seqs, seqs[1:]) if b <= a]
            assert not bad, ("%s's records in %s-%d are out of order: "
                             "sequence %s" % (pr.name, topic, p, bad[:5]))
    consumed = sum(len(v) for v in log.values())
    return {"acknowledged": acked, "failed": failed, "consumed": consumed,
            "failed but kept": sum(1 for pr in producers for d in pr.deliveries
                                   if not d.acked and d.value in by_value)}


def failover_seconds(producer, log, partition, t_fault):
    """Seconds from t_fault to the first acknowledgement of a record that
    the new leader appended: one whose batch carries a leader epoch higher
    than any record acknowledged before the fault. Without leader epochs in
    the log (-1/None), the first acknowledgement after the fault. None when
    nothing was acknowledged after it."""
    epochs = {r.value: r.leader_epoch for r in log.get(partition, [])}
    before = [epochs.get(d.value) for d in producer.acked(partition)
              if d.done <= t_fault]
    before = [e for e in before if e is not None and e >= 0]
    after = [d for d in producer.acked(partition) if d.done > t_fault]
    if before:
        old = max(before)
        after = [d for d in after if (epochs.get(d.value) or -1) > old]
    if not after:
        return None
    return min(d.done for d in after) - t_fault
