"""Reads from the coordinator that fail. A topic whose metadata the broker cannot read for a
while (a connection lost in the middle of a reload, a timeout, an ACL) is not a deleted topic: the
broker keeps its partitions and their records, and reads again until it can.

Found by `stromctl up`'s test (tests/up): the coordinator leader was killed while the brokers were
reading the cluster state, the read of topic lzq failed with the connection, and a broker took the
topic's absence from its view for a deletion and deleted acknowledged records."""

import time
from pathlib import Path

from kazoo.security import OPEN_ACL_UNSAFE, make_digest_acl

import broker_kafkautil as ku


def _log_since(broker, mark):
    """What the broker logged after byte `mark` of its log."""
    with open(broker.log_path, "rb") as f:
        f.seek(mark)
        return f.read()


def test_a_topic_whose_metadata_cannot_be_read_keeps_its_records(cluster, bootstrap, zk_client, topic):
    ku.create_topic(bootstrap, topic, partitions=2)
    values = [b"v%02d" % i for i in range(20)]
    for p in (0, 1):
        reports = ku.produce(bootstrap, topic, values[p::2], partition=p, conf={"acks": "all"})
        assert all(err is None for err, _, _ in reports), reports
    log_mark = Path(cluster.broker.log_path).stat().st_size if cluster.broker.kind == "strom" else 0

    # The topic's assignment becomes unreadable to the broker (NoAuth), then a change under
    # /config/topics makes it read the cluster state again.
    assignment = "/brokers/topics/" + topic
    zk_client.add_auth("digest", "strom-test:secret")
    zk_client.set_acls(assignment, [make_digest_acl("strom-test", "secret", all=True)])
    try:
        config = "/config/topics/" + topic
        zk_client.set(config, zk_client.get(config)[0])
        if cluster.broker.kind == "strom":
            ku.wait_until(lambda: b"metadata reload failed; keeping the last complete view" in _log_since(cluster.broker, log_mark),
                          timeout=20, what="the broker to log the failed read")
        else:
            time.sleep(3)
        # Meanwhile the topic is served as it was.
        md = ku.topic_metadata(bootstrap, topic)
        assert len(md.partitions) == 2 and all(p.error is None for p in md.partitions.values()), md.partitions
    finally:
        zk_client.set_acls(assignment, OPEN_ACL_UNSAFE)

    # Readable again: the broker catches up on its own (no further change in the coordinator)
    # and still holds every record.
    got = ku.read_topic(bootstrap, topic, 2, len(values), timeout=30)
    assert sorted(m.value() for m in got) == values
    if cluster.broker.kind == "strom":
        assert b"deleted log partition=" + topic.encode() not in _log_since(cluster.broker, log_mark)
        ku.wait_until(lambda: b"metadata reload succeeded again" in _log_since(cluster.broker, log_mark),
                      timeout=20, what="the broker to read the cluster state again")
