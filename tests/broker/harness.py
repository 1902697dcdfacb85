"""Server harness for the broker suite: one coordinator plus Kafka-compatible
brokers on loopback.

The broker is Strom's `strom-broker` (STROM_KAFKA_TARGET=strom, the default)
or Apache Kafka 3.9.x in ZooKeeper mode (STROM_KAFKA_TARGET=kafka), fetched and
run through tests/lib/kafka.sh. Under either one runs the coordinator picked
by STROM_ZK_TARGET (strom-coordinator, the default, or Apache ZooKeeper 3.8),
started by tests/coordinator/harness.py.

Both brokers get the same server.properties, written here.
"""

import importlib.util
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
KAFKA_SH = REPO / "tests" / "lib" / "kafka.sh"


def _load_coordinator_harness():
    # Loaded under its own name: tests/coordinator has a harness.py too.
    name = "coordinator_harness"
    if name in sys.modules:
        return sys.modules[name]
    path = REPO / "tests" / "coordinator" / "harness.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


coord = _load_coordinator_harness()
free_port = coord.free_port
wait_until = coord.wait_until


def kafka_target():
    t = os.environ.get("STROM_KAFKA_TARGET", "strom").strip().lower()
    if t not in ("strom", "kafka"):
        raise RuntimeError("STROM_KAFKA_TARGET must be 'strom' or 'kafka', "
                           "not %r" % t)
    return t


def zk_target():
    return coord.target()


def strom_broker_binary():
    bin_dir = os.environ.get("STROM_BIN_DIR") or str(REPO / "target" / "debug")
    return Path(bin_dir) / "strom-broker"


def kafka_version():
    out = subprocess.run(["bash", str(KAFKA_SH), "version", "3"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def fetch_kafka():
    """Fetch the reference Kafka's jars once (a no-op when cached)."""
    r = subprocess.run(["bash", str(KAFKA_SH), "fetch", "3"],
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError("fetching Apache Kafka failed:\n%s%s"
                           % (r.stdout, r.stderr))


# Settings every test broker gets (both targets read the same file).
BASE_PROPERTIES = {
    "num.partitions": "1",
    "default.replication.factor": "1",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "auto.create.topics.enable": "true",
    "delete.topic.enable": "true",
    "message.max.bytes": "1048588",
    "log.segment.bytes": str(16 * 1024 * 1024),
}


def api_versions_ok(host, port, timeout=2.0):
    """True when a Kafka ApiVersions v0 request gets a well-formed answer."""
    # request header v1: api_key=18, api_version=0, correlation_id, client_id
    client = b"strom-harness"
    body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(struct.pack(">i", len(body)) + body)
            head = _recv_exact(s, 4)
            (n,) = struct.unpack(">i", head)
            data = _recv_exact(s, n)
    except OSError:
        return False
    if len(data) < 6:
        return False
    corr, err = struct.unpack(">ih", data[:6])
    return corr == 7 and err == 0


def _die_with_parent():
    """preexec_fn: the child gets SIGTERM when the test process dies, so a
    killed pytest leaves no broker behind (Linux prctl PR_SET_PDEATHSIG; it
    survives the exec of bash into java)."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)      # PR_SET_PDEATHSIG = 1
    except Exception:
        pass


def _recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


class Broker:
    """One broker process on 127.0.0.1:<free port> with its own log dir."""

    def __init__(self, kind, zk_hosts, broker_id, base_dir, overrides=None):
        self.kind = kind
        self.zk_hosts = zk_hosts
        self.broker_id = broker_id
        self.base_dir = Path(base_dir)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.log_dirs = str(self.base_dir / "logs")
        self.port = free_port()
        self.host = "127.0.0.1"
        self.bootstrap = "%s:%d" % (self.host, self.port)
        self.props_path = str(self.base_dir / "server.properties")
        self.log_path = str(self.base_dir / "server.log")
        self.properties = dict(BASE_PROPERTIES)
        self.properties.update({
            "broker.id": str(broker_id),
            "listeners": "PLAINTEXT://%s" % self.bootstrap,
            "advertised.listeners": "PLAINTEXT://%s" % self.bootstrap,
            "log.dirs": self.log_dirs,
            "zookeeper.connect": zk_hosts,
            "zookeeper.session.timeout.ms": "18000",
        })
        self.properties.update({k: str(v) for k, v in (overrides or {}).items()})
        self.proc = None
        self._log_file = None

    def _write_properties(self):
        with open(self.props_path, "w") as f:
            for k, v in self.properties.items():
                f.write("%s=%s\n" % (k, v))

    def _command(self):
        if self.kind == "strom":
            binary = strom_broker_binary()
            if not os.access(binary, os.X_OK):
                raise RuntimeError(
                    "strom-broker binary not found at %s (build it, set "
                    "STROM_BIN_DIR, or use STROM_KAFKA_TARGET=kafka)" % binary)
            return [str(binary), self.props_path]
        return ["bash", str(KAFKA_SH), "run-zk", "3", self.props_path]

    def start(self, timeout=90.0):
        if self.running:
            raise RuntimeError("broker %d already running" % self.broker_id)
        self._write_properties()
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(("\n===== start %s =====\n"
                              % time.strftime("%H:%M:%S")).encode())
        self._log_file.flush()
        self.proc = subprocess.Popen(
            self._command(), stdout=self._log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=str(self.base_dir),
            start_new_session=True, preexec_fn=_die_with_parent)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=90.0):
        """Until the broker answers ApiVersions and lists itself in Metadata."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s broker %d exited with %s during start-up"
                                   "\n%s" % (self.kind, self.broker_id,
                                             self.proc.returncode,
                                             self.log_tail()))
            if api_versions_ok(self.host, self.port) and self._lists_itself():
                return
            time.sleep(0.2)
        raise RuntimeError("%s broker %d not ready after %.0fs\n%s"
                           % (self.kind, self.broker_id, timeout,
                              self.log_tail()))

    def _lists_itself(self):
        from confluent_kafka.admin import AdminClient
        try:
            md = AdminClient({"bootstrap.servers": self.bootstrap,
                              "socket.timeout.ms": 2000}).list_topics(timeout=3)
        except Exception:
            return False
        return self.broker_id in md.brokers

    def stop(self, timeout=40.0):
        """Graceful stop (SIGTERM: a controlled shutdown for Kafka)."""
        self._signal_and_wait(signal.SIGTERM, timeout)

    def kill(self):
        self._signal_and_wait(signal.SIGKILL, 10)

    def _signal_and_wait(self, sig, timeout):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines=60):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(data[-lines:])
        except OSError:
            return "(no broker log)"


class Cluster:
    """A coordinator and the brokers registered in it."""

    def __init__(self, overrides=None, kind=None, zk_kind=None, name="cluster"):
        self.kind = kind or kafka_target()
        self.zk_kind = zk_kind or zk_target()
        self.overrides = dict(overrides or {})
        self.base_dir = Path(tempfile.mkdtemp(prefix="strom-%s-" % name))
        self.zk = coord.ZkServer(kind=self.zk_kind,
                                 base_dir=self.base_dir / "coordinator")
        self.brokers = {}
        self.had_failures = False

    @property
    def zk_hosts(self):
        return self.zk.hosts

    @property
    def broker(self):
        """The first broker (id 0)."""
        return self.brokers[0]

    @property
    def bootstrap(self):
        return self.brokers[0].bootstrap

    def start(self):
        if self.kind == "kafka":
            fetch_kafka()
        self.zk.start()
        self.start_broker(0)
        return self

    def start_broker(self, broker_id, **overrides):
        """Start one more broker of this cluster (its own port and log dir)."""
        if broker_id in self.brokers and self.brokers[broker_id].running:
            raise RuntimeError("broker %d already running" % broker_id)
        merged = dict(self.overrides)
        merged.update(overrides)
        b = Broker(self.kind, self.zk.hosts, broker_id,
                   self.base_dir / ("broker-%d" % broker_id), merged)
        self.brokers[broker_id] = b
        b.start()
        return b

    def stop_broker(self, broker_id):
        b = self.brokers.pop(broker_id, None)
        if b:
            b.stop()

    def stop(self):
        for b in list(self.brokers.values()):
            b.stop()
        self.zk.stop()

    def cleanup(self):
        self.stop()
        if self.had_failures:
            sys.stderr.write("cluster directory kept: %s\n" % self.base_dir)
        else:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def log_sections(self):
        out = [("%s coordinator log tail (%s)" % (self.zk.kind, self.zk.log_path),
                self.zk.log_tail(30))]
        for b in self.brokers.values():
            out.append(("%s broker %d log tail (%s)" % (b.kind, b.broker_id,
                                                        b.log_path),
                        b.log_tail(60)))
        return out
