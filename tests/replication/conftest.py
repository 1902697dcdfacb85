"""pytest fixtures for the broker replication fault tests.

One cluster runs for the whole session: three coordinators (strom-coordinator
or Apache ZooKeeper 3.8, STROM_ZK_TARGET=strom|zookeeper) and three brokers
(strom-broker or Apache Kafka 3.9, STROM_KAFKA_TARGET=strom|kafka), each in
its own network namespace. Before every test the `cluster` fixture brings it
back to health (links up, every broker running, every partition with its
whole replica set in sync); after a failed test it starts over with empty
data directories, so one failure does not cascade.

The tests only run inside tests/replication/run.sh, which creates the
user+mount+net+pid namespace; elsewhere they are skipped.
"""

import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import replication_harness as rh  # noqa: E402

_STATE = {"bin_dir": None, "cluster": None, "failed": False,
          "last_failed": False, "figures": []}
TARGET = "%s-on-%s" % (rh.kafka_target(), rh.zk_target())
FIGURES_FILE = rh.REPO / "target" / ("replication-figures-%s.txt" % TARGET)
TEST_TIMEOUT = 300  # seconds, per test (pytest-timeout, when installed)


def figure(name, value, unit="s"):
    """Records a measured figure for the summary at the end of the run."""
    if isinstance(value, float):
        text = "%.2f %s" % (value, unit) if unit else "%.2f" % value
    else:
        text = "%s %s" % (value, unit) if unit else str(value)
    _STATE["figures"].append((name, text))
    try:
        FIGURES_FILE.parent.mkdir(parents=True, exist_ok=True)
        with open(FIGURES_FILE, "a") as f:
            f.write("%s\t%s\t%s\n" % (TARGET, name, text))
    except OSError:
        pass


def pytest_configure(config):
    config.addinivalue_line("markers", "replication: needs the three-broker cluster")
    try:
        FIGURES_FILE.unlink()
    except OSError:
        pass
    if not rh.in_test_namespace():
        return
    # Someone may rebuild target/debug while we run: run private copies,
    # under names that a `pkill -f strom-broker` (or strom-coordinator)
    # aimed at other servers does not match.
    d = Path(tempfile.mkdtemp(prefix="replfault-bin-"))
    _STATE["bin_dir"] = d
    wanted = []
    if rh.zk_target() == "strom":
        wanted.append(("strom-coordinator", "ens-member"))
    if rh.kafka_target() == "strom":
        wanted.append(("strom-broker", "rep-broker"))
    for src_name, dst_name in wanted:
        src = rh.bin_dir() / src_name
        if not os.access(src, os.X_OK):
            raise pytest.UsageError("%s binary not found at %s (cargo build, or "
                                    "set STROM_BIN_DIR)" % (src_name, src))
        shutil.copy2(src, d / dst_name)


def pytest_unconfigure(config):
    if _STATE["bin_dir"]:
        shutil.rmtree(_STATE["bin_dir"], ignore_errors=True)


def pytest_report_header(config):
    broker = ("Apache Kafka %s (ZooKeeper mode)" % rh.kafka_version()
              if rh.kafka_target() == "kafka"
              else "strom-broker (%s)" % (rh.bin_dir() / "strom-broker"))
    zk = ("strom-coordinator (%s)" % (rh.bin_dir() / "strom-coordinator")
          if rh.zk_target() == "strom" else "Apache ZooKeeper 3.8")
    return "brokers: three %s; coordinators: three %s" % (broker, zk)


def pytest_collection_modifyitems(config, items):
    have_timeout = config.pluginmanager.hasplugin("timeout")
    for item in items:
        if "cluster" not in getattr(item, "fixturenames", ()):
            continue
        item.add_marker(pytest.mark.replication)
        if have_timeout and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT))
        if not rh.in_test_namespace():
            item.add_marker(pytest.mark.skip(
                reason="needs the network namespaces: run tests/replication/run.sh"))
        elif rh.zk_target() == "zookeeper" and \
                not (rh.eh.JAVA_DIR / "zookeeper.jar").exists():
            item.add_marker(pytest.mark.skip(reason="Debian's zookeeper not installed"))


@pytest.fixture(scope="session")
def cluster_session():
    bins = _STATE["bin_dir"]
    coord = bins / "ens-member" if rh.zk_target() == "strom" else None
    broker = bins / "rep-broker" if rh.kafka_target() == "strom" else None
    c = rh.Cluster(rh.kafka_target(), rh.zk_target(), coord, broker)
    _STATE["cluster"] = c
    try:
        c.setup_network()
        c.start()
        warm_up(c)
        yield c
    finally:
        keep = _STATE["failed"] or os.environ.get("STROM_REPLICATION_KEEP") == "1"
        c.destroy(keep=keep)
        if keep:
            _STATE["kept"] = c.base_dir
        c.net.teardown()
        c.bnet.teardown()
        _STATE["cluster"] = None


def warm_up(c):
    """Creates the group coordinator's state (Kafka: __consumer_offsets,
    replication factor 3) while every broker runs, so later tests that
    consume through a group do not create it with a broker down."""
    from replication_load import read_log
    t = "warmup-%s" % uuid.uuid4().hex[:6]
    try:
        c.create_topic(t, partitions=1, replication_factor=3)
        read_log(c.bootstrap, t, [0], timeout=60, subscribe=True)
        c.wait_healthy(60)
    except Exception as e:  # noqa: BLE001 - the tests report it better
        sys.stderr.write("\nwarm-up failed (the tests will show why): %s\n" % e)


@pytest.fixture
def cluster(cluster_session, request):
    """The healthy cluster. After the test, a broker that exited on its own
    fails it."""
    c = cluster_session
    if _STATE["last_failed"]:
        _STATE["last_failed"] = False
        sys.stderr.write("\nprevious test failed: fresh cluster\n")
        c.wipe()
        warm_up(c)
    c.restore()
    yield c
    c.close_clients()
    crashed = [b for b in c.brokers.values() if b.crashed]
    if crashed:
        _STATE["last_failed"] = True
        pytest.fail("brokers exited on their own: %s" % ", ".join(
            "%r (exit %s)" % (b, b.proc.returncode) for b in crashed))


@pytest.fixture
def topic(request):
    """A unique topic name for the test (not created)."""
    safe = "".join(ch if ch.isalnum() else "-" for ch in request.node.name)[:30]
    return "%s-%s" % (safe.strip("-"), uuid.uuid4().hex[:6])


@pytest.fixture
def record_figure():
    return figure


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    _STATE["failed"] = True
    _STATE["last_failed"] = True
    c = _STATE["cluster"]
    if c is None:
        return
    try:
        c.bnet.heal_all()  # so that the dump can ask every broker
        rep.sections.append(("cluster state after the failure",
                             c.state_dump(c.topics[-2:])))
    except Exception as e:  # noqa: BLE001
        rep.sections.append(("cluster state after the failure", repr(e)))
    for b in c.brokers.values():
        if b.log_path.exists():
            rep.sections.append(("%r log tail (%s)" % (b, b.log_path),
                                 b.log_tail(60)))
    for s in c.ens.servers:
        if s.log_path.exists():
            rep.sections.append(("coordinator %d log tail (%s)" % (s.id, s.log_path),
                                 s.log_tail(20)))


def pytest_terminal_summary(terminalreporter):
    tr = terminalreporter
    if _STATE.get("kept"):
        tr.write_line("servers' directories and logs kept in %s" % _STATE["kept"])
    figs = _STATE["figures"]
    if not figs:
        return
    tr.section("replication figures (%s)" % TARGET)
    width = max(len(n) for n, _ in figs)
    for name, text in figs:
        tr.write_line("%-*s  %s" % (width, name, text))
    tr.write_line("(also in %s)" % FIGURES_FILE)
