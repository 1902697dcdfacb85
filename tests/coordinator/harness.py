"""Server harness shared by conftest.py and differential.py.

ZkServer starts one coordination server on loopback: Strom's
`strom-coordinator` or the real Apache ZooKeeper 3.8 from Debian's packages.
"""

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
import jute  # noqa: E402

JAVA_DIR = Path("/usr/share/java")
ZK_JARS = [
    "zookeeper.jar",
    "zookeeper-jute.jar",
    "slf4j-api.jar",
    "slf4j-simple.jar",
    # the admin server (Jetty) needs the servlet API, which zookeeper.jar's
    # manifest Class-Path does not name
    "servlet-api.jar",
    "netty-buffer.jar",
    "netty-codec.jar",
    "netty-common.jar",
    "netty-handler.jar",
    "netty-resolver.jar",
    "netty-transport.jar",
    "netty-transport-native-epoll.jar",
    "netty-transport-native-unix-common.jar",
]


def target():
    t = os.environ.get("STROM_ZK_TARGET", "strom").strip().lower()
    if t not in ("strom", "zookeeper"):
        raise RuntimeError("STROM_ZK_TARGET must be 'strom' or 'zookeeper', "
                           "not %r" % t)
    return t


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def strom_binary():
    bin_dir = os.environ.get("STROM_BIN_DIR") or str(REPO / "target" / "debug")
    return Path(bin_dir) / "strom-coordinator"


def zookeeper_available():
    return shutil.which("java") is not None and \
        (JAVA_DIR / "zookeeper.jar").exists()


def strom_available():
    return os.access(strom_binary(), os.X_OK)


# zoo.cfg's superDigest: `digest super:<SUPER_PASSWORD>` is the super user. (ZooKeeper takes
# zoo.cfg keys it does not know as zookeeper.<key> system properties.)
SUPER_PASSWORD = "s3cret"
SUPER_DIGEST = "super:" + __import__("base64").b64encode(
    __import__("hashlib").sha1(("super:" + SUPER_PASSWORD).encode()).digest()).decode()


class ZkServer:
    """One coordination server on loopback, restartable on the same port and
    data directory."""

    def __init__(self, kind=None, base_dir=None):
        self.kind = kind or target()
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="strom-zk-"))
        self.data_dir = str(self.base_dir / "data")
        self.log_dir = str(self.base_dir / "log")
        os.makedirs(self.data_dir, exist_ok=True)
        os.makedirs(self.log_dir, exist_ok=True)
        self.port = free_port()
        self.admin_port = free_port()
        while self.admin_port == self.port:
            self.admin_port = free_port()
        self.hosts = "127.0.0.1:%d" % self.port
        self.cfg_path = str(self.base_dir / "zoo.cfg")
        self.log_path = str(self.base_dir / "server.log")
        self.proc = None
        self._log_file = None
        self._write_cfg()

    # ------------------------------------------------------------------
    def _write_cfg(self):
        lines = [
            "tickTime=2000",
            "dataDir=%s" % self.data_dir,
            "dataLogDir=%s" % self.log_dir,
            "clientPort=%d" % self.port,
            "clientPortAddress=127.0.0.1",
            "maxClientCnxns=60",
            "4lw.commands.whitelist=*",
            "admin.serverPort=%d" % self.admin_port,
            "admin.serverAddress=127.0.0.1",
            "minSessionTimeout=4000",
            "maxSessionTimeout=40000",
            "snapCount=100",
            # the super user (password SUPER_PASSWORD), as an operator configures it
            "DigestAuthenticationProvider.superDigest=%s" % SUPER_DIGEST,
        ]
        if self.kind == "strom":
            lines.append("znode.container.checkIntervalMs=200")
        with open(self.cfg_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def _command(self):
        if self.kind == "strom":
            binary = strom_binary()
            if not os.access(binary, os.X_OK):
                raise RuntimeError(
                    "strom-coordinator binary not found at %s (build it, or "
                    "set STROM_BIN_DIR, or use STROM_ZK_TARGET=zookeeper)"
                    % binary)
            return [str(binary), self.cfg_path]
        cp = ":".join(str(JAVA_DIR / j) for j in ZK_JARS
                      if (JAVA_DIR / j).exists())
        return [
            "java",
            "-Xmx512m",
            "-Dzookeeper.extendedTypesEnabled=true",
            "-Dznode.container.checkIntervalMs=200",
            "-Dzookeeper.admin.enableServer=true",
            "-cp", cp,
            "org.apache.zookeeper.server.ZooKeeperServerMain",
            self.cfg_path,
        ]

    def start(self, timeout=30.0):
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("server already running")
        self._log_file = open(self.log_path, "ab")
        self._log_file.write(("\n===== start %s =====\n"
                              % time.strftime("%H:%M:%S")).encode())
        self._log_file.flush()
        self.proc = subprocess.Popen(
            self._command(), stdout=self._log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=str(self.base_dir))
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=30.0):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s server exited with %s during start-up\n"
                                   "%s" % (self.kind, self.proc.returncode,
                                           self.log_tail()))
            try:
                if jute.four_letter(self.hosts, "ruok", timeout=2.0) == "imok" \
                        and self._serving():
                    return
            except OSError as e:
                last = e
            time.sleep(0.1)
        raise RuntimeError("%s server not ready (ruok) after %.0fs: %s\n%s"
                           % (self.kind, timeout, last, self.log_tail()))

    def _serving(self):
        # Real ZooKeeper answers ruok while it is still loading its database
        # and then drops client connections ("ZooKeeperServer not running");
        # its srvr command tells when it really serves.
        if self.kind != "zookeeper":
            return True
        return "not currently serving" not in jute.four_letter(
            self.hosts, "srvr", timeout=2.0)

    def _signal_and_wait(self, sig, timeout):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def stop(self):
        """Graceful stop (SIGTERM)."""
        self._signal_and_wait(signal.SIGTERM, 20)

    def kill(self):
        """Hard stop (SIGKILL)."""
        self._signal_and_wait(signal.SIGKILL, 10)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines=60):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(data[-lines:])
        except OSError:
            return "(no server log)"

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.base_dir, ignore_errors=True)


def wait_until(pred, timeout=10.0, interval=0.05):
    """Poll pred() until it returns something truthy or timeout passes."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


# ----------------------------------------------------------------------
# client-side helpers shared by the kazoo tests
# ----------------------------------------------------------------------

# kazoo connection_retry settings for tests that restart the server
FAST_RECONNECT = dict(max_tries=-1, delay=0.1, backoff=1.5, max_delay=1.0)

# Session timeout (s) for kazoo clients that must survive a server restart.
# Not larger: kazoo's read timeout is 2/3 of it, and real ZooKeeper may
# accept a connection while starting up and never answer it (the client
# then hangs for that read timeout before trying again).
RESTART_SESSION_TIMEOUT = 15.0


class Recorder:
    """A kazoo watch callback that queues the events it receives."""

    def __init__(self):
        self.q = queue.Queue()

    def __call__(self, event):
        self.q.put(event)

    def next(self, timeout=10.0):
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no watch event within %.0fs" % timeout)

    def none_within(self, seconds, client=None):
        if client is not None:
            client.sync("/")  # a round trip: anything already sent arrives
        try:
            ev = self.q.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError("unexpected watch event %r" % (ev,))
