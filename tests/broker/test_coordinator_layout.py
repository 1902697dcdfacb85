"""What the broker writes into the coordinator, read with kazoo: Kafka's
ZooKeeper layout (kafka.zk.ZkData) with the JSON shapes Apache Kafka 3.9
writes. These shapes were taken from a real Kafka 3.9 run; see README.md.

Key sets are compared exactly: another ZooKeeper-mode broker or tool reading
these nodes parses them, and the versions say which fields exist."""

import base64
import json
import re
import struct

import pytest
from confluent_kafka import TopicCollection
from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry,
                                   ConfigResource, NewPartitions, ResourceType)

import broker_kafkautil as ku

# a Kafka Uuid in its string form: 16 bytes, base64url without padding
UUID_RE = re.compile(r"^[A-Za-z0-9_-]{22}$")


def _json(zk, path):
    data, stat = zk.get(path)
    assert data, "%s has no data" % path
    return json.loads(data.decode()), stat


def _is_ms_timestamp(s):
    return isinstance(s, str) and s.isdigit() and int(s) > 1_500_000_000_000


def test_persistent_paths_exist(zk_client, cluster):
    """The persistent paths a Kafka 3.9 broker creates at start-up."""
    for path in ["/brokers/ids", "/brokers/topics", "/brokers/seqid",
                 "/config/topics", "/config/clients", "/config/users",
                 "/config/brokers", "/config/ips", "/config/changes",
                 "/admin/delete_topics", "/isr_change_notification",
                 "/latest_producer_id_block", "/log_dir_event_notification",
                 "/consumers", "/cluster/id", "/controller_epoch",
                 "/controller", "/feature"]:
        assert zk_client.exists(path) is not None, path


def test_broker_registration(zk_client, cluster):
    b = cluster.broker
    assert "0" in zk_client.get_children("/brokers/ids")
    reg, stat = _json(zk_client, "/brokers/ids/0")
    # e.g. {"features":{},"listener_security_protocol_map":{"PLAINTEXT":
    # "PLAINTEXT"},"endpoints":["PLAINTEXT://127.0.0.1:PORT"],"jmx_port":-1,
    # "port":PORT,"host":"127.0.0.1","version":5,"timestamp":"1795743077401"}
    assert set(reg) == {"features", "listener_security_protocol_map",
                        "endpoints", "jmx_port", "port", "host", "version",
                        "timestamp"}
    assert reg["version"] == 5
    assert reg["host"] == "127.0.0.1"
    assert reg["port"] == b.port
    assert reg["endpoints"] == ["PLAINTEXT://127.0.0.1:%d" % b.port]
    assert reg["listener_security_protocol_map"] == {"PLAINTEXT": "PLAINTEXT"}
    assert reg["jmx_port"] == -1
    assert reg["features"] == {}
    assert _is_ms_timestamp(reg["timestamp"])
    assert stat.ephemeralOwner != 0          # ephemeral: gone with the session


def test_controller_and_epoch(zk_client, cluster):
    ctl, stat = _json(zk_client, "/controller")
    # {"version":2,"brokerid":0,"timestamp":"...","kraftControllerEpoch":-1}
    assert set(ctl) == {"version", "brokerid", "timestamp",
                        "kraftControllerEpoch"}
    assert ctl["version"] == 2
    assert ctl["brokerid"] == 0
    assert ctl["kraftControllerEpoch"] == -1
    assert _is_ms_timestamp(ctl["timestamp"])
    assert stat.ephemeralOwner != 0
    # it is the session of the broker's registration
    _, reg_stat = zk_client.get("/brokers/ids/0")
    assert stat.ephemeralOwner == reg_stat.ephemeralOwner

    data, epoch_stat = zk_client.get("/controller_epoch")
    assert data.decode().isdigit() and int(data) >= 1     # a bare integer
    assert epoch_stat.ephemeralOwner == 0


def test_cluster_id(zk_client, admin):
    cid, _ = _json(zk_client, "/cluster/id")
    assert set(cid) == {"version", "id"}
    assert cid["version"] == "1"                  # a string, not a number
    assert UUID_RE.match(cid["id"])
    assert admin.list_topics(timeout=10).cluster_id == cid["id"]


def test_feature_node(zk_client):
    feat, _ = _json(zk_client, "/feature")
    # {"features":{},"version":2,"status":1}
    assert set(feat) == {"features", "version", "status"}
    assert feat["version"] == 2
    assert feat["status"] == 1
    assert feat["features"] == {}


def test_topic_assignment_and_partition_state(zk_client, admin, bootstrap,
                                              topic):
    ku.create_topic(bootstrap, topic, partitions=2)
    t, stat = _json(zk_client, "/brokers/topics/%s" % topic)
    # {"partitions":{"0":[0],"1":[0]},"topic_id":"...","adding_replicas":{},
    #  "removing_replicas":{},"version":3}
    assert set(t) == {"partitions", "topic_id", "adding_replicas",
                      "removing_replicas", "version"}
    assert t["version"] == 3
    assert t["partitions"] == {"0": [0], "1": [0]}
    assert t["adding_replicas"] == {} and t["removing_replicas"] == {}
    assert UUID_RE.match(t["topic_id"])
    assert stat.ephemeralOwner == 0
    # the topic id clients see is the one stored (compared as bits:
    # confluent-kafka prints Uuids in standard base64, Kafka in base64url)
    (f,) = admin.describe_topics(TopicCollection([topic])).values()
    tid = f.result(30).topic_id
    raw = base64.urlsafe_b64decode(t["topic_id"] + "==")
    msb, lsb = struct.unpack(">qq", raw)
    assert (tid.get_most_significant_bits(),
            tid.get_least_significant_bits()) == (msb, lsb)

    assert sorted(zk_client.get_children(
        "/brokers/topics/%s/partitions" % topic)) == ["0", "1"]
    for p in ("0", "1"):
        assert zk_client.get_children(
            "/brokers/topics/%s/partitions/%s" % (topic, p)) == ["state"]
        st, _ = _json(zk_client,
                      "/brokers/topics/%s/partitions/%s/state" % (topic, p))
        # {"controller_epoch":1,"leader":0,"version":1,"leader_epoch":0,
        #  "isr":[0]}
        assert set(st) == {"controller_epoch", "leader", "version",
                           "leader_epoch", "isr"}
        assert st["version"] == 1
        assert st["leader"] == 0
        assert st["leader_epoch"] == 0
        assert st["isr"] == [0]
        assert isinstance(st["controller_epoch"], int)
        assert st["controller_epoch"] >= 1


def test_topic_config_node(zk_client, admin, bootstrap, topic):
    ku.create_topic(bootstrap, topic,
                    config={"retention.ms": "100000", "cleanup.policy": "compact"})
    cfg, _ = _json(zk_client, "/config/topics/%s" % topic)
    # {"version":1,"config":{"retention.ms":"100000",...}}: values are strings
    assert cfg == {"version": 1, "config": {"retention.ms": "100000",
                                            "cleanup.policy": "compact"}}

    # changed by IncrementalAlterConfigs: the node follows, and a sequential
    # change notification names the topic
    before = set(zk_client.get_children("/config/changes"))
    r = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "5000",
                    incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("cleanup.policy", None,
                    incremental_operation=AlterConfigOpType.DELETE)])
    (f,) = admin.incremental_alter_configs([r]).values()
    f.result(30)
    cfg, _ = _json(zk_client, "/config/topics/%s" % topic)
    assert cfg == {"version": 1, "config": {"retention.ms": "5000"}}
    new = set(zk_client.get_children("/config/changes")) - before
    notes = [_json(zk_client, "/config/changes/" + n)[0] for n in new]
    assert {"version": 2, "entity_path": "topics/%s" % topic} in notes
    for n in new:
        assert re.match(r"^config_change_\d{10}$", n)


def test_topic_without_overrides_has_empty_config(zk_client, bootstrap, topic):
    ku.create_topic(bootstrap, topic)
    cfg, _ = _json(zk_client, "/config/topics/%s" % topic)
    assert cfg == {"version": 1, "config": {}}


def test_auto_created_topic_is_registered(zk_client, bootstrap, topic):
    ku.produce(bootstrap, topic, [b"x"])
    ku.wait_topic_ready(bootstrap, topic, 1)
    t, _ = _json(zk_client, "/brokers/topics/%s" % topic)
    assert t["partitions"] == {"0": [0]}
    cfg, _ = _json(zk_client, "/config/topics/%s" % topic)
    assert cfg == {"version": 1, "config": {}}


def test_create_partitions_extends_assignment(zk_client, admin, bootstrap,
                                              topic):
    ku.create_topic(bootstrap, topic, partitions=1)
    topic_id = _json(zk_client, "/brokers/topics/%s" % topic)[0]["topic_id"]
    (f,) = admin.create_partitions([NewPartitions(topic, 3)]).values()
    f.result(30)
    ku.wait_topic_ready(bootstrap, topic, 3)
    t, _ = _json(zk_client, "/brokers/topics/%s" % topic)
    assert t["partitions"] == {"0": [0], "1": [0], "2": [0]}
    assert t["topic_id"] == topic_id               # unchanged
    ku.wait_until(lambda: zk_client.exists(
        "/brokers/topics/%s/partitions/2/state" % topic),
        what="state of the new partition")
    st, _ = _json(zk_client, "/brokers/topics/%s/partitions/2/state" % topic)
    assert st["leader"] == 0 and st["isr"] == [0]


def test_delete_topic_removes_its_nodes(zk_client, admin, bootstrap, topic):
    ku.create_topic(bootstrap, topic, partitions=2,
                    config={"retention.ms": "100000"})
    (f,) = admin.delete_topics([topic], operation_timeout=30).values()
    f.result(30)
    ku.wait_until(lambda: zk_client.exists("/brokers/topics/%s" % topic)
                  is None, what="/brokers/topics/%s removed" % topic)
    ku.wait_until(lambda: zk_client.exists("/config/topics/%s" % topic)
                  is None, what="/config/topics/%s removed" % topic)
    ku.wait_until(lambda: topic not in zk_client.get_children(
        "/admin/delete_topics"), what="delete marker removed")


def test_producer_id_block(zk_client, bootstrap, topic):
    """An idempotent producer's InitProducerId makes Kafka take a block of
    producer ids from /latest_producer_id_block."""
    ku.create_topic(bootstrap, topic)
    ku.produce(bootstrap, topic, [b"x"], conf={"enable.idempotence": True})
    blk, _ = _json(zk_client, "/latest_producer_id_block")
    # {"version":1,"broker":0,"block_start":"0","block_end":"999"}
    assert set(blk) == {"version", "broker", "block_start", "block_end"}
    assert blk["version"] == 1
    assert blk["broker"] == 0
    start, end = int(blk["block_start"]), int(blk["block_end"])
    assert isinstance(blk["block_start"], str)
    assert end - start + 1 == 1000


@pytest.mark.parametrize("path", ["/brokers/ids", "/brokers/topics"])
def test_no_unexpected_children(zk_client, bootstrap, path):
    """Children of these paths are broker ids / topic names only."""
    for child in zk_client.get_children(path):
        if path == "/brokers/ids":
            assert child.isdigit(), child
        else:
            assert re.match(r"^[A-Za-z0-9._-]+$", child), child
