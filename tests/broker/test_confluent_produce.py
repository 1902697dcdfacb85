"""confluent-kafka (librdkafka) producer and offset look-ups: acks, delivery
reports, idempotence, message.max.bytes, auto-creation, ListOffsets,
offsets_for_times, DeleteRecords."""

import os

import pytest
from confluent_kafka import (KafkaError, TopicPartition,
                             OFFSET_BEGINNING)

import broker_kafkautil as ku


@pytest.mark.parametrize("acks", ["1", "all", "-1"])
def test_delivery_reports_with_increasing_offsets(bootstrap, topic, acks):
    ku.create_topic(bootstrap, topic)
    reports = ku.produce(bootstrap, topic, [b"m%d" % i for i in range(50)],
                         conf={"acks": acks})
    assert all(err is None for err, _, _ in reports), reports
    assert [(p, o) for _, p, o in reports] == [(0, i) for i in range(50)]
    msgs = ku.read_partition(bootstrap, topic, 0, 50)
    assert [m.value() for m in msgs] == [b"m%d" % i for i in range(50)]


def test_acks_zero(bootstrap, topic):
    """acks=0: the broker sends no response; librdkafka reports success with
    no offset (None). The messages are still written."""
    ku.create_topic(bootstrap, topic)
    reports = ku.produce(bootstrap, topic, [b"z%d" % i for i in range(20)],
                         conf={"acks": "0"})
    assert all(err is None for err, _, _ in reports)
    assert all(offset is None for _, _, offset in reports)
    msgs = ku.read_partition(bootstrap, topic, 0, 20)
    assert [m.value() for m in msgs] == [b"z%d" % i for i in range(20)]
    assert [m.offset() for m in msgs] == list(range(20))


def test_offsets_continue_across_producers(bootstrap, topic):
    ku.create_topic(bootstrap, topic, partitions=2)
    first = ku.produce(bootstrap, topic, [b"a"] * 5, partition=1)
    second = ku.produce(bootstrap, topic, [b"b"] * 5, partition=1)
    assert [o for _, _, o in first] == [0, 1, 2, 3, 4]
    assert [o for _, _, o in second] == [5, 6, 7, 8, 9]
    other = ku.produce(bootstrap, topic, [b"c"], partition=0)
    assert [(p, o) for _, p, o in other] == [(0, 0)]


def test_keys_values_headers_timestamps(bootstrap, topic):
    from confluent_kafka import Producer, TIMESTAMP_CREATE_TIME
    ku.create_topic(bootstrap, topic)
    p = Producer({"bootstrap.servers": bootstrap})
    p.produce(topic, key=b"k1", value=b"v1", timestamp=1_234_567_890_123,
              headers=[("h", b"x"), ("h", b"y"), ("empty", b"")])
    p.produce(topic, key=None, value=None)          # a tombstone
    p.produce(topic, key=b"", value=b"")
    assert p.flush(30) == 0
    m0, m1, m2 = ku.read_partition(bootstrap, topic, 0, 3)
    assert (m0.key(), m0.value()) == (b"k1", b"v1")
    assert m0.timestamp() == (TIMESTAMP_CREATE_TIME, 1_234_567_890_123)
    assert m0.headers() == [("h", b"x"), ("h", b"y"), ("empty", b"")]
    assert (m1.key(), m1.value()) == (None, None)
    assert m1.headers() is None
    assert (m2.key(), m2.value()) == (b"", b"")


def test_idempotent_producer_exactly_once_in_order(bootstrap, topic):
    ku.create_topic(bootstrap, topic, partitions=3)
    n = 3000
    values = [b"%06d" % i for i in range(n)]
    keys = [b"key-%d" % (i % 7) for i in range(n)]
    reports = ku.produce(bootstrap, topic, values, keys=keys,
                         conf={"enable.idempotence": True,
                               "max.in.flight.requests.per.connection": 5,
                               "linger.ms": 2, "batch.num.messages": 100})
    assert all(err is None for err, _, _ in reports), \
        [r for r in reports if r[0] is not None][:5]
    per_partition = {}
    for _, p, o in reports:
        per_partition.setdefault(p, []).append(o)
    for p, offsets in per_partition.items():
        # delivery reports of one partition come in order, no gap, no repeat
        assert offsets == list(range(len(offsets))), p
    msgs = ku.read_topic(bootstrap, topic, 3, n)
    assert sorted(m.value() for m in msgs) == values       # each exactly once
    for p in range(3):
        got = [m.value() for m in msgs if m.partition() == p]
        assert got == sorted(got)                          # in order
    # same key -> same partition
    seen = {}
    for m in msgs:
        assert seen.setdefault(m.key(), m.partition()) == m.partition()


def test_message_max_bytes_enforced_by_broker(bootstrap, topic, cluster):
    """A batch larger than the broker's message.max.bytes (1048588 here) is
    refused with MESSAGE_TOO_LARGE (10); the client's own limit is raised so
    the request reaches the broker."""
    ku.create_topic(bootstrap, topic)
    big = os.urandom(1_100_000)      # incompressible, above 1048588
    reports = ku.produce(bootstrap, topic, [big],
                         conf={"message.max.bytes": 5_000_000,
                               "compression.type": "none"})
    (err, _, offset), = reports
    assert err is not None
    assert err.code() == KafkaError.MSG_SIZE_TOO_LARGE
    assert offset is None
    # a message under the limit still goes through, at offset 0
    ok = ku.produce(bootstrap, topic, [os.urandom(900_000)],
                    conf={"message.max.bytes": 5_000_000})
    assert ok[0][0] is None and ok[0][2] == 0


def test_message_max_bytes_topic_override(bootstrap, topic):
    """The topic's max.message.bytes wins over the broker's setting."""
    ku.create_topic(bootstrap, topic, config={"max.message.bytes": "20000"})
    (err, _, _), = ku.produce(bootstrap, topic, [os.urandom(30_000)],
                              conf={"compression.type": "none"})
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE
    (err, _, offset), = ku.produce(bootstrap, topic, [os.urandom(10_000)])
    assert err is None and offset == 0


def test_producing_to_unknown_topic_auto_creates(bootstrap, topic):
    reports = ku.produce(bootstrap, topic, [b"first"])
    assert reports == [(None, 0, 0)]
    t = ku.wait_topic_ready(bootstrap, topic, 1)     # num.partitions=1
    assert list(t.partitions) == [0]
    assert [m.value() for m in ku.read_partition(bootstrap, topic, 0, 1)] == \
        [b"first"]


def test_auto_create_disabled(make_cluster, topic):
    """auto.create.topics.enable=false: the producer's message fails with
    UNKNOWN_TOPIC_OR_PART (librdkafka's _UNKNOWN_TOPIC on some paths), the
    topic is not created; creating it explicitly still works."""
    c = make_cluster(**{"auto.create.topics.enable": "false"})
    reports = ku.produce(c.bootstrap, topic, [b"x"],
                         conf={"topic.metadata.propagation.max.ms": 2000,
                               "message.timeout.ms": 10000})
    (err, _, _), = reports
    assert err is not None
    assert err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART,
                          KafkaError._UNKNOWN_TOPIC), err
    md = ku.admin_client(c.bootstrap).list_topics(timeout=10)
    assert topic not in md.topics
    # a metadata request that allows auto-creation does not create it either
    cons = ku.consumer(c.bootstrap, **{"allow.auto.create.topics": True})
    try:
        t = cons.list_topics(topic, timeout=10).topics[topic]
        assert t.error is not None
        assert t.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    finally:
        cons.close()
    ku.create_topic(c.bootstrap, topic)
    assert ku.produce(c.bootstrap, topic, [b"y"]) == [(None, 0, 0)]


def test_metadata_request_without_auto_create(bootstrap, topic):
    """A consumer (allow.auto.create.topics=false, librdkafka's default for
    consumers) asks Metadata with allow_auto_topic_creation false: the topic
    is reported as UNKNOWN_TOPIC_OR_PART (3) and is not created."""
    c = ku.consumer(bootstrap)
    try:
        t = c.list_topics(topic, timeout=10).topics[topic]
    finally:
        c.close()
    assert t.error is not None
    assert t.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert len(t.partitions) == 0
    assert topic not in ku.admin_client(bootstrap).list_topics(timeout=10).topics


def test_admin_metadata_request_auto_creates(bootstrap, topic):
    """librdkafka's producer and AdminClient ask Metadata for a named topic
    with allow_auto_topic_creation true, so the broker creates it (the first
    answer may be LEADER_NOT_AVAILABLE while it does)."""
    ku.admin_client(bootstrap).list_topics(topic, timeout=10)
    ku.wait_topic_ready(bootstrap, topic, 1)


def test_consumer_metadata_request_auto_creates(bootstrap, topic):
    """A consumer with allow.auto.create.topics=true asks Metadata with
    auto-creation on, and the broker creates the topic."""
    c = ku.consumer(bootstrap, **{"allow.auto.create.topics": True})
    try:
        c.list_topics(topic, timeout=10)
    finally:
        c.close()
    ku.wait_topic_ready(bootstrap, topic, 1)


def test_watermarks_and_list_offsets(bootstrap, topic):
    from confluent_kafka.admin import OffsetSpec
    ku.create_topic(bootstrap, topic, partitions=2)
    ku.produce(bootstrap, topic, [b"x"] * 7, partition=0)
    c = ku.consumer(bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) \
            == (0, 7)
        assert c.get_watermark_offsets(TopicPartition(topic, 1), timeout=10) \
            == (0, 0)
    finally:
        c.close()
    a = ku.admin_client(bootstrap)

    def list_offsets(partition, spec):
        fs = a.list_offsets({TopicPartition(topic, partition): spec},
                            request_timeout=10)
        (f,) = fs.values()
        return f.result()

    assert list_offsets(0, OffsetSpec.earliest()).offset == 0
    assert list_offsets(0, OffsetSpec.latest()).offset == 7
    assert list_offsets(1, OffsetSpec.earliest()).offset == 0
    assert list_offsets(1, OffsetSpec.latest()).offset == 0
    # (a partition that does not exist fails in librdkafka itself, before
    # any request: nothing to check about the broker there)


def test_offsets_for_times(bootstrap, topic):
    from confluent_kafka.admin import OffsetSpec
    ku.create_topic(bootstrap, topic)
    base = 1_700_000_000_000
    stamps = [base + i * 1000 for i in range(5)]
    ku.produce(bootstrap, topic, [b"t%d" % i for i in range(5)],
               timestamps=stamps)
    c = ku.consumer(bootstrap)
    try:
        def lookup(ts):
            (tp,) = c.offsets_for_times([TopicPartition(topic, 0, ts)],
                                        timeout=10)
            assert tp.error is None
            return tp.offset
        assert lookup(0) == 0
        assert lookup(base) == 0
        assert lookup(base + 1) == 1
        assert lookup(base + 2500) == 3
        assert lookup(base + 4000) == 4
        assert lookup(base + 4001) == -1        # later than every message

        # seek to a looked-up offset and read from there
        (tp,) = c.offsets_for_times([TopicPartition(topic, 0, base + 2000)],
                                    timeout=10)
        c.assign([tp])
        got = ku.collect(c, 3, 30)
        assert [m.value() for m in got] == [b"t2", b"t3", b"t4"]
        assert [m.timestamp()[1] for m in got] == stamps[2:]
    finally:
        c.close()
    a = ku.admin_client(bootstrap)
    (f,) = a.list_offsets({TopicPartition(topic, 0): OffsetSpec.max_timestamp()},
                          request_timeout=10).values()
    r = f.result()
    assert (r.offset, r.timestamp) == (4, stamps[4])
    (f,) = a.list_offsets({TopicPartition(topic, 0): OffsetSpec.for_timestamp(
        base + 1500)}, request_timeout=10).values()
    assert f.result().offset == 2


def test_delete_records(bootstrap, topic):
    from confluent_kafka.admin import AdminClient, OffsetSpec
    if not hasattr(AdminClient, "delete_records"):
        pytest.skip("this confluent-kafka has no delete_records")
    ku.create_topic(bootstrap, topic)
    ku.produce(bootstrap, topic, [b"d%d" % i for i in range(10)])
    a = ku.admin_client(bootstrap)
    (f,) = a.delete_records([TopicPartition(topic, 0, 4)],
                            request_timeout=10).values()
    assert f.result().low_watermark == 4
    (f,) = a.list_offsets({TopicPartition(topic, 0): OffsetSpec.earliest()},
                          request_timeout=10).values()
    assert f.result().offset == 4
    msgs = ku.read_topic(bootstrap, topic, 1, 6)        # from the beginning
    assert [m.offset() for m in msgs] == list(range(4, 10))
    assert msgs[0].value() == b"d4"
    # beyond the high watermark: OFFSET_OUT_OF_RANGE (1)
    (f,) = a.delete_records([TopicPartition(topic, 0, 11)],
                            request_timeout=10).values()
    assert f.exception() is not None
    assert f.exception().args[0].code() == KafkaError.OFFSET_OUT_OF_RANGE
    # offset -1 means "up to the high watermark"
    (f,) = a.delete_records([TopicPartition(topic, 0, -1)],
                            request_timeout=10).values()
    assert f.result().low_watermark == 10
    c = ku.consumer(bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) \
            == (10, 10)
    finally:
        c.close()


def test_fetch_below_log_start_resets(bootstrap, topic):
    """Fetching an offset below the log start (after DeleteRecords) gets
    OFFSET_OUT_OF_RANGE; auto.offset.reset=earliest moves to the log start."""
    from confluent_kafka.admin import AdminClient
    if not hasattr(AdminClient, "delete_records"):
        pytest.skip("this confluent-kafka has no delete_records")
    ku.create_topic(bootstrap, topic)
    ku.produce(bootstrap, topic, [b"r%d" % i for i in range(6)])
    a = ku.admin_client(bootstrap)
    (f,) = a.delete_records([TopicPartition(topic, 0, 3)],
                            request_timeout=10).values()
    f.result()
    msgs = ku.read_partition(bootstrap, topic, 0, 3, start=1)
    assert [m.offset() for m in msgs] == [3, 4, 5]
    # and from OFFSET_BEGINNING
    msgs = ku.read_partition(bootstrap, topic, 0, 3, start=OFFSET_BEGINNING)
    assert [m.value() for m in msgs] == [b"r3", b"r4", b"r5"]
