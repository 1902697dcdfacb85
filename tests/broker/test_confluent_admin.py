"""confluent-kafka AdminClient: topics, partitions, configs, cluster
metadata; with the error codes real Kafka answers."""

import time
import warnings

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry,
                                   ConfigResource, ConfigSource, NewPartitions,
                                   NewTopic, ResourceType)

import broker_kafkautil as ku


def _error_code(future):
    exc = future.exception(30)
    assert exc is not None, "expected an error, got success"
    return exc.args[0].code()


def _topic_configs(admin, topic):
    (f,) = admin.describe_configs(
        [ConfigResource(ResourceType.TOPIC, topic)],
        request_timeout=10).values()
    return f.result(30)


def test_create_and_list_topics(admin, bootstrap, topic):
    fs = admin.create_topics([NewTopic(topic, num_partitions=3,
                                       replication_factor=1)],
                             operation_timeout=30)
    assert fs[topic].result(30) is None
    t = ku.wait_topic_ready(bootstrap, topic, 3)
    assert sorted(t.partitions) == [0, 1, 2]
    for p in t.partitions.values():
        assert p.leader == 0 and p.replicas == [0] and p.isrs == [0]
    md = admin.list_topics(timeout=10)
    assert topic in md.topics
    assert md.brokers[0].host == "127.0.0.1"
    assert md.brokers[0].port == int(bootstrap.split(":")[1])
    assert md.controller_id == 0
    assert md.cluster_id                       # a non-empty cluster id


def test_create_topic_defaults(admin, bootstrap, topic):
    """-1 partitions / replication factor: the broker's num.partitions (1)
    and default.replication.factor (1)."""
    fs = admin.create_topics([NewTopic(topic)], operation_timeout=30)
    fs[topic].result(30)
    t = ku.wait_topic_ready(bootstrap, topic, 1)
    assert t.partitions[0].replicas == [0]


def test_create_topic_errors(admin, bootstrap, topic):
    ku.create_topic(bootstrap, topic)
    # TOPIC_ALREADY_EXISTS (36)
    fs = admin.create_topics([NewTopic(topic, 1, 1)])
    assert _error_code(fs[topic]) == KafkaError.TOPIC_ALREADY_EXISTS
    # INVALID_REPLICATION_FACTOR (38): more replicas than brokers
    name = topic + "-rf"
    fs = admin.create_topics([NewTopic(name, 1, 3)])
    assert _error_code(fs[name]) == KafkaError.INVALID_REPLICATION_FACTOR
    # INVALID_TOPIC_EXCEPTION (17): illegal characters
    name = "bad name!"
    fs = admin.create_topics([NewTopic(name, 1, 1)])
    assert _error_code(fs[name]) == KafkaError.TOPIC_EXCEPTION
    # INVALID_CONFIG (40): bad value, unknown name
    name = topic + "-cfg"
    fs = admin.create_topics([NewTopic(name, 1, 1,
                                       config={"retention.ms": "abc"})])
    assert _error_code(fs[name]) == KafkaError.INVALID_CONFIG
    fs = admin.create_topics([NewTopic(name, 1, 1,
                                       config={"no.such.config": "1"})])
    assert _error_code(fs[name]) == KafkaError.INVALID_CONFIG
    # none of the failed ones exists
    md = admin.list_topics(timeout=10)
    assert not {topic + "-rf", "bad name!", topic + "-cfg"} & set(md.topics)


def test_create_topics_validate_only(admin, topic):
    fs = admin.create_topics([NewTopic(topic, 2, 1)], validate_only=True)
    assert fs[topic].result(30) is None
    c = ku.consumer(admin_bootstrap(admin))
    try:
        t = c.list_topics(topic, timeout=10).topics[topic]
        assert t.error is not None
        assert t.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    finally:
        c.close()


def admin_bootstrap(admin):
    md = admin.list_topics(timeout=10)
    b = md.brokers[md.orig_broker_id]
    return "%s:%d" % (b.host, b.port)


def test_delete_topics(admin, bootstrap, topic):
    ku.create_topic(bootstrap, topic, partitions=2)
    ku.produce(bootstrap, topic, [b"x"] * 3, partition=1)
    fs = admin.delete_topics([topic], operation_timeout=30)
    assert fs[topic].result(30) is None
    ku.wait_until(lambda: topic not in admin.list_topics(timeout=10).topics,
                  what="topic gone from metadata")
    # deleting it again: UNKNOWN_TOPIC_OR_PART (3)
    fs = admin.delete_topics([topic], operation_timeout=30)
    assert _error_code(fs[topic]) == KafkaError.UNKNOWN_TOPIC_OR_PART
    # a new topic of the same name starts empty. Kafka deletes in the
    # background: until it is done, creating the name again fails with
    # TOPIC_ALREADY_EXISTS ("marked for deletion"), so retry.
    def recreate():
        (f,) = admin.create_topics([NewTopic(topic, 1, 1)]).values()
        exc = f.exception(30)
        if exc is None:
            return True
        assert exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS, exc
        return False
    ku.wait_until(recreate, interval=0.3, what="re-creating %s" % topic)
    ku.wait_topic_ready(bootstrap, topic, 1)
    c = ku.consumer(bootstrap)
    try:
        from confluent_kafka import TopicPartition
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) \
            == (0, 0)
    finally:
        c.close()


def test_create_partitions(admin, bootstrap, topic):
    ku.create_topic(bootstrap, topic, partitions=2)
    fs = admin.create_partitions([NewPartitions(topic, 5)],
                                 operation_timeout=30)
    assert fs[topic].result(30) is None
    t = ku.wait_topic_ready(bootstrap, topic, 5)
    assert sorted(t.partitions) == [0, 1, 2, 3, 4]
    # the new partitions take messages
    reports = ku.produce(bootstrap, topic, [b"in-4"], partition=4)
    assert reports == [(None, 4, 0)]
    # fewer or the same number: INVALID_PARTITIONS (37)
    fs = admin.create_partitions([NewPartitions(topic, 3)])
    assert _error_code(fs[topic]) == KafkaError.INVALID_PARTITIONS
    fs = admin.create_partitions([NewPartitions(topic, 5)])
    assert _error_code(fs[topic]) == KafkaError.INVALID_PARTITIONS
    # unknown topic: UNKNOWN_TOPIC_OR_PART (3)
    name = topic + "-nope"
    fs = admin.create_partitions([NewPartitions(name, 3)])
    assert _error_code(fs[name]) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_describe_topic_configs(admin, bootstrap, topic):
    ku.create_topic(bootstrap, topic, config={"retention.ms": "100000",
                                              "cleanup.policy": "compact"})
    cfg = _topic_configs(admin, topic)
    # Kafka 3.9 lists every topic config
    for name in ("cleanup.policy", "retention.ms", "retention.bytes",
                 "segment.bytes", "max.message.bytes", "compression.type",
                 "min.insync.replicas", "message.timestamp.type"):
        assert name in cfg, name
    r = cfg["retention.ms"]
    assert (r.value, r.source) == ("100000",
                                   ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    assert r.is_default is False and r.is_read_only is False
    assert r.is_sensitive is False
    assert cfg["cleanup.policy"].value == "compact"
    # set in server.properties (log.segment.bytes) -> static broker config
    s = cfg["segment.bytes"]
    assert (s.value, s.source) == (str(16 * 1024 * 1024),
                                   ConfigSource.STATIC_BROKER_CONFIG.value)
    # max.message.bytes follows the broker's message.max.bytes
    assert cfg["max.message.bytes"].value == "1048588"
    # untouched -> default
    d = cfg["retention.bytes"]
    assert (d.value, d.source, d.is_default) == (
        "-1", ConfigSource.DEFAULT_CONFIG.value, True)
    assert cfg["compression.type"].value == "producer"


def test_describe_unknown_topic_configs(admin, topic):
    (f,) = admin.describe_configs(
        [ConfigResource(ResourceType.TOPIC, topic)]).values()
    assert _error_code(f) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_describe_broker_configs(admin, cluster):
    (f,) = admin.describe_configs(
        [ConfigResource(ResourceType.BROKER, "0")],
        request_timeout=10).values()
    cfg = f.result(30)
    expect = {"message.max.bytes": "1048588",
              "num.partitions": "1",
              "default.replication.factor": "1",
              "auto.create.topics.enable": "true",
              "offsets.topic.replication.factor": "1",
              "group.initial.rebalance.delay.ms": "0",
              "log.segment.bytes": str(16 * 1024 * 1024),
              "broker.id": "0",
              "log.dirs": cluster.broker.log_dirs,
              "zookeeper.connect": cluster.zk_hosts}
    for name, value in expect.items():
        assert name in cfg, name
        assert cfg[name].value == value, name
        assert cfg[name].source == ConfigSource.STATIC_BROKER_CONFIG.value
    assert cfg["num.partitions"].is_read_only is True


def test_alter_configs_replaces_the_whole_set(admin, bootstrap, topic):
    """The old AlterConfigs replaces the topic's whole dynamic config: keys
    not named go back to their defaults."""
    ku.create_topic(bootstrap, topic)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        r = ConfigResource(ResourceType.TOPIC, topic, set_config={
            "retention.ms": "123456", "cleanup.policy": "compact"})
        (f,) = admin.alter_configs([r]).values()
        assert f.result(30) is None
        cfg = _topic_configs(admin, topic)
        assert cfg["retention.ms"].value == "123456"
        assert cfg["cleanup.policy"].value == "compact"

        r = ConfigResource(ResourceType.TOPIC, topic,
                           set_config={"segment.bytes": "1048576"})
        (f,) = admin.alter_configs([r]).values()
        assert f.result(30) is None
    cfg = _topic_configs(admin, topic)
    assert cfg["segment.bytes"].value == "1048576"
    assert cfg["retention.ms"].value == "604800000"
    assert cfg["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    assert cfg["cleanup.policy"].value == "delete"


def test_incremental_alter_configs(admin, bootstrap, topic):
    ku.create_topic(bootstrap, topic, config={"segment.bytes": "1048576"})
    r = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "7777",
                    incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("segment.bytes", None,
                    incremental_operation=AlterConfigOpType.DELETE),
        ConfigEntry("cleanup.policy", "compact",
                    incremental_operation=AlterConfigOpType.APPEND)])
    (f,) = admin.incremental_alter_configs([r]).values()
    assert f.result(30) is None
    cfg = _topic_configs(admin, topic)
    assert cfg["retention.ms"].value == "7777"
    assert cfg["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    # deleted -> back to the broker's static setting
    assert cfg["segment.bytes"].value == str(16 * 1024 * 1024)
    assert sorted(cfg["cleanup.policy"].value.split(",")) == \
        ["compact", "delete"]
    # a key left alone stays; SET of another keeps the first
    r = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("max.message.bytes", "50000",
                    incremental_operation=AlterConfigOpType.SET)])
    (f,) = admin.incremental_alter_configs([r]).values()
    f.result(30)
    cfg = _topic_configs(admin, topic)
    assert cfg["retention.ms"].value == "7777"
    assert cfg["max.message.bytes"].value == "50000"


def test_incremental_alter_configs_errors(admin, bootstrap, topic):
    ku.create_topic(bootstrap, topic)
    r = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "abc",
                    incremental_operation=AlterConfigOpType.SET)])
    (f,) = admin.incremental_alter_configs([r]).values()
    assert _error_code(f) == KafkaError.INVALID_CONFIG
    name = topic + "-nope"
    r = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
        ConfigEntry("retention.ms", "1",
                    incremental_operation=AlterConfigOpType.SET)])
    (f,) = admin.incremental_alter_configs([r]).values()
    assert _error_code(f) == KafkaError.UNKNOWN_TOPIC_OR_PART
    # the topic's value did not change
    assert _topic_configs(admin, topic)["retention.ms"].value == "604800000"


def test_topic_config_takes_effect(admin, bootstrap, topic):
    """A dynamic max.message.bytes set by incremental alter applies to the
    next produce."""
    ku.create_topic(bootstrap, topic)
    r = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("max.message.bytes", "10000",
                    incremental_operation=AlterConfigOpType.SET)])
    (f,) = admin.incremental_alter_configs([r]).values()
    f.result(30)
    import os
    err = None
    deadline = time.time() + 30
    while time.time() < deadline:         # the change reaches the log
        (err, _, _), = ku.produce(bootstrap, topic, [os.urandom(20000)],
                                  conf={"compression.type": "none"})
        if err is not None:
            break
        time.sleep(0.2)
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE


def test_describe_cluster(admin, bootstrap):
    d = admin.describe_cluster(request_timeout=10).result(30)
    assert d.cluster_id
    assert d.controller.id == 0
    assert [(n.id, n.host, n.port) for n in d.nodes] == \
        [(0, "127.0.0.1", int(bootstrap.split(":")[1]))]


def test_describe_topics(admin, bootstrap, topic):
    from confluent_kafka import TopicCollection
    ku.create_topic(bootstrap, topic, partitions=2)
    (f,) = admin.describe_topics(TopicCollection([topic]),
                                 request_timeout=10).values()
    d = f.result(30)
    assert d.name == topic
    assert d.is_internal is False
    assert d.topic_id is not None
    assert [(p.id, p.leader.id, [r.id for r in p.replicas],
             [r.id for r in p.isr]) for p in d.partitions] == \
        [(0, 0, [0], [0]), (1, 0, [0], [0])]
    name = topic + "-nope"
    (f,) = admin.describe_topics(TopicCollection([name]),
                                 request_timeout=10).values()
    assert _error_code(f) == KafkaError.UNKNOWN_TOPIC_OR_PART


@pytest.mark.parametrize("internal", ["__consumer_offsets"])
def test_internal_topic_after_group_use(admin, bootstrap, internal):
    """After a group commits, Kafka lists its offsets topic as internal."""
    from confluent_kafka import TopicCollection
    ku.warm_up_group_coordinator(bootstrap)
    md = admin.list_topics(timeout=10)
    assert internal in md.topics
    (f,) = admin.describe_topics(TopicCollection([internal]),
                                 request_timeout=10).values()
    assert f.result(30).is_internal is True
