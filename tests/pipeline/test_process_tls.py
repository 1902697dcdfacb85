"""strom-pipeline process writing to Elasticsearch over HTTPS (`tls: {ca: ...}` in the output): the
stand-in serves a certificate signed by a CA the test makes with openssl.

1. the processor trusts that CA: every event arrives, and the batches are committed;
2. it trusts another CA: it says why in its log (the certificate, not a vague "unreachable"), keeps
   retrying, commits nothing; started again with the right CA it delivers every event (nothing lost)."""

import json
import re
import time
import uuid

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from certs import make_ca, make_server_cert
from conftest import Es
from test_process import Processor, filebeat_event, make_topic, produce, seqs, wait_for


@pytest.fixture
def pki(tmp_path):
    """(ca, server certificate and key signed by it, another CA)."""
    ca = make_ca(tmp_path, "es-ca")
    cert, key = make_server_cert(tmp_path, "es", ca)
    other = make_ca(tmp_path, "other-ca")
    return ca, (cert, key), other


@pytest.fixture
def tls_es(tmp_path, pki):
    (ca_cert, _), (cert, key), _ = pki
    e = Es(tmp_path, tls=(cert, key, ca_cert))
    yield e
    e.stop()


def config(tmp_path, cluster, es, topic, group, ca):
    path = tmp_path / ("%s.yaml" % group)
    path.write_text(f"""
process:
  input:
    kafka: {{brokers: [{', '.join(json.dumps(b.bootstrap) for b in cluster.brokers.values())}], topics: [{topic}], group_id: {group}, codec: json, auto_offset_reset: earliest}}
  outputs:
    - elasticsearch: {{hosts: ["{es.url}"], index: "tls", tls: {{ca: "{ca}"}}, retry_initial_interval: 200ms, retry_max_interval: 1s}}
""")
    return path


def committed(cluster, group, topic, partitions=3):
    """The group's committed offsets per partition (-1001: none)."""
    a = AdminClient({"bootstrap.servers": cluster.all_bootstrap})
    req = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(partitions)])
    got = a.list_consumer_group_offsets([req])[group].result(30)
    return {tp.partition: tp.offset for tp in got.topic_partitions}


def test_https_with_the_right_ca_delivers_and_commits(cluster, tls_es, pki, tmp_path):
    assert tls_es.url.startswith("https://")
    topic = "tls-" + uuid.uuid4().hex[:6]
    group = "g-" + topic
    make_topic(cluster, topic)
    produce(cluster, topic, [filebeat_event(i, "access") for i in range(200)])
    p = Processor(config(tmp_path, cluster, tls_es, topic, group, pki[0][0]), tmp_path / "process.log")
    try:
        wait_for(lambda: tls_es.indices().get("tls", 0) >= 200, 60, "200 documents over HTTPS")
        wait_for(lambda: sum(o for o in committed(cluster, group, topic).values() if o >= 0) == 200, 30, "the batches committed")
    finally:
        assert p.stop() == 0, (tmp_path / "process.log").read_text()[-3000:]
    assert sorted(seqs(tls_es.docs("tls"))) == list(range(200))
    assert tls_es.call("GET", "/_standin/requests")["tls_failures"] == 0


def test_a_ca_that_did_not_sign_the_certificate_is_reported_and_nothing_is_committed_or_lost(cluster, tls_es, pki, tmp_path):
    topic = "tls-" + uuid.uuid4().hex[:6]
    group = "g-" + topic
    make_topic(cluster, topic)
    produce(cluster, topic, [filebeat_event(i, "access") for i in range(100)])
    log = tmp_path / "process.log"
    wrong = Processor(config(tmp_path, cluster, tls_es, topic, group, pki[2][0]), log)
    try:
        wait_for(lambda: tls_es.call("GET", "/_standin/requests")["tls_failures"] >= 3, 60, "three refused handshakes")
        time.sleep(1)
    finally:
        assert wrong.stop() == 0, log.read_text()[-3000:]
    text = re.sub(r"\x1b\[[0-9;]*m", "", log.read_text())
    refused = [l for l in text.splitlines() if "Elasticsearch" in l and "certificate" in l.lower()]
    assert refused, "no log line says the certificate was refused:\n" + text[-3000:]
    print("\nprocessor log with the wrong CA: " + refused[0].strip()[:400])
    assert "UnknownIssuer" in refused[0] or "unknown issuer" in refused[0].lower(), refused[0]
    assert tls_es.indices() == {}, "nothing was written"
    assert all(o < 0 for o in committed(cluster, group, topic).values()), committed(cluster, group, topic)
    right = Processor(config(tmp_path, cluster, tls_es, topic, group, pki[0][0]), tmp_path / "process-2.log")
    try:
        wait_for(lambda: tls_es.indices().get("tls", 0) >= 100, 60, "100 documents once the CA is right")
    finally:
        assert right.stop() == 0, (tmp_path / "process-2.log").read_text()[-3000:]
    assert sorted(seqs(tls_es.docs("tls"))) == list(range(100)), "every event, once"
