"""Three Kafka-compatible brokers over a three-server coordination ensemble,
every server in a network namespace of its own, for replication fault tests.

The suite runs inside the user+mount+net+pid namespace that
tests/replication/run.sh creates (root there without being root). The
coordinators are tests/ensemble's (ensemble_harness.Network and Ensemble,
imported as they are): namespaces ens-s1..3 with the client network
10.77.1.0/24 (bridge ens-cbr, 10.77.1.254 in the top namespace) and their
peer network 10.77.2.0/24. Beside them, for the brokers:

    bridge rep-cbr 10.78.1.254/24   client network: pytest's Kafka clients
    bridge rep-ibr 10.78.2.254/24   cluster network: broker <-> broker, and
                                    broker -> coordinators (routed by the top
                                    namespace to 10.77.1.0/24)

and per broker N (1..3, its broker.id; and 9, wired the same, where no
broker runs but test clients can be cut off) a namespace rep-bN with two
veths:

    rep-cN (top, port of rep-cbr) <-> eth-c 10.78.1.N   the listener,
                                         PLAINTEXT://10.78.1.N:9092
    rep-iN (top, port of rep-ibr) <-> eth-i 10.78.2.N

Each broker has one listener and one advertised address (10.78.1.N), as in
the user's setup. Inside rep-bN the routes send everything but the client
network over eth-i: `10.78.1.M/32 via 10.78.2.M` for the other brokers and
`default via 10.78.2.254` (the coordinators). So the clients reach broker N
over rep-cN and everything else reaches it over rep-iN:

    cut_cluster(N)  (rep-iN down)  N loses the coordinators and the other
                                   brokers; clients still reach it
    cut_client(N)   (rep-cN down)  clients lose N

Links are cut by setting the top side of a veth down: packets are dropped,
nothing is refused, as in a real partition.

Brokers are Strom's `strom-broker` (STROM_KAFKA_TARGET=strom, a private copy
taken when the session starts) or Apache Kafka 3.9 in ZooKeeper mode
(STROM_KAFKA_TARGET=kafka, through tests/lib/kafka.sh). Both read the same
server.properties, written here.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "ensemble"))

import ensemble_harness as eh  # noqa: E402
import kafkawire as kw  # noqa: E402

KAFKA_SH = REPO / "tests" / "lib" / "kafka.sh"

CLIENT_NET = "10.78.1"
CLUSTER_NET = "10.78.2"
BROKER_PORT = 9092
BROKER_IDS = (1, 2, 3)
PROBE_ID = 9  # a namespace wired like a broker's, for clients that get cut off

ZK_SESSION_MS = 6000
REPLICA_LAG_MS = 3000
MIN_ISR = 2

# Every broker's server.properties, for both targets (plus broker.id,
# listeners, log.dirs, zookeeper.connect). The Kafka-only tuning keys at
# the end keep three JVMs small on a small machine; strom-broker warns
# about keys it does not know and goes on.
BROKER_PROPERTIES = {
    "num.partitions": "3",
    "default.replication.factor": "3",
    "min.insync.replicas": str(MIN_ISR),
    "offsets.topic.replication.factor": "3",
    "offsets.topic.num.partitions": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "replica.lag.time.max.ms": str(REPLICA_LAG_MS),
    "zookeeper.session.timeout.ms": str(ZK_SESSION_MS),
    "zookeeper.connection.timeout.ms": str(ZK_SESSION_MS),
    "unclean.leader.election.enable": "false",
    "auto.create.topics.enable": "false",
    "auto.leader.rebalance.enable": "false",
    "delete.topic.enable": "true",
    "group.initial.rebalance.delay.ms": "0",
    "controlled.shutdown.enable": "true",
    "num.network.threads": "2",
    "num.io.threads": "2",
    "num.replica.fetchers": "1",
    # Kafka only
    "background.threads": "2",
    "log.cleaner.dedupe.buffer.size": str(8 << 20),
    "log.cleaner.threads": "1",
}

KAFKA_HEAP_OPTS = "-Xms128m -Xmx384m -XX:TieredStopAtLevel=1 -XX:-UsePerfData"


def kafka_target():
    t = os.environ.get("STROM_KAFKA_TARGET", "strom").strip().lower()
    if t not in ("strom", "kafka"):
        raise RuntimeError("STROM_KAFKA_TARGET must be 'strom' or 'kafka', "
                           "not %r" % t)
    return t


def zk_target():
    return eh.target()


def bin_dir():
    return Path(os.environ.get("STROM_BIN_DIR") or REPO / "target" / "debug")


def in_test_namespace():
    """True inside tests/replication/run.sh's namespace."""
    return os.environ.get("STROM_REPLICATION_NETNS") == "1" and \
        os.geteuid() == 0 and os.path.isdir("/run/netns")


def kafka_version():
    r = subprocess.run(["bash", str(KAFKA_SH), "version", "3"],
                       capture_output=True, text=True)
    return r.stdout.strip()


def fetch_kafka():
    r = subprocess.run(["bash", str(KAFKA_SH), "fetch", "3"],
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError("fetching Apache Kafka failed:\n%s%s"
                           % (r.stdout, r.stderr))


sh = eh.sh


def poll(fn, timeout, what, interval=0.2):
    """Calls fn() -> (done, detail) until done; returns detail. On timeout
    raises AssertionError naming `what` and the last detail."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, detail = fn()
        except (kw.WireError, OSError) as e:
            done, detail = False, str(e)
        if done:
            return detail
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.0fs waiting for %s; last "
                                 "seen: %s" % (timeout, what, detail))
        time.sleep(interval)


# ----------------------------------------------------------------------
# the brokers' network
# ----------------------------------------------------------------------

class BrokerNetwork:
    """The brokers' bridges, namespaces, veths and routes (see the module
    doc). The coordinators' namespaces (ensemble_harness.Network) must exist
    first: they get a route back to the cluster network."""

    def __init__(self, ids, coordinator_net):
        self.ids = list(ids)
        self.coordinators = coordinator_net

    @staticmethod
    def ns(i):
        return "rep-b%d" % i

    def setup(self):
        self.teardown()
        # the top namespace routes between the cluster network and the
        # coordinators' client network
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("1\n")
        cmds = [
            "link add rep-cbr type bridge",
            "link set rep-cbr up",
            "addr add %s.254/24 dev rep-cbr" % CLIENT_NET,
            "link add rep-ibr type bridge",
            "link set rep-ibr up",
            "addr add %s.254/24 dev rep-ibr" % CLUSTER_NET,
        ]
        inside = {}
        for i in self.ids:
            sh("ip", "netns", "add", self.ns(i))
            cmds += [
                "link add rep-c%d type veth peer name eth-c netns %s" % (i, self.ns(i)),
                "link add rep-i%d type veth peer name eth-i netns %s" % (i, self.ns(i)),
                "link set rep-c%d master rep-cbr up" % i,
                "link set rep-i%d master rep-ibr up" % i,
            ]
            inside[i] = [
                "link set lo up",
                "addr add %s.%d/24 dev eth-c" % (CLIENT_NET, i),
                "link set eth-c up",
                "addr add %s.%d/24 dev eth-i" % (CLUSTER_NET, i),
                "link set eth-i up",
                "route add default via %s.254 dev eth-i" % CLUSTER_NET,
            ] + ["route add %s.%d/32 via %s.%d dev eth-i"
                 % (CLIENT_NET, j, CLUSTER_NET, j) for j in self.ids if j != i]
        eh.Network._batch([], cmds)
        for i, c in inside.items():
            eh.Network._batch(["-n", self.ns(i)], c)
        for s in range(1, self.coordinators.n + 1):
            eh.Network._batch(["-n", self.coordinators.ns(s)], [
                "route add %s.0/24 via %s.254" % (CLUSTER_NET, eh.CLIENT_NET)])

    def teardown(self):
        for i in self.ids:
            sh("ip", "netns", "del", self.ns(i), check=False)
        for br in ("rep-cbr", "rep-ibr"):
            sh("ip", "link", "del", br, check=False)

    def _set(self, dev, state):
        sh("ip", "link", "set", dev, state)

    def cut_cluster(self, i):
        self._set("rep-i%d" % i, "down")

    def heal_cluster(self, i):
        self._set("rep-i%d" % i, "up")

    def cut_client(self, i):
        self._set("rep-c%d" % i, "down")

    def heal_client(self, i):
        self._set("rep-c%d" % i, "up")

    def link_up(self, dev):
        out = sh("ip", "-o", "link", "show", dev)
        return ",UP" in out or "<UP" in out

    def heal_all(self):
        for i in self.ids:
            for dev in ("rep-c%d" % i, "rep-i%d" % i):
                if not self.link_up(dev):
                    self._set(dev, "up")


# ----------------------------------------------------------------------
# one broker
# ----------------------------------------------------------------------

class Broker:
    def __init__(self, cluster, bid):
        self.cluster = cluster
        self.id = bid
        self.kind = cluster.kind
        self.host = "%s.%d" % (CLIENT_NET, bid)
        self.addr = (self.host, BROKER_PORT)
        self.bootstrap = "%s:%d" % self.addr
        self.dir = cluster.base_dir / ("broker-%d" % bid)
        self.data_dir = self.dir / "logs"
        self.props_path = self.dir / "server.properties"
        self.log_path = self.dir / "server.log"
        self.proc = None
        self._log = None
        self.starts = 0

    def __repr__(self):
        return "broker %d" % self.id

    def properties(self):
        p = {
            "broker.id": str(self.id),
            "listeners": "PLAINTEXT://%s" % self.bootstrap,
            "advertised.listeners": "PLAINTEXT://%s" % self.bootstrap,
            "log.dirs": str(self.data_dir),
            "zookeeper.connect": self.cluster.ens.hosts,
        }
        p.update(BROKER_PROPERTIES)
        return p

    def write_config(self):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.props_path.write_text("".join(
            "%s=%s\n" % kv for kv in self.properties().items()))

    def _command(self):
        ns = ["ip", "netns", "exec", BrokerNetwork.ns(self.id)]
        if self.kind == "strom":
            return ns + [str(self.cluster.broker_binary), str(self.props_path)]
        # kafka.sh execs java: the process we start becomes the JVM
        return ns + ["bash", str(KAFKA_SH), "run-zk", "3", str(self.props_path)]

    def start(self):
        if self.running:
            raise RuntimeError("%r already running" % self)
        self.write_config()
        self._log = open(self.log_path, "ab")
        self._log.write(("\n===== start %s =====\n"
                         % time.strftime("%H:%M:%S")).encode())
        self._log.flush()
        env = dict(os.environ, NO_COLOR="1",
                   RUST_LOG=os.environ.get("RUST_LOG", "info"),
                   KAFKA_HEAP_OPTS=os.environ.get("STROM_REPLICATION_KAFKA_HEAP",
                                                  KAFKA_HEAP_OPTS))
        self.proc = subprocess.Popen(
            self._command(), stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=str(self.dir), env=env)
        self.starts += 1

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
        """SIGKILL; returns once the process is gone."""
        self._signal_and_wait(signal.SIGKILL, 10)

    def stop(self, timeout=60):
        """SIGTERM (Kafka: a controlled shutdown), SIGKILL after timeout."""
        self._signal_and_wait(signal.SIGTERM, timeout)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def crashed(self):
        """Started by us and exited without being told to."""
        return self.proc is not None and self.proc.poll() is not None

    def check_alive(self):
        if self.crashed:
            raise AssertionError("%r exited with %s\n%s" % (
                self, self.proc.returncode, self.log_tail(40)))

    def wait_ready(self, timeout=120):
        """Until it answers Metadata and lists itself among the brokers."""
        def ok():
            self.check_alive()
            md = kw.metadata(self.addr, topics=[], timeout=2)
            return self.id in md["brokers"], "brokers %s" % sorted(md["brokers"])
        poll(ok, timeout, "%r to answer Metadata listing itself" % self, 0.3)

    def metadata(self, topics=None, timeout=5):
        return kw.metadata(self.addr, topics, timeout)

    def log_tail(self, lines=60):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read().decode("utf-8", "replace").splitlines()
            return eh.ANSI.sub("", "\n".join(data[-lines:]))
        except OSError:
            return "(no broker log)"


# ----------------------------------------------------------------------
# the cluster
# ----------------------------------------------------------------------

class Cluster:
    """Three coordinators (tests/ensemble's Ensemble) and brokers 1..3."""

    def __init__(self, kind, zk_kind, coordinator_binary=None,
                 broker_binary=None):
        self.kind = kind
        self.zk_kind = zk_kind
        self.broker_binary = broker_binary
        self.net = eh.Network(3)
        self.bnet = BrokerNetwork(BROKER_IDS + (PROBE_ID,), self.net)
        self.ens = eh.Ensemble(self.net, zk_kind, coordinator_binary, n=3)
        self.base_dir = Path(tempfile.mkdtemp(prefix="replfault-"))
        self.brokers = {i: Broker(self, i) for i in BROKER_IDS}
        self._zk = None
        self.topics = []  # created by create_topic, for the failure reports

    # -- addresses ----------------------------------------------------------
    def broker(self, bid):
        return self.brokers[bid]

    @property
    def bootstrap(self):
        return ",".join(b.bootstrap for b in self.brokers.values())

    def bootstrap_of(self, *ids):
        return ",".join(self.brokers[i].bootstrap for i in ids)

    def running(self):
        return [b for b in self.brokers.values() if b.running]

    # -- lifecycle ------------------------------------------------------------
    def setup_network(self):
        self.net.setup()
        self.bnet.setup()

    def start(self):
        self.ens.start_all()
        self.ens.wait_healthy()
        self.start_brokers()

    def start_brokers(self, ids=None):
        """Starts the given (default: all stopped) brokers together and
        waits until each is ready."""
        todo = [self.brokers[i] for i in (ids or BROKER_IDS)
                if not self.brokers[i].running]
        for b in todo:
            b.start()
        for b in todo:
            b.wait_ready()

    def restart(self, bid):
        b = self.brokers[bid]
        if not b.running:
            b.start()
        b.wait_ready()

    def destroy(self, keep=False):
        self.close_clients()
        for b in self.brokers.values():
            if b.running:
                b.proc.send_signal(signal.SIGKILL)
        for b in self.brokers.values():
            b.kill()
        self.ens.destroy(keep=keep)
        if not keep:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def wipe(self):
        """Kills everything and starts over with empty data directories
        (the old ones are kept aside for a post-mortem)."""
        self.close_clients()
        for b in self.brokers.values():
            b.kill()
        self.ens.wipe()
        self.wipes = getattr(self, "wipes", 0) + 1
        aside = self.base_dir / ("before-wipe-%d" % self.wipes)
        aside.mkdir()
        for b in self.brokers.values():
            if b.dir.exists():
                b.dir.rename(aside / b.dir.name)
        self.bnet.heal_all()
        for s in self.ens.servers:
            if not self.net.peer_link_up(s.id):
                self.net.heal_peer(s.id)
        self.start()

    # -- coordinator views ------------------------------------------------------
    @property
    def zk(self):
        """A kazoo client on the ensemble (from the top namespace)."""
        if self._zk is None:
            self._zk = self.ens.client()
        return self._zk

    def close_clients(self):
        self._zk = None
        self.ens.close_clients()

    def zk_json(self, path):
        from kazoo.exceptions import NoNodeError
        try:
            data, _ = self.zk.get(path)
        except NoNodeError:
            return None
        return json.loads(data) if data else None

    def controller(self):
        """The broker id in /controller, or None."""
        d = self.zk_json("/controller")
        return d.get("brokerid") if d else None

    def controller_epoch(self):
        d = self.zk_json("/controller_epoch")
        return d if isinstance(d, int) else None

    def registered(self):
        from kazoo.exceptions import NoNodeError
        try:
            return sorted(int(i) for i in self.zk.get_children("/brokers/ids"))
        except NoNodeError:
            return []

    def zk_state(self, topic, p):
        """/brokers/topics/<t>/partitions/<p>/state as a dict, or None."""
        return self.zk_json("/brokers/topics/%s/partitions/%d/state" % (topic, p))

    # -- broker views -------------------------------------------------------------
    def metadata_from_each(self, topics=None):
        """{broker id: Metadata answer or the error text} of each running
        broker."""
        out = {}
        for b in self.running():
            try:
                out[b.id] = b.metadata(topics)
            except kw.WireError as e:
                out[b.id] = str(e)
        return out

    def view(self, topic):
        """{partition: {'leader', 'leader_epoch', 'replicas', 'isr'}} as the
        running brokers tell it, per partition the answer with the highest
        leader epoch (brokers learn of a new leader at different times)."""
        best = {}
        for md in self.metadata_from_each([topic]).values():
            if isinstance(md, str):
                continue
            t = md["topics"].get(topic)
            if t is None or t["error"]:
                continue
            for p, pm in t["partitions"].items():
                if pm["error"] not in (0, 5, 9):  # LEADER/REPLICA_NOT_AVAILABLE
                    continue
                if p not in best or pm["leader_epoch"] > best[p]["leader_epoch"]:
                    best[p] = pm
        return best

    def leader(self, topic, p, exclude=(), timeout=60):
        """The leader of topic-p (not one of `exclude`), waiting for one."""
        def ok():
            pm = self.view(topic).get(p)
            if pm is None:
                return False, "no running broker reports %s-%d" % (topic, p)
            ld = pm["leader"]
            return ld >= 0 and ld not in exclude, pm
        return poll(ok, timeout, "a leader of %s-%d other than %s"
                    % (topic, p, list(exclude) or "none"))["leader"]

    def leaders(self, topic):
        return {p: pm["leader"] for p, pm in self.view(topic).items()}

    def health(self, topics=None):
        """(healthy, what is wrong): every broker registered and answering
        Metadata that lists the three brokers and a controller, and every
        partition of every topic (or of `topics`) led with its whole replica
        set in the ISR, as every broker reports it."""
        ids = set(BROKER_IDS)
        problems = []
        reg = set(self.registered())
        if reg != ids:
            problems.append("registered in /brokers/ids: %s" % sorted(reg))
        for bid, md in sorted(self.metadata_from_each(topics).items()):
            if isinstance(md, str):
                problems.append(md)
                continue
            if set(md["brokers"]) != ids:
                problems.append("broker %d lists brokers %s" % (bid, sorted(md["brokers"])))
            if md["controller"] not in ids:
                problems.append("broker %d reports controller %s" % (bid, md["controller"]))
            for name, t in sorted(md["topics"].items()):
                if t["error"]:
                    problems.append("broker %d: topic %s error %s" % (
                        bid, name, kw.error_name(t["error"])))
                    continue
                for p, pm in sorted(t["partitions"].items()):
                    if pm["leader"] < 0 or sorted(pm["isr"]) != sorted(pm["replicas"]):
                        problems.append("broker %d: %s-%d leader %s isr %s of "
                                        "replicas %s" % (bid, name, p, pm["leader"],
                                                         pm["isr"], pm["replicas"]))
        missing = ids - {b.id for b in self.running()}
        if missing:
            problems.append("not running: %s" % sorted(missing))
        return not problems, "; ".join(problems[:8]) or "healthy"

    def wait_healthy(self, timeout=120, topics=None):
        poll(lambda: self.health(topics), timeout,
             "a healthy cluster (all brokers up, every partition with its "
             "whole replica set in sync)", 0.5)

    def restore(self, timeout=150):
        """Links up, every server running, the cluster healthy."""
        self.bnet.heal_all()
        for s in self.ens.servers:
            if not self.net.peer_link_up(s.id):
                self.net.heal_peer(s.id)
        if any(not s.running for s in self.ens.servers):
            self.ens.start_all()
            self.ens.wait_healthy()
        self.start_brokers()
        self.wait_healthy(timeout)

    def wait_isr(self, topic, p, pred, timeout, what):
        """Until pred(isr list) holds for topic-p as the partition's most
        recent view tells; returns the isr."""
        def ok():
            pm = self.view(topic).get(p)
            if pm is None:
                return False, "no view of %s-%d" % (topic, p)
            return pred(pm["isr"]), pm["isr"]
        return poll(ok, timeout, what)

    def create_topic(self, name, partitions=3, replication_factor=3,
                     config=None, via=None, timeout=60):
        """Creates a topic with the AdminClient (through broker `via`,
        default any), then waits until every running broker reports each
        partition led with its whole replica set in sync."""
        from confluent_kafka.admin import AdminClient, NewTopic
        bootstrap = self.bootstrap_of(via) if via else self.bootstrap
        a = AdminClient({"bootstrap.servers": bootstrap})
        fs = a.create_topics([NewTopic(name, num_partitions=partitions,
                                       replication_factor=replication_factor,
                                       config=config or {})],
                             operation_timeout=timeout, request_timeout=timeout)
        fs[name].result(timeout)
        self.topics.append(name)

        def ok():
            for bid, md in self.metadata_from_each([name]).items():
                if isinstance(md, str):
                    return False, md
                t = md["topics"].get(name)
                if t is None or t["error"] or len(t["partitions"]) != partitions:
                    return False, "broker %d: %s" % (bid, t)
                for p, pm in sorted(t["partitions"].items()):
                    if len(pm["replicas"]) != replication_factor:
                        return False, (
                            "broker %d: %s-%d has replicas %s (asked for "
                            "replication factor %d)" % (
                                bid, name, p, pm["replicas"], replication_factor))
                    if pm["leader"] < 0 or sorted(pm["isr"]) != sorted(pm["replicas"]):
                        return False, "broker %d: %s-%d leader %s isr %s replicas %s" % (
                            bid, name, p, pm["leader"], pm["isr"], pm["replicas"])
            return True, None
        poll(ok, timeout, "topic %s on every broker, each partition led and "
             "its whole replica set in sync" % name)
        return name

    # -- data on each replica -------------------------------------------------------
    def log_end_offsets(self, topic, partitions):
        """{broker id: {partition: log end offset}} of each running broker
        holding a replica (ListOffsets with replica_id -2)."""
        view = self.view(topic)
        out = {}
        for b in self.running():
            mine = [p for p in partitions if b.id in view.get(p, {}).get("replicas", [])]
            if mine:
                out[b.id] = kw.log_end_offsets(b.addr, topic, mine)
        return out

    def wait_replicas_converged(self, topic, partitions, timeout=60):
        """Until every replica of each partition has the same log end offset
        (ListOffsets, replica_id -2, to each broker); returns {partition:
        offset}."""
        def ok():
            leos = self.log_end_offsets(topic, partitions)
            per_p = {p: {bid: o[p] for bid, o in leos.items() if p in o}
                     for p in partitions}
            agreed = all(len(set(v.values())) == 1 and len(v) == len(
                self.view(topic)[p]["replicas"]) for p, v in per_p.items())
            return agreed, per_p
        per_p = poll(ok, timeout, "the replicas of %s to reach the same log "
                     "end offset" % topic, 0.5)
        return {p: next(iter(v.values())) for p, v in per_p.items()}

    def replica_contents(self, topic, p, timeout=30):
        """{broker id: [(offset, value)]} of each replica of topic-p, read
        from that broker as a consumer (Fetch with a rack id), up to that
        replica's high watermark, once every replica's high watermark has
        reached its log end offset."""
        replicas = self.view(topic)[p]["replicas"]

        def ok():
            out = {}
            for bid in replicas:
                b = self.brokers[bid]
                (leo,) = kw.log_end_offsets(b.addr, topic, [p]).values()
                hw, recs = kw.read_replica(b.addr, topic, p)
                if hw != leo:
                    return False, "broker %d: high watermark %d, log end %d" % (
                        bid, hw, leo)
                out[bid] = [(o, v) for o, _e, _k, v in recs]
            return True, out
        return poll(ok, timeout, "each replica of %s-%d readable up to its log "
                    "end" % (topic, p), 0.5)

    # -- reports ------------------------------------------------------------------------
    def state_dump(self, topics=()):
        lines = ["controller (from /controller): %s, /controller_epoch %s"
                 % (self.controller(), self.controller_epoch()),
                 "registered brokers: %s" % self.registered()]
        for bid, md in sorted(self.metadata_from_each(list(topics) or None).items()):
            if isinstance(md, str):
                lines.append("broker %d: %s" % (bid, md))
                continue
            lines.append("broker %d: brokers %s controller %s" % (
                bid, sorted(md["brokers"]), md["controller"]))
            for name, t in sorted(md["topics"].items()):
                for p, pm in sorted(t["partitions"].items()):
                    lines.append("  %s-%d leader %s epoch %s replicas %s isr %s%s" % (
                        name, p, pm["leader"], pm["leader_epoch"], pm["replicas"],
                        pm["isr"], " error %s" % kw.error_name(pm["error"])
                        if pm["error"] else ""))
        for t in topics:
            for p in range(8):
                st = self.zk_state(t, p)
                if st is None:
                    break
                lines.append("  zk %s-%d state %s" % (t, p, st))
        return "\n".join(lines)
