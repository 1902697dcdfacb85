"""A three-server coordination ensemble, each server in its own network
namespace, for fault tests.

The suite runs inside a user+mount+net+pid namespace (tests/ensemble/run.sh
creates it; there we are root). In that "top" namespace:

    bridge ens-cbr 10.77.1.254/24   client network: pytest, kazoo, zkCli.sh
    bridge ens-pbr (no address)     peer network: only the server.N lines

and per server N (1..3) a namespace ens-sN with two veth pairs:

    ens-cN (top, port of ens-cbr) <-> eth-c 10.77.1.N   clientPort 2181
    ens-pN (top, port of ens-pbr) <-> eth-p 10.77.2.N   server.N=10.77.2.N:3188:3288

Setting ens-pN down cuts server N off from the other servers (packets are
dropped, nothing is refused) while clients still reach it.

Servers are Strom's `strom-coordinator` (a private copy of the binary, taken
when the session starts) or Apache ZooKeeper 3.8's QuorumPeerMain from
Debian's jars, picked with STROM_ZK_TARGET=strom|zookeeper.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

CLIENT_NET = "10.77.1"
PEER_NET = "10.77.2"
CLIENT_PORT = 2181
QUORUM_PORT = 3188
ELECTION_PORT = 3288
TICK_MS = 1000

JAVA_DIR = Path("/usr/share/java")
ZK_JARS = [
    "zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar",
    "slf4j-simple.jar", "netty-buffer.jar", "netty-codec.jar",
    "netty-common.jar", "netty-handler.jar", "netty-resolver.jar",
    "netty-transport.jar", "netty-transport-native-epoll.jar",
    "netty-transport-native-unix-common.jar", "snappy-java.jar",
    "metrics-core.jar", "commons-cli.jar",
]

ANSI = re.compile(r"\x1b\[[0-9;]*m")
NOT_SERVING = "not currently serving"


def target():
    t = os.environ.get("STROM_ZK_TARGET", "strom").strip().lower()
    if t not in ("strom", "zookeeper"):
        raise RuntimeError("STROM_ZK_TARGET must be 'strom' or 'zookeeper', "
                           "not %r" % t)
    return t


def strom_binary():
    bin_dir = os.environ.get("STROM_BIN_DIR") or str(REPO / "target" / "debug")
    return Path(bin_dir) / "strom-coordinator"


def in_test_namespace():
    """True inside tests/ensemble/run.sh's namespace (root there, /run/netns
    on a private tmpfs)."""
    return os.environ.get("STROM_ENSEMBLE_NETNS") == "1" and \
        os.geteuid() == 0 and os.path.isdir("/run/netns")


def sh(*args, check=True):
    p = subprocess.run(list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (
            " ".join(args), p.returncode, p.stdout.decode(errors="replace")))
    return p.stdout.decode(errors="replace")


def four_letter(addr, word, timeout=2.0):
    """Sends a four-letter word to (host, port), returns the whole answer."""
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(word.encode())
        s.settimeout(timeout)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode("utf-8", "replace")


def wait_until(pred, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.0fs waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


# ----------------------------------------------------------------------
# network
# ----------------------------------------------------------------------

class Network:
    """Bridges, namespaces and veths in the current (top) namespace."""

    def __init__(self, n):
        self.n = n
        self.created = False

    def ns(self, i):
        return "ens-s%d" % i

    def setup(self):
        self.teardown()  # leftovers of an interrupted run in this namespace
        self.created = True
        sh("ip", "link", "set", "lo", "up")
        cmds = [
            "link add ens-cbr type bridge",
            "link set ens-cbr up",
            "addr add %s.254/24 dev ens-cbr" % CLIENT_NET,
            "link add ens-pbr type bridge",
            "link set ens-pbr up",
        ]
        inside = {}
        for i in range(1, self.n + 1):
            sh("ip", "netns", "add", self.ns(i))
            cmds += [
                "link add ens-c%d type veth peer name eth-c netns %s" % (i, self.ns(i)),
                "link add ens-p%d type veth peer name eth-p netns %s" % (i, self.ns(i)),
                "link set ens-c%d master ens-cbr up" % i,
                "link set ens-p%d master ens-pbr up" % i,
            ]
            inside[i] = [
                "link set lo up",
                "addr add %s.%d/24 dev eth-c" % (CLIENT_NET, i),
                "link set eth-c up",
                "addr add %s.%d/24 dev eth-p" % (PEER_NET, i),
                "link set eth-p up",
            ]
        self._batch([], cmds)
        for i, c in inside.items():
            self._batch(["-n", self.ns(i)], c)

    @staticmethod
    def _batch(opts, cmds):
        p = subprocess.run(["ip"] + opts + ["-batch", "-"],
                           input="\n".join(cmds).encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            raise RuntimeError("network setup failed (ip %s): %s"
                               % (" ".join(opts), p.stdout.decode()))

    def cut_peer(self, i):
        sh("ip", "link", "set", "ens-p%d" % i, "down")

    def heal_peer(self, i):
        sh("ip", "link", "set", "ens-p%d" % i, "up")

    def cut_client(self, i):
        """Server i's client link down: its clients' packets are dropped (no
        connection closes), while it stays in the ensemble."""
        sh("ip", "link", "set", "ens-c%d" % i, "down")

    def heal_client(self, i):
        sh("ip", "link", "set", "ens-c%d" % i, "up")

    def client_link_up(self, i):
        out = sh("ip", "-o", "link", "show", "ens-c%d" % i)
        return ",UP" in out or "<UP" in out

    def peer_link_up(self, i):
        out = sh("ip", "-o", "link", "show", "ens-p%d" % i)
        return ",UP" in out or "<UP" in out

    def teardown(self):
        for i in range(1, self.n + 1):
            sh("ip", "netns", "del", self.ns(i), check=False)
        for br in ("ens-cbr", "ens-pbr"):
            sh("ip", "link", "del", br, check=False)
        self.created = False

    def namespaces(self):
        return sh("ip", "netns", "list", check=False)


# ----------------------------------------------------------------------
# one server
# ----------------------------------------------------------------------

class Server:
    def __init__(self, ens, sid, base_dir):
        self.ens = ens
        self.id = sid
        self.kind = ens.kind
        self.client_ip = "%s.%d" % (CLIENT_NET, sid)
        self.peer_ip = "%s.%d" % (PEER_NET, sid)
        self.hosts = "%s:%d" % (self.client_ip, CLIENT_PORT)
        self.addr = (self.client_ip, CLIENT_PORT)
        self.dir = Path(base_dir) / ("s%d" % sid)
        self.data_dir = self.dir / "data"
        self.log_dir = self.dir / "log"
        self.cfg_path = self.dir / "member.cfg"  # zoo.cfg format
        self.log_path = self.dir / "server.log"
        self.proc = None
        self._log = None

    def __repr__(self):
        return "server %d" % self.id

    def write_config(self):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "myid").write_text("%d\n" % self.id)
        lines = [
            "tickTime=%d" % TICK_MS,
            "initLimit=10",
            "syncLimit=5",
            "dataDir=%s" % self.data_dir,
            "dataLogDir=%s" % self.log_dir,
            "clientPort=%d" % CLIENT_PORT,
            "clientPortAddress=%s" % self.client_ip,
            "maxClientCnxns=0",
            "minSessionTimeout=%d" % (2 * TICK_MS),
            "maxSessionTimeout=%d" % (20 * TICK_MS),
            "4lw.commands.whitelist=*",
            "admin.enableServer=false",
            # snapshots happen during the tests (ZooKeeper takes one after
            # snapCount/2 + random(snapCount/2) transactions)
            "snapCount=200",
            # a server this far behind is sent a snapshot, not the log
            "commitLogCount=200",
            "preAllocSize=1024",
            # dynamic reconfiguration (3 -> 5 -> 3); ZooKeeper refuses reconfig
            # without skipACL unless the client is the super user
            "reconfigEnabled=true",
            "skipACL=yes",
        ]
        # A member lists the ensemble; a spare about to join lists the
        # ensemble and itself, as ZooKeeper's dynamic reconfiguration asks.
        members = list(self.ens.servers)
        if self not in members:
            members.append(self)
        for s in members:
            lines.append("server.%d=%s:%d:%d" % (s.id, s.peer_ip, QUORUM_PORT,
                                                 ELECTION_PORT))
        self.cfg_path.write_text("\n".join(lines) + "\n")

    def spec(self):
        """This server's line for a reconfig (`server.N=...;client`)."""
        return "server.%d=%s:%d:%d:participant;%s:%d" % (
            self.id, self.peer_ip, QUORUM_PORT, ELECTION_PORT,
            self.client_ip, CLIENT_PORT)

    def _command(self):
        ns = ["ip", "netns", "exec", self.ens.net.ns(self.id)]
        if self.kind == "strom":
            return ns + [str(self.ens.binary), str(self.cfg_path)]
        cp = ":".join(str(JAVA_DIR / j) for j in ZK_JARS
                      if (JAVA_DIR / j).exists())
        return ns + [
            "java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:-UsePerfData",
            "-Djava.net.preferIPv4Stack=true",
            "-Dzookeeper.admin.enableServer=false",
            "-cp", cp,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            str(self.cfg_path),
        ]

    # -- lifecycle ------------------------------------------------------
    def start(self):
        if self.running:
            raise RuntimeError("%r already running" % self)
        if not self.cfg_path.exists():
            self.write_config()
        self._log = open(self.log_path, "ab")
        self._log.write(("\n===== start %s =====\n"
                         % time.strftime("%H:%M:%S")).encode())
        self._log.flush()
        # `ip netns exec` execs the server, so proc.pid is the server's pid
        self.proc = subprocess.Popen(
            self._command(), stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=str(self.dir),
            env=dict(os.environ, NO_COLOR="1",
                     RUST_LOG=os.environ.get("RUST_LOG", "info")))

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
        if self._log:
            self._log.close()
            self._log = None

    def kill(self):
        """SIGKILL, waits for the exit."""
        self._signal_and_wait(signal.SIGKILL, 10)

    def stop(self, timeout=20):
        """SIGTERM, waits for the exit (SIGKILL after timeout)."""
        self._signal_and_wait(signal.SIGTERM, timeout)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError("%r exited with %s\n%s" % (
                self, self.proc.returncode, self.log_tail(40)))

    # -- introspection --------------------------------------------------
    def word(self, w, timeout=2.0):
        return four_letter(self.addr, w, timeout)

    def srvr(self):
        """srvr as a dict (keys lower-cased); {} when unreachable,
        {'serving': False} when it says it does not serve."""
        try:
            out = self.word("srvr")
        except OSError:
            return {}
        if NOT_SERVING in out:
            return {"serving": False}
        d = {"serving": True}
        for ln in out.splitlines():
            if ":" in ln:
                k, v = ln.split(":", 1)
                d[k.strip().lower()] = v.strip()
        return d

    def mode(self):
        """'leader', 'follower', 'looking'/None (not serving or down)."""
        d = self.srvr()
        return d.get("mode") if d.get("serving") else None

    def epoch(self):
        """The leader epoch this server knows: strom's `Epoch:` line,
        ZooKeeper's zxid >> 32; None when it does not serve."""
        d = self.srvr()
        if not d.get("serving"):
            return None
        if "epoch" in d:
            return int(d["epoch"])
        return int(d["zxid"], 16) >> 32

    def mntr(self):
        try:
            out = self.word("mntr")
        except OSError:
            return {}
        d = {}
        for ln in out.splitlines():
            if "\t" in ln:
                k, v = ln.split("\t", 1)
                d[k.strip()] = v.strip()
        return d

    def snapshots(self):
        return sorted(p.name for p in (self.data_dir / "version-2").glob("snapshot.*")) \
            if (self.data_dir / "version-2").is_dir() else []

    def log_tail(self, lines=60):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read().decode("utf-8", "replace").splitlines()
            return ANSI.sub("", "\n".join(data[-lines:]))
        except OSError:
            return "(no server log)"


# ----------------------------------------------------------------------
# the ensemble
# ----------------------------------------------------------------------

class Ensemble:
    """`servers` are the members (1..n to begin with); `spares` (n+1..) have
    a network namespace and join only through reconfig (join/leave)."""

    def __init__(self, net, kind, binary=None, n=3, spares=0):
        self.net = net
        self.kind = kind
        self.binary = binary
        self.base_dir = Path(tempfile.mkdtemp(prefix="ensfault-"))
        self.n = n
        self.all = [Server(self, i, self.base_dir)
                    for i in range(1, n + spares + 1)]
        self.servers = self.all[:n]
        self.spares = self.all[n:]
        for s in self.servers:
            s.write_config()
        self._kazoo = []
        self._lock = threading.Lock()

    def server(self, sid):
        return self.all[sid - 1]

    @property
    def hosts(self):
        """The connect string of the current members."""
        return ",".join(s.hosts for s in self.servers)

    # -- membership (dynamic reconfiguration) -------------------------------
    def start_spare(self, s):
        """Starts a spare with a fresh data directory and a config listing
        the members and itself, ready to be added by reconfig."""
        assert s in self.spares and not s.running
        shutil.rmtree(s.dir, ignore_errors=True)
        s.write_config()
        s.start()

    def joined(self, added):
        """Records that reconfig made the spares `added` members."""
        for s in added:
            self.spares.remove(s)
            self.servers.append(s)
        self.servers.sort(key=lambda s: s.id)

    def left(self, removed):
        """Records that reconfig removed `removed`; stops them and clears
        their directories (a later join starts from nothing)."""
        for s in removed:
            self.servers.remove(s)
            self.spares.append(s)
            s.stop()
            shutil.rmtree(s.dir, ignore_errors=True)
        self.spares.sort(key=lambda s: s.id)

    def reset_membership(self):
        """Back to the first n servers as members (after a failed test)."""
        for s in self.all:
            if s.proc is not None and s.proc.poll() is None:
                s.kill()
        self.servers = self.all[:self.n]
        self.spares = self.all[self.n:]

    def hosts_of(self, servers):
        return ",".join(s.hosts for s in servers)

    def start_all(self):
        for s in self.servers:
            if not s.running:
                s.start()

    def kill_all(self):
        for s in self.all:
            if s.proc is not None and s.proc.poll() is None:
                s.proc.send_signal(signal.SIGKILL)
        for s in self.all:
            s.kill()

    def stop_all(self):
        for s in self.servers:
            if s.proc is not None and s.proc.poll() is None:
                s.proc.send_signal(signal.SIGTERM)
        for s in self.servers:
            s.stop()

    def modes(self, servers=None):
        return {s.id: s.mode() for s in (servers or self.servers)}

    def epoch(self):
        es = [s.epoch() for s in self.servers if s.running]
        es = [e for e in es if e is not None]
        return max(es) if es else None

    def leader(self, servers=None):
        """The one server (of those given) reporting Mode: leader, or None."""
        leaders = [s for s in (servers or self.servers)
                   if s.running and s.mode() == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def wait_leader(self, servers=None, timeout=60, exclude=None):
        def find():
            ld = self.leader(servers)
            if ld is not None and ld is not exclude:
                return ld
            return None
        return wait_until(find, timeout, 0.05,
                          "a leader among %s" % (servers or self.servers))

    def wait_serving(self, s, timeout=60):
        wait_until(lambda: s.check_alive() or s.mode() in ("leader", "follower"),
                   timeout, 0.1, "%r to serve" % s)

    def wait_healthy(self, timeout=90):
        """All servers run and serve, one leader whose followers are all
        synced, and a sync through each server answers."""
        deadline = time.monotonic() + timeout
        for s in self.servers:
            if not s.running:
                raise AssertionError("%r is not running" % s)

        def ok():
            for s in self.servers:
                s.check_alive()
            modes = self.modes()
            leaders = [i for i, m in modes.items() if m == "leader"]
            if len(leaders) != 1 or any(m not in ("leader", "follower")
                                        for m in modes.values()):
                return False
            m = self.server(leaders[0]).mntr()
            return m.get("zk_synced_followers") == str(len(self.servers) - 1)
        wait_until(ok, max(1.0, deadline - time.monotonic()), 0.1,
                   "a healthy ensemble (modes %s)" % self.modes())
        for s in self.servers:
            c = self.client(hosts=s.hosts, timeout=10.0)
            try:
                c.sync("/")
            finally:
                self.close_client(c)

    # -- clients ----------------------------------------------------------
    def client(self, hosts=None, start=True, timeout=10.0, **kw):
        """A started KazooClient (all servers unless hosts is given); closed
        by close_clients()."""
        from kazoo.client import KazooClient
        kw.setdefault("connection_retry", dict(max_tries=-1, delay=0.05,
                                               backoff=1.5, max_delay=0.5))
        c = KazooClient(hosts=hosts or self.hosts, timeout=timeout, **kw)
        with self._lock:
            self._kazoo.append(c)
        if start:
            c.start(timeout=30)
        return c

    def close_client(self, c):
        try:
            c.stop()
            c.close()
        except Exception:
            pass
        with self._lock:
            if c in self._kazoo:
                self._kazoo.remove(c)

    def close_clients(self):
        with self._lock:
            clients, self._kazoo = self._kazoo, []
        for c in clients:
            try:
                c.stop()
                c.close()
            except Exception:
                pass

    # -- teardown -----------------------------------------------------------
    def destroy(self, keep=False):
        self.close_clients()
        self.kill_all()
        if not keep:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def wipe(self):
        """Kills everything and starts over with empty data directories."""
        self.close_clients()
        self.kill_all()
        self.reset_membership()
        self.wipes = getattr(self, "wipes", 0) + 1
        aside = self.base_dir / ("before-wipe-%d" % self.wipes)
        aside.mkdir()
        for s in self.all:
            if s.dir.exists():
                s.dir.rename(aside / s.dir.name)  # kept for a post-mortem
            if s in self.servers:
                s.write_config()


# ----------------------------------------------------------------------
# reading a subtree from each server alone
# ----------------------------------------------------------------------

STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion",
               "aversion", "ephemeralOwner", "dataLength", "numChildren",
               "pzxid")


def read_tree(client, root, sync=True):
    """{path: (data, stat tuple)} of root and everything below it, read with
    pipelined async requests, after a sync (so a follower has caught up with
    the leader)."""
    if sync:
        client.sync(root)
    out = {}
    level = [root]
    while level:
        gets = [(p, client.get_async(p), client.get_children_async(p))
                for p in level]
        level = []
        for p, g, ch in gets:
            data, st = g.get(timeout=30)
            out[p] = (data, tuple(getattr(st, f) for f in STAT_FIELDS))
            for c in sorted(ch.get(timeout=30)):
                level.append(p.rstrip("/") + "/" + c)
    return out


def diff_trees(a, b, limit=10):
    """Human-readable differences between two read_tree() results."""
    lines = []
    for p in sorted(set(a) | set(b)):
        if a.get(p) != b.get(p):
            lines.append("%s: %r != %r" % (p, a.get(p), b.get(p)))
            if len(lines) >= limit:
                lines.append("...")
                break
    return lines


def converged_tree(ens, root, servers=None):
    """Reads root's subtree from each server alone (after a sync) and
    asserts they are identical: names, data and every Stat field. Returns
    the tree."""
    trees = {}
    for s in servers or ens.servers:
        c = ens.client(hosts=s.hosts)
        try:
            trees[s.id] = read_tree(c, root)
        finally:
            ens.close_client(c)
    ids = sorted(trees)
    for i in ids[1:]:
        d = diff_trees(trees[ids[0]], trees[i])
        assert not d, "server %d and server %d differ under %s:\n%s" % (
            ids[0], i, root, "\n".join(d))
    return trees[ids[0]]


def assert_acked_present(tree, ops, what="acknowledged create"):
    """Every acknowledged create (op.args = path) is in tree with the data
    it wrote; every node in the tree was attempted."""
    missing = [o.args for o in ops if o.kind == "create" and o.outcome == "ok"
               and o.args not in tree]
    assert not missing, "%d %ss missing, e.g. %s" % (len(missing), what,
                                                     missing[:5])
    wrong = [o.args for o in ops if o.kind == "create" and o.outcome == "ok"
             and tree[o.args][0] != o.args.encode()]
    assert not wrong, "wrong data in %s" % wrong[:5]
    attempted = {o.args for o in ops if o.kind == "create"}
    return attempted
