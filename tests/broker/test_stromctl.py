"""The seed's daily workflow with stromctl (kafka-topics.sh, console producer/consumer,
consumer groups), against a two-broker cluster: create lzq with 3 partitions and replication
factor 2, list, describe, produce through one broker, consume through the other."""

import os
import subprocess
from pathlib import Path

import pytest

import broker_kafkautil as ku

REPO = Path(__file__).resolve().parents[2]


def stromctl():
    bin_dir = os.environ.get("STROM_BIN_DIR") or str(REPO / "target" / "debug")
    path = Path(bin_dir) / "stromctl"
    if not os.access(path, os.X_OK):
        pytest.skip("stromctl is not built (cargo build -p stromctl)")
    return str(path)


def run(*args, stdin=None, check=True):
    p = subprocess.run([stromctl(), *args], input=stdin, capture_output=True, text=True, timeout=90)
    if check and p.returncode != 0:
        raise AssertionError("stromctl %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr))
    return p


def test_seed_workflow_across_two_brokers(cluster, extra_brokers, topic, group):
    second = extra_brokers(1)
    first = cluster.bootstrap
    ku.wait_for_brokers(first, {0, 1})
    name = "lzq-" + topic
    out = run("topics", "create", "--bootstrap-server", first, "--topic", name,
              "--partitions", "3", "--replication-factor", "2").stdout
    assert "Created topic %s." % name in out
    # The other broker learns of the topic through its watch on the coordinator, a moment later
    # (as a Kafka broker learns it from the controller's metadata update).
    ku.wait_until(lambda: name in run("topics", "list", "--bootstrap-server", second.bootstrap).stdout.split(),
                  timeout=15, interval=0.2, what="broker 1 to list %s" % name)
    desc = run("topics", "describe", "--bootstrap-server", first, "--topic", name).stdout
    assert "PartitionCount: 3\tReplicationFactor: 2" in desc
    rows = [l for l in desc.splitlines() if l.startswith("\tTopic:")]
    assert len(rows) == 3
    leaders = {l.split("Leader: ")[1].split("\t")[0] for l in rows}
    assert leaders <= {"0", "1"} and len(leaders) == 2, desc

    lines = ["line-%03d" % i for i in range(50)]
    run("produce", "--bootstrap-server", first, "--topic", name, stdin="\n".join(lines) + "\n")
    got = run("consume", "--bootstrap-server", second.bootstrap, "--topic", name,
              "--from-beginning", "--max-messages", "50", "--timeout-ms", "30000").stdout.split()
    assert sorted(got) == lines

    # With a group: offsets are committed, a second run has nothing left, describe shows lag 0.
    got = run("consume", "--bootstrap-server", second.bootstrap, "--topic", name, "--group", group,
              "--from-beginning", "--max-messages", "50", "--timeout-ms", "30000").stdout.split()
    assert sorted(got) == lines
    again = run("consume", "--bootstrap-server", first, "--topic", name, "--group", group,
                "--from-beginning", "--timeout-ms", "3000").stdout.split()
    assert again == []
    assert group in run("groups", "list", "--bootstrap-server", first).stdout.split()
    desc = run("groups", "describe", "--bootstrap-server", first, "--group", group).stdout
    # One row per partition with a committed offset (librdkafka's sticky partitioner may leave a
    # partition without records, and so without a commit), as kafka-consumer-groups.sh shows them.
    rows = [l.split() for l in desc.splitlines() if l.startswith(name)]
    assert 1 <= len(rows) <= 3, desc
    assert sum(int(r[2]) for r in rows) == 50 and all(r[4] == "0" for r in rows), desc

    run("topics", "delete", "--bootstrap-server", first, "--topic", name)


def test_keys_and_clear_errors(cluster, topic):
    b = cluster.bootstrap
    run("topics", "create", "--bootstrap-server", b, "--topic", topic, "--partitions", "1")
    run("produce", "--bootstrap-server", b, "--topic", topic, "--parse-key", stdin="k1\tv1\nk2\tv2\n")
    out = run("consume", "--bootstrap-server", b, "--topic", topic, "--from-beginning",
              "--max-messages", "2", "--print-key", "--timeout-ms", "20000").stdout
    assert out.splitlines() == ["k1\tv1", "k2\tv2"]

    # An existing topic, a missing topic, a line without a key: one line on stderr, exit 1.
    p = run("topics", "create", "--bootstrap-server", b, "--topic", topic, check=False)
    assert p.returncode == 1 and p.stderr.count("\n") == 1 and "already exists" in p.stderr
    p = run("topics", "describe", "--bootstrap-server", b, "--topic", topic + "-missing", check=False)
    assert p.returncode == 1 and p.stderr.startswith("stromctl: ")
    p = run("produce", "--bootstrap-server", b, "--topic", topic, "--parse-key", stdin="no-key\n", check=False)
    assert p.returncode == 1 and "no key separator" in p.stderr
    p = run("topics", "list", "--bootstrap-server", "127.0.0.1:1", "--timeout", "3", check=False)
    assert p.returncode == 1 and p.stderr.startswith("stromctl: ")


def test_drain_a_broker_then_stop_it(cluster, extra_brokers, topic, zk_client):
    """`stromctl brokers drain 2` moves every replica off broker 2 by partition
    reassignment (AlterPartitionReassignments through the controller) while
    `topics describe --under-replicated-partitions` never lists a partition;
    broker 2 then holds nothing, is stopped, and every record is still read.
    Also `partitions reassign` back onto broker 2 with --wait."""
    import json
    import threading
    b1 = extra_brokers(1)
    b2 = extra_brokers(2)
    ku.wait_for_brokers(cluster.bootstrap, {0, 1, 2})
    boot = "%s,%s" % (b1.bootstrap, b2.bootstrap)
    name = "drain-" + topic
    run("topics", "create", "--bootstrap-server", cluster.bootstrap, "--topic", name,
        "--partitions", "3", "--replication-factor", "2")
    ku.wait_until(lambda: all(len(json.loads(zk_client.get("/brokers/topics/%s/partitions/%d/state" % (name, p))[0])["isr"]) == 2
                              for p in range(3)), timeout=30, what="full ISRs")
    lines = "".join("r%d\n" % i for i in range(300))
    run("produce", "--bootstrap-server", cluster.bootstrap, "--topic", name, stdin=lines)
    urp, stop = [], threading.Event()

    def watch():
        while not stop.is_set():
            out = run("topics", "describe", "--bootstrap-server", cluster.bootstrap,
                      "--under-replicated-partitions", check=False)
            # this test's topic (others may be left by earlier tests)
            mine = [ln for ln in out.stdout.splitlines() if "Topic: %s\t" % name in ln]
            if out.returncode == 0 and mine:
                urp.append(mine)
    t = threading.Thread(target=watch)
    t.start()
    try:
        out = run("brokers", "drain", "2", "--bootstrap-server", boot, "--wait", "60").stdout
    finally:
        stop.set()
        t.join(60)
    assert "Broker 2 holds no replica" in out, out
    assert urp == [], "under-replicated partitions during the drain: %s" % urp[:2]
    assignment = json.loads(zk_client.get("/brokers/topics/%s" % name)[0])
    assert all(2 not in r for r in assignment["partitions"].values()), assignment
    cluster.stop_broker(2)
    ku.wait_for_brokers(cluster.bootstrap, {0, 1})
    got = run("consume", "--bootstrap-server", b1.bootstrap, "--topic", name,
              "--from-beginning", "--max-messages", "300").stdout.split()
    assert sorted(got) == sorted("r%d" % i for i in range(300))
    # and back: partition 0 onto brokers 1 and 0, waiting for completion
    out = run("partitions", "reassign", "--bootstrap-server", cluster.bootstrap, "--topic", name,
              "--partition", "0", "--replicas", "1,0", "--wait", "60").stdout
    assert "complete" in out, out
    assert json.loads(zk_client.get("/brokers/topics/%s" % name)[0])["partitions"]["0"] == [1, 0]
    assert run("partitions", "list-reassignments", "--bootstrap-server", cluster.bootstrap).stdout.strip() == ""
