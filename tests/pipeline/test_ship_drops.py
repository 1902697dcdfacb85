"""Events the broker can never take are dropped, not retried for ever (Filebeat's "dropping event"):
`strom-pipeline ship` routes some lines to a topic that does not exist on a broker with
auto.create.topics.enable=false, the rest to a topic that does. The valid lines arrive once and in
order; the others are counted in strom_pipeline_ship_events_dropped_total and logged once; the
registry moves past them to the end of the file, and the shipper stops cleanly."""

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import ROOT, _load, binary
from test_process import wait_for


@pytest.fixture(scope="module")
def cluster():
    """strom-coordinator and one strom-broker that creates no topic on its own."""
    import sys
    sys.path.insert(0, str(ROOT / "tests" / "broker"))
    harness = _load("broker_harness", ROOT / "tests" / "broker" / "harness.py")
    c = harness.Cluster(kind="strom", zk_kind="strom", name="pipeline-drops", overrides={"auto.create.topics.enable": "false"}).start()
    yield c
    c.cleanup()


def line(n):
    return "%05d %s\n" % (n, "nowhere" if n % 10 == 3 else "GET /ok")


def metric(port, name):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
    m = re.search(r"^strom_pipeline_ship_%s (\d+)" % name, text, re.M)
    return int(m.group(1)) if m else None


def registry_offset(tmp_path, log):
    try:
        files = json.loads((tmp_path / "registry.json").read_text())["files"]
    except FileNotFoundError:
        return 0
    return next((f["offset"] for f in files.values() if f["path"] == str(log)), 0)


def read_all(bootstrap, topic, count, timeout=30):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "read-" + uuid.uuid4().hex[:6], "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        got, deadline = [], time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.append(json.loads(m.value())["message"])
        # anything beyond `count` (a duplicate) shows within a second
        end = time.monotonic() + 1
        while time.monotonic() < end:
            m = c.poll(0.2)
            if m is not None and not m.error():
                got.append(json.loads(m.value())["message"])
        return got
    finally:
        c.close()


def test_lines_for_a_missing_topic_are_dropped_and_the_registry_moves_past_them(cluster, tmp_path):
    suffix = uuid.uuid4().hex[:6]
    valid, missing = "valid-" + suffix, "missing-" + suffix
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    for f in admin.create_topics([NewTopic(valid, 1, 1)]).values():
        f.result(30)
    log = tmp_path / "app.log"
    log.write_text("".join(line(n) for n in range(300)))
    port = _load("broker_harness", ROOT / "tests" / "broker" / "harness.py").free_port()
    cfg = tmp_path / "ship.yaml"
    cfg.write_text(f"""
ship:
  inputs:
    - {{id: app, paths: ["{log}"], scan_frequency: 200ms}}
  output:
    kafka:
      brokers: ["{cluster.bootstrap}"]
      topic: {valid}
      routes:
        - {{when: '"nowhere" in [message]', topic: {missing}}}
  registry: {tmp_path}/registry.json
""")
    ship_log = tmp_path / "ship.log"
    proc = subprocess.Popen([str(binary("strom-pipeline")), "ship", "--config", str(cfg), "--metrics-addr", "127.0.0.1:%d" % port],
                            stdout=open(ship_log, "wb"), stderr=subprocess.STDOUT, env=dict(os.environ, RUST_LOG="info", NO_COLOR="1"))
    try:
        # librdkafka gives a missing topic topic.metadata.propagation.max.ms (30 s) before failing its records
        started = time.monotonic()
        wait_for(lambda: registry_offset(tmp_path, log) == log.stat().st_size, 90, "the registry at the end of the file")
        first = time.monotonic() - started
        assert metric(port, "events_dropped_total") == 30
        assert metric(port, "events_acked_total") == 270
        # the topic is known missing now: records for it fail as they are produced
        with open(log, "a") as f:
            f.write("".join(line(n) for n in range(300, 400)))
        started = time.monotonic()
        wait_for(lambda: registry_offset(tmp_path, log) == log.stat().st_size, 30, "the registry at the end of the grown file")
        second = time.monotonic() - started
        assert metric(port, "events_dropped_total") == 40
        assert metric(port, "events_acked_total") == 360
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = "hung"
    text = ship_log.read_text()
    assert rc == 0, text[-3000:]
    print("\nregistry at the end after %.1f s (first drops), %.1f s (topic known missing)" % (first, second))
    good = [line(n).rstrip("\n") for n in range(400) if n % 10 != 3]
    assert read_all(cluster.bootstrap, valid, len(good)) == good, "every valid line once, in order"
    drops = [l for l in text.splitlines() if "dropping event" in l]
    assert len(drops) == 1, drops
    assert "ERROR" in drops[0] and missing in drops[0] and "unknown topic" in drops[0], drops[0]
    print("log: " + drops[0][:300])
