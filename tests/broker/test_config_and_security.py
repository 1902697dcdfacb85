"""server.properties handling that users meet at start-up, chroots, SASL/PLAIN and retention."""

import os
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

import broker_harness as harness
import broker_kafkautil as ku


def strom_only(cluster):
    if cluster.kind != "strom":
        pytest.skip("strom-broker behaviour")


def run_broker(props_text, tmp_path, env=None, timeout=5):
    props = tmp_path / "server.properties"
    props.write_text(props_text)
    try:
        return subprocess.run([str(harness.strom_broker_binary()), str(props)], capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        return e


def test_invalid_values_exit_non_zero_naming_file_line_and_key(cluster, tmp_path):
    strom_only(cluster)
    r = run_broker("broker.id=0\nzookeeper.connect=%s\nnum.partitions=three\n" % cluster.zk_hosts, tmp_path)
    assert r.returncode == 2
    assert "server.properties:3: invalid value \"three\" for num.partitions" in r.stderr
    r = run_broker("broker.id=0\n", tmp_path)
    assert r.returncode == 2 and "zookeeper.connect is required" in r.stderr


def test_unknown_keys_warn_and_hostname_ordinal_is_the_broker_id(cluster, tmp_path):
    strom_only(cluster)
    port = harness.free_port()
    text = ("listeners=PLAINTEXT://127.0.0.1:%d\nlog.dirs=%s\nzookeeper.connect=%s/ordinal\n"
            "offsets.topic.replication.factor=1\nno.such.key=1\n") % (port, tmp_path / "logs", cluster.zk_hosts)
    (tmp_path / "server.properties").write_text(text)
    env = dict(os.environ, HOSTNAME="kafka-3")
    p = subprocess.Popen([str(harness.strom_broker_binary()), str(tmp_path / "server.properties")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        b = "127.0.0.1:%d" % port
        ku.wait_until(lambda: harness.api_versions_ok("127.0.0.1", port), timeout=30, what="broker up")
        md = AdminClient({"bootstrap.servers": b}).list_topics(timeout=10)
        assert set(md.brokers) == {3}
    finally:
        p.terminate()
        out = p.communicate(timeout=30)[0].decode()
    assert "unknown configuration key ignored" in out and "no.such.key" in out


def test_chroots_separate_clusters_on_one_coordinator(make_cluster, cluster):
    """Two brokers with broker.id 0 under different chroots do not see each other's topics."""
    a = make_cluster(**{"zookeeper.connect": cluster.zk_hosts + "/one"})
    b = make_cluster(**{"zookeeper.connect": cluster.zk_hosts + "/two"})
    ku.create_topic(a.bootstrap, "only-in-one", partitions=1)
    ta = ku.admin_client(a.bootstrap).list_topics(timeout=10).topics
    tb = ku.admin_client(b.bootstrap).list_topics(timeout=10).topics
    assert "only-in-one" in ta and "only-in-one" not in tb
    from kazoo.client import KazooClient
    z = KazooClient(hosts=cluster.zk_hosts)
    z.start(15)
    try:
        assert z.exists("/one/brokers/topics/only-in-one") and not z.exists("/two/brokers/topics/only-in-one")
        assert z.exists("/one/brokers/ids/0") and z.exists("/two/brokers/ids/0")
    finally:
        z.stop()


def test_sasl_plain(cluster, tmp_path):
    strom_only(cluster)
    jaas = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" '
            'password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";')
    plain, sasl_port = harness.free_port(), harness.free_port()
    text = ("broker.id=0\nlisteners=PLAINTEXT://127.0.0.1:%d,SASL_PLAINTEXT://127.0.0.1:%d\n"
            "log.dirs=%s\nzookeeper.connect=%s/sasl\noffsets.topic.replication.factor=1\n"
            "group.initial.rebalance.delay.ms=0\nsasl.enabled.mechanisms=PLAIN\n"
            "listener.name.sasl_plaintext.plain.sasl.jaas.config=%s\n") % (plain, sasl_port, tmp_path / "logs", cluster.zk_hosts, jaas)
    (tmp_path / "server.properties").write_text(text)
    p = subprocess.Popen([str(harness.strom_broker_binary()), str(tmp_path / "server.properties")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ku.wait_until(lambda: harness.api_versions_ok("127.0.0.1", plain), timeout=30, what="broker up")
        sasl = "127.0.0.1:%d" % sasl_port
        good = {"bootstrap.servers": sasl, "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                "sasl.username": "alice", "sasl.password": "alice-secret"}
        ku.create_topic("127.0.0.1:%d" % plain, "secret", partitions=1)
        prod = Producer(dict(good, **{"message.timeout.ms": 10000}))
        done = []
        prod.produce("secret", b"hello", on_delivery=lambda e, m: done.append(e))
        prod.flush(15)
        assert done == [None]
        cons = Consumer(dict(good, **{"group.id": "sasl-g", "auto.offset.reset": "earliest"}))
        cons.assign([TopicPartition("secret", 0, 0)])
        m = cons.poll(15)
        cons.close()
        assert m is not None and m.value() == b"hello"
        with pytest.raises(KafkaException):
            AdminClient(dict(good, **{"sasl.password": "wrong"})).list_topics(timeout=5)
        # A client that skips SASL on the SASL listener is refused.
        with pytest.raises(KafkaException):
            AdminClient({"bootstrap.servers": sasl}).list_topics(timeout=5)
    finally:
        p.terminate()
        p.wait(30)


def test_retention_deletes_old_segments_in_the_background(make_cluster):
    c = make_cluster(**{"log.retention.check.interval.ms": "300"})
    b = c.bootstrap
    ku.create_topic(b, "short", partitions=1, config={"segment.bytes": "2048", "retention.bytes": "4096"})
    ku.produce(b, "short", [b"x" * 500 for _ in range(60)], conf={"linger.ms": 0, "batch.num.messages": 1})
    cons = Consumer({"bootstrap.servers": b, "group.id": "ret"})

    # Retention runs while the records arrive, so the start moves in steps; it ends past 40
    # (retention.bytes keeps about two 2 KiB segments of the 60 records of 500 bytes).
    def start_moved():
        lo, hi = cons.get_watermark_offsets(TopicPartition("short", 0), timeout=10)
        return lo >= 40 and hi == 60
    ku.wait_until(start_moved, timeout=30, what="the log start offset to move past 40 (deleted segments)")
    cons.close()


def test_a_recreated_topic_starts_empty(cluster, topic):
    """Delete and re-create a topic of the same name at once: the new topic has none of the
    old records (the log directory carries the topic id, as Kafka's partition.metadata)."""
    b = cluster.bootstrap
    a = ku.admin_client(b)
    ku.create_topic(b, topic, partitions=1)
    ku.produce(b, topic, [b"old-%d" % i for i in range(10)])
    for f in a.delete_topics([topic]).values():
        f.result(30)
    ku.wait_until(lambda: topic not in a.list_topics(timeout=10).topics, what="topic gone")

    def recreated():
        # Kafka deletes in the background: TOPIC_ALREADY_EXISTS ("marked for deletion") until done.
        try:
            ku.create_topic(b, topic, partitions=1)
            return True
        except Exception:
            return False
    ku.wait_until(recreated, timeout=60, interval=0.5, what="the topic re-created")
    ku.produce(b, topic, [b"new"])
    cons = Consumer({"bootstrap.servers": b, "group.id": "recreated"})
    ku.wait_until(lambda: cons.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 1),
                  what="offsets (0, 1) for the new topic")
    cons.assign([TopicPartition(topic, 0, 0)])
    m = cons.poll(15)
    cons.close()
    assert m is not None and m.value() == b"new"
