"""`strom-pipeline ship` read by kcat: the shipper's events on a strom-broker topic, as Logstash or any
Kafka consumer sees them; its /metrics endpoint; a clean stop on SIGTERM.

Uses the broker suite's harness (a strom-coordinator and a strom-broker on loopback) and the binaries
in STROM_BIN_DIR (target/debug by default)."""

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("STROM_BIN_DIR") or REPO / "target" / "debug")
PIPELINE = BIN_DIR / "strom-pipeline"


def _broker_harness():
    name = "broker_harness"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "broker" / "harness.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


pytestmark = [
    pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed (tests/lib/install.sh installs it)"),
    pytest.mark.skipif(not os.access(PIPELINE, os.X_OK), reason="strom-pipeline is not built in %s" % BIN_DIR),
]


@pytest.fixture
def cluster():
    h = _broker_harness()
    c = h.Cluster(kind="strom", zk_kind="strom", name="ship-kcat").start()
    try:
        yield c
    finally:
        c.cleanup()


def kcat_read(bootstrap, topic, count, timeout=60):
    """The topic's first `count` messages, retried until they are all there (the shipper creates the
    topic with its first produce)."""
    deadline = time.monotonic() + timeout
    while True:
        run = subprocess.run(
            ["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-c", str(count), "-e", "-q", "-f", "%s\\n"],
            capture_output=True, text=True, timeout=timeout,
        )
        events = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.3)


def test_kcat_reads_filebeat_shaped_events_and_metrics_count_them(cluster, tmp_path):
    log = tmp_path / "access.log"
    lines = ['127.0.0.1 - - [01/Jan/2024:00:00:%02d +0000] "GET /%d HTTP/1.1" 200 12' % (i, i) for i in range(50)]
    log.write_text("\n".join(lines) + "\n")
    port = _broker_harness().free_port()
    config = tmp_path / "ship.yaml"
    config.write_text(
        "ship:\n"
        "  inputs:\n"
        "    - {id: nginx, paths: ['%s/access*.log'], tags: [access], fields: {log_topic: nginx}, scan_frequency: 200ms}\n"
        "  output:\n"
        "    kafka: {brokers: ['%s'], topic: '%%{[fields][log_topic]}'}\n"
        "  registry: %s\n" % (tmp_path, cluster.bootstrap, tmp_path / "registry.json")
    )
    proc = subprocess.Popen([str(PIPELINE), "ship", "--config", str(config), "--metrics-addr", "127.0.0.1:%d" % port],
                            stderr=open(tmp_path / "ship.log", "w"))
    try:
        events = kcat_read(cluster.bootstrap, "nginx", len(lines))
        assert [e["message"] for e in events] == lines
        e = events[0]
        assert e["log"]["file"]["path"] == str(log)
        assert e["log"]["offset"] == 0
        assert events[1]["log"]["offset"] == len(lines[0]) + 1
        assert e["input"]["type"] == "filestream"
        assert e["agent"]["type"] == "filebeat"
        assert e["ecs"]["version"]
        assert e["host"]["name"]
        assert e["tags"] == ["access"]
        assert e["fields"] == {"log_topic": "nginx"}
        deadline = time.monotonic() + 15
        while True:
            metrics = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
            if "strom_pipeline_ship_events_acked_total 50" in metrics or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert "strom_pipeline_ship_events_acked_total 50" in metrics, metrics
        assert "strom_pipeline_ship_files_open 1" in metrics, metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, (tmp_path / "ship.log").read_text()
    registry = json.loads((tmp_path / "registry.json").read_text())
    offsets = [f["offset"] for f in registry["files"].values() if f["path"] == str(log)]
    assert offsets == [log.stat().st_size]
