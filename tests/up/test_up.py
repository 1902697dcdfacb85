"""`stromctl up`: the seed's resources (examples/) as local processes, as the
README runs them: three coordinators and three brokers on their own loopback
addresses, topics lzq and nginx; clients produce through one broker and
consume from another; a coordinator and a broker killed are restarted and the
clients carry on; Ctrl-C stops everything. And the error paths: an invalid
resource, a missing binary, a taken address, a second `up` on a running
state directory."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("STROM_BIN_DIR") or REPO / "target" / "debug")
STROMCTL = BIN / "stromctl"
BOOT = "127.2.0.1:9092,127.2.0.2:9092,127.2.0.3:9092"


def ctl(*args, stdin=None, timeout=90):
    return subprocess.run([str(STROMCTL), *args], input=stdin, capture_output=True, text=True, timeout=timeout)


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


class Up:
    def __init__(self, state, *paths):
        self.state = state
        self.out = open(state.parent / (state.name + ".out"), "w+")
        self.proc = subprocess.Popen([str(STROMCTL), "up", *map(str, paths or [REPO / "examples"]), "--state-dir", str(state)],
                                     stdout=self.out, stderr=subprocess.STDOUT, text=True)

    def output(self):
        self.out.flush()
        return (self.state.parent / (self.state.name + ".out")).read_text()

    def wait_ready(self, timeout=120):
        wait_for(lambda: "ready in" in self.output() or self.proc.poll() is not None, timeout, "stromctl up to be ready")
        assert self.proc.poll() is None, self.output()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(90)


def pids_of(pattern):
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


@pytest.fixture
def state():
    d = Path(tempfile.mkdtemp(prefix="strom-up-"))
    yield d / "state"
    for p in pids_of(str(d)):
        os.kill(p, signal.SIGKILL)
    shutil.rmtree(d, ignore_errors=True)


def test_up_serves_clients_restarts_what_dies_and_stops_on_ctrl_c(state):
    up = Up(state)
    try:
        up.wait_ready()
        out = up.output()
        assert "CoordinatorEnsemble default/zk: leader zk-" in out
        assert "BrokerCluster default/kafka: 3 brokers, bootstrap " + BOOT in out
        assert "Topic lzq: 3 partitions, replication factor 2" in out
        # the seed's pipeline runs too: a shipper and a processor, its topics made
        assert "started nginx-shipper-0" in out and "started nginx-processor-0" in out, out
        assert "Topic nginx-dead-letter: " in out
        # the README's client commands: produce through one broker, consume from another. A dozen
        # records keyed by their value, so that all three partitions hold some (librdkafka hashes a
        # key with CRC-32: "two", "r00", "one" land on partitions 0, 1, 2), and each broker leads one.
        first = ["one", "two", "three"] + ["r%02d" % i for i in range(9)]
        r = ctl("produce", "--topic", "lzq", "--parse-key", "--bootstrap-server", "127.2.0.1:9092", stdin="".join(f"{v}\t{v}\n" for v in first))
        assert r.returncode == 0, r.stderr
        r = ctl("consume", "--topic", "lzq", "--from-beginning", "--max-messages", str(len(first)), "--bootstrap-server", "127.2.0.3:9092")
        assert sorted(r.stdout.split()) == sorted(first), r
        # stable ids: myid = ordinal + 1, broker.id = ordinal
        assert (state / "default/zk/1/data/myid").read_text().strip() == "2"
        assert "broker.id=2" in (state / "default/kafka/2/server.properties").read_text()
        # a coordinator and a broker killed: restarted, and the clients carry on
        for member in ("default/zk/1/zoo.cfg", "default/kafka/2/server.properties"):
            (pid,) = pids_of(str(state / member))
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: up.output().count("restarted ") >= 2, 30, "both restarted")
        wait_for(lambda: len(pids_of(str(state / "default/kafka/2/"))) == 1 and len(pids_of(str(state / "default/zk/1/"))) == 1, 30, "the new processes")
        r = ctl("produce", "--topic", "lzq", "--bootstrap-server", BOOT, stdin="four\n")
        assert r.returncode == 0, r.stderr
        # every acknowledged record is still there (a coordinator killed while the brokers read the
        # cluster state once made a broker delete its logs)
        r = ctl("consume", "--topic", "lzq", "--from-beginning", "--max-messages", str(len(first) + 1), "--bootstrap-server", "127.2.0.2:9092")
        assert sorted(r.stdout.split()) == sorted(first + ["four"]), r
        # a second `up` on the same state directory asks the running one, which has nothing to do
        r = ctl("up", str(REPO / "examples"), "--state-dir", str(state))
        assert r.returncode == 0 and "no changes" in r.stdout, r
    finally:
        up.stop()
    assert up.proc.returncode == 0, up.output()
    assert "stopping: pipelines, then brokers, then coordinators" in up.output()
    assert pids_of(str(state)) == [], "processes left after Ctrl-C"


def test_an_invalid_resource_is_refused_and_nothing_starts(state, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: strom.io/v1alpha1\nkind: CoordinatorEnsemble\nmetadata: {name: zk}\nspec: {replicas: 4, storage: {size: 1Gi}}\n")
    r = ctl("up", str(bad), "--state-dir", str(state))
    assert r.returncode != 0 and "1, 3, 5 or 7" in r.stderr, r
    assert not (state / "default").exists()
    other = tmp_path / "other.yaml"
    other.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    r = ctl("up", str(other), "--state-dir", str(state))
    assert r.returncode != 0 and "not a Strom resource" in r.stderr, r
    # a sink's CA in a Kubernetes Secret: refused, rather than HTTPS without that CA
    tls = tmp_path / "tls.yaml"
    tls.write_text(PIPELINE.replace("whenTag: access", "tlsSecret: es-ca") % {"logs": tmp_path, "es": "https://127.0.0.1:9200"})
    r = ctl("up", str(tls), "--state-dir", str(state))
    assert r.returncode != 0 and "tlsSecret es-ca is a Kubernetes Secret" in r.stderr, r
    # a state directory written by a stromctl with another layout: refused, nothing started
    state.mkdir(parents=True)
    (state / "state-format").write_text("7\nstromctl 9.0.0\n")
    r = ctl("up", str(REPO / "examples"), "--state-dir", str(state))
    assert r.returncode != 0 and 'holds state format "7" (written by stromctl 9.0.0)' in r.stderr, r
    assert not (state / "default").exists() and pids_of(str(state)) == []


def test_a_missing_binary_is_named(state, tmp_path):
    lone = tmp_path / "bin"
    lone.mkdir()
    shutil.copy(STROMCTL, lone / "stromctl")
    r = subprocess.run([str(lone / "stromctl"), "up", str(REPO / "examples"), "--state-dir", str(state)],
                       capture_output=True, text=True, timeout=60, env=dict(os.environ, PATH="/usr/bin:/bin"))
    assert r.returncode != 0 and "strom-coordinator not found" in r.stderr, r


def test_a_taken_address_is_refused(state):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.2.0.2", 9092))
    s.listen()
    try:
        r = ctl("up", str(REPO / "examples"), "--state-dir", str(state))
        assert r.returncode != 0 and "127.2.0.2:9092" in r.stderr and "taken" in r.stderr, r
        assert pids_of(str(state)) == []
    finally:
        s.close()


def test_detach_status_logs_down(state):
    r = ctl("up", str(REPO / "examples"), "--state-dir", str(state), "--detach", timeout=180)
    try:
        assert r.returncode == 0 and "running in the background" in r.stdout, r
        st = ctl("status", "--state-dir", str(state)).stdout
        assert "stromctl up (pid" in st
        lines = [l for l in st.splitlines() if "\t" in l]
        # three coordinators, three brokers, the nginx pipeline's shipper and processor
        assert len(lines) == 8 and all("running (pid" in l for l in lines), st
        assert "default/nginx-shipper\tnginx-shipper-0\trunning" in st
        assert "default/zk\tzk-1\trunning" in st and "127.1.0.2:2181" in st
        assert "default/kafka\tkafka-2\trunning" in st and "127.2.0.3:9092" in st
        log = ctl("logs", "kafka-0", "--state-dir", str(state)).stdout
        assert "registered in the coordinator" in log
        assert ctl("logs", "nope-7", "--state-dir", str(state)).returncode != 0
        r = ctl("produce", "--topic", "lzq", "--bootstrap-server", BOOT, stdin="detached\n")
        assert r.returncode == 0, r.stderr
    finally:
        d = ctl("down", "--state-dir", str(state), "--purge", timeout=180)
    assert d.returncode == 0 and "stopped stromctl up" in d.stdout, d
    assert not state.exists()
    assert pids_of(str(state)) == []


PIPELINE = """
apiVersion: strom.io/v1alpha1
kind: CoordinatorEnsemble
metadata: {name: zk}
spec: {replicas: 1, storage: {size: 1Gi}}
---
apiVersion: strom.io/v1alpha1
kind: BrokerCluster
metadata: {name: kafka}
spec:
  replicas: 1
  coordinator: {ensemble: zk}
  storage: {size: 1Gi}
  config: {defaultReplicationFactor: 1, minInsyncReplicas: 1}
---
apiVersion: strom.io/v1alpha1
kind: LogPipeline
metadata: {name: web}
spec:
  cluster: kafka
  topic: {name: web, partitions: 2, replicationFactor: 1}
  sources:
    - name: access
      paths: ["%(logs)s/*.log"]
      tags: [access]
  processor: {consumerGroup: web, parse: nginx-combined, autoOffsetReset: earliest}
  sinks:
    - hosts: ["%(es)s"]
      index: "web-%%{+YYYY.MM.dd}"
      whenTag: access
"""


def test_a_log_pipeline_runs_as_a_shipper_and_a_processor(state, tmp_path):
    """A LogPipeline in `stromctl up`: the shipper tails this machine's files into the cluster,
    the processor parses them into Elasticsearch (the stand-in); both restart when killed."""
    import json
    import sys
    import urllib.request
    port_file = tmp_path / "es-port"
    es = subprocess.Popen([sys.executable, str(REPO / "tests" / "pipeline" / "es_standin.py"), "--port", "0", "--port-file", str(port_file)], stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: port_file.exists() and port_file.read_text(), 10, "the stand-in")
        es_url = "http://127.0.0.1:" + port_file.read_text()
        count = lambda: sum(json.loads(urllib.request.urlopen(es_url + "/_standin/indices").read())["indices"].values())
        logs = tmp_path / "logs"
        logs.mkdir()
        res = tmp_path / "pipeline.yaml"
        res.write_text(PIPELINE % {"logs": logs, "es": es_url})
        line = '10.1.1.%d - - [27/Nov/2026:10:00:%02d +0000] "GET /p/%d HTTP/1.1" 200 5 "-" "t"\n'
        with open(logs / "access.log", "w") as f:
            f.writelines(line % (i, i % 60, i) for i in range(100))
        up = Up(state, res)
        try:
            up.wait_ready()
            wait_for(lambda: count() >= 100, 60, "100 documents")
            # the processor killed: restarted, and the next lines arrive too
            (pid,) = pids_of(str(state / "default/web-processor/0"))
            os.kill(pid, signal.SIGKILL)
            with open(logs / "access.log", "a") as f:
                f.writelines(line % (i, i % 60, i) for i in range(100, 150))
            wait_for(lambda: "restarted web-processor-0" in up.output(), 30, "the processor restarted")
            wait_for(lambda: count() >= 150, 60, "150 documents")
            docs = json.loads(urllib.request.urlopen(es_url + "/_standin/docs?index=web-2026.11.27").read())["docs"]
            assert sorted({d["url"]["original"] for d in docs}) == sorted("/p/%d" % i for i in range(150))
            assert all(d["http"]["response"]["status_code"] == 200 and d["log"]["file"]["path"] == str(logs / "access.log") for d in docs)
        finally:
            up.stop()
        assert up.proc.returncode == 0, up.output()
        assert (state / "default/web-shipper/0/registry.json").exists(), "the shipper's registry in its state directory"
        assert pids_of(str(state)) == [], "processes left after Ctrl-C"
    finally:
        es.terminate()
        es.wait(10)


def test_changes_to_a_running_stack_are_applied(state, tmp_path):
    """`stromctl up` again with changed resources, as the operator would apply them: a broker
    setting rolls the brokers one at a time (the controller last) while clients carry on; a
    broker added; a broker that holds nothing removed; a scale-down below the brokers holding
    replicas refused; the ensemble grown to five servers and back by reconfig."""
    seed = (REPO / "examples" / "k8s" / "seed.yaml").read_text()
    res = tmp_path / "seed.yaml"
    res.write_text(seed)
    up = Up(state, res)

    def apply(text):
        res.write_text(text)
        return ctl("up", str(res), "--state-dir", str(state), timeout=600)

    try:
        up.wait_ready()
        r = apply(seed)
        assert r.returncode == 0 and "no changes" in r.stdout, r
        # a broker setting: every broker restarted with it, one at a time, the controller last
        before = {i: pids_of(str(state / ("default/kafka/%d/" % i))) for i in range(3)}
        changed = seed.replace("logRetentionHours: 168", "logRetentionHours: 72")
        r = apply(changed)
        assert r.returncode == 0, r
        restarted = [l for l in r.stdout.splitlines() if "restarted kafka-" in l]
        assert len(restarted) == 3 and "(the controller, last)" in restarted[-1], r.stdout
        for i in range(3):
            assert "log.retention.hours=72" in (state / ("default/kafka/%d/server.properties" % i)).read_text()
            assert pids_of(str(state / ("default/kafka/%d/" % i))) != before[i], "broker %d was not restarted" % i
        r = ctl("produce", "--topic", "lzq", "--bootstrap-server", BOOT, stdin="after-roll\n")
        assert r.returncode == 0, r.stderr
        # one more broker, on the next address
        four = changed.replace("replicas: 3\n  coordinator:", "replicas: 4\n  coordinator:")
        r = apply(four)
        assert r.returncode == 0 and "started kafka-3 (127.2.0.4:9092)" in r.stdout, r
        assert len(pids_of(str(state / "default/kafka/3/"))) == 1
        # back to three: kafka-3 holds no replica (the topics were made before it came)
        r = apply(changed)
        assert r.returncode == 0 and "stopped kafka-3 (it held no replica)" in r.stdout, r
        assert pids_of(str(state / "default/kafka/3/")) == []
        # two: broker 2 holds replicas of lzq, so it is refused and nothing stops
        r = apply(changed.replace("replicas: 3\n  coordinator:", "replicas: 2\n  coordinator:"))
        assert r.returncode != 0 and "brokers [2] still hold partition replicas" in r.stderr, r
        assert len(pids_of(str(state / "default/kafka/2/"))) == 1
        # the ensemble 3 -> 5 -> 3, one server at a time by reconfig, as the operator does
        r = apply(changed.replace("replicas: 3\n  storage:", "replicas: 5\n  storage:", 1))
        assert r.returncode == 0, r
        assert "added server 4 (zk-3) by reconfig" in r.stdout and "added server 5 (zk-4) by reconfig" in r.stdout, r.stdout
        five = ",".join("127.1.0.%d:2181" % i for i in range(1, 6))
        st = ctl("zk", "status", "--servers", five, "--wait", "30")
        assert "5 servers, 5 serving" in st.stdout, st
        r = ctl("produce", "--topic", "lzq", "--bootstrap-server", BOOT, stdin="five\n")
        assert r.returncode == 0, r.stderr
        r = apply(changed)
        assert r.returncode == 0, r
        assert "removed server 5 (zk-4) by reconfig" in r.stdout and "removed server 4 (zk-3) by reconfig" in r.stdout, r.stdout
        assert not (state / "default/zk/4").exists() and pids_of(str(state / "default/zk/4/")) == []
        st = ctl("zk", "status", "--servers", ",".join("127.1.0.%d:2181" % i for i in range(1, 4)), "--wait", "30")
        assert "3 servers, 3 serving" in st.stdout, st
        # to one server: refused (a single server runs standalone)
        r = apply(changed.replace("replicas: 3\n  storage:", "replicas: 1\n  storage:", 1))
        assert r.returncode != 0 and "standalone" in r.stderr, r
        r = ctl("consume", "--topic", "lzq", "--from-beginning", "--max-messages", "2", "--bootstrap-server", "127.2.0.2:9092")
        assert sorted(r.stdout.split()) == ["after-roll", "five"], r  # two partitions: no order between them
    finally:
        up.stop()
    assert up.proc.returncode == 0, up.output()
