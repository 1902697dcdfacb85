"""pytest fixtures for the broker integration tests.

`cluster` (session): a coordinator and broker 0, picked by
STROM_KAFKA_TARGET=strom|kafka and STROM_ZK_TARGET=strom|zookeeper.
`extra_brokers` (function): start_broker(id) on that cluster, stopped after
the test. `make_cluster` (function): an independent cluster with other broker
settings. Helpers for the tests live in kafkautil.py.
"""

import atexit
import importlib.util
import signal
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _load(name, filename):
    # Loaded under names of their own: other suites have a harness.py too.
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / filename)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


harness = _load("broker_harness", "harness.py")
kafkautil = _load("broker_kafkautil", "kafkautil.py")

_CLUSTERS = []

# Per-test limit when pytest-timeout is installed (requirements.txt has it).
TEST_TIMEOUT = 180


def pytest_configure(config):
    # SIGTERM (e.g. from `timeout`) ends the run like Ctrl-C, so fixture
    # finalizers stop the servers; atexit kills what is still left.
    def on_term(signum, frame):
        raise KeyboardInterrupt("SIGTERM")
    signal.signal(signal.SIGTERM, on_term)
    atexit.register(_kill_all)


def _kill_all():
    for c in list(_CLUSTERS):
        for b in c.brokers.values():
            b.kill()
        c.zk.kill()


def pytest_collection_modifyitems(config, items):
    if config.pluginmanager.hasplugin("timeout"):
        for item in items:
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(TEST_TIMEOUT))


@pytest.fixture(scope="session")
def cluster():
    c = harness.Cluster(name="session")
    _CLUSTERS.append(c)
    try:
        c.start()
        yield c
    finally:
        c.cleanup()
        _CLUSTERS.remove(c)


@pytest.fixture
def bootstrap(cluster):
    return cluster.bootstrap


@pytest.fixture
def extra_brokers(cluster):
    """start(broker_id, **overrides) -> Broker in the session cluster.

    Before the first extra broker starts, the group coordinator's state is
    set up on broker 0 (one committed offset), so that Kafka's
    __consumer_offsets partitions (replication factor 1) all stay on broker 0
    and groups keep working after the extra brokers stop."""
    started = []

    def start(broker_id, **overrides):
        if not started:
            kafkautil.warm_up_group_coordinator(cluster.bootstrap)
        b = cluster.start_broker(broker_id, **overrides)
        started.append(broker_id)
        return b

    yield start
    for bid in started:
        cluster.stop_broker(bid)
    if started:
        kafkautil.wait_for_brokers(cluster.bootstrap, set(cluster.brokers))


@pytest.fixture
def make_cluster():
    """make(**broker_overrides) -> a started, independent Cluster."""
    made = []

    def make(**overrides):
        c = harness.Cluster(overrides=overrides, name="extra")
        made.append(c)
        _CLUSTERS.append(c)
        c.start()
        return c

    yield make
    for c in made:
        c.cleanup()
        _CLUSTERS.remove(c)


@pytest.fixture
def topic(request):
    """A unique topic name for the test (not created)."""
    return kafkautil.unique_name(request.node.name)


@pytest.fixture
def group(request):
    return "g-" + kafkautil.unique_name(request.node.name)


@pytest.fixture
def admin(cluster):
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": cluster.bootstrap})


@pytest.fixture
def zk_client(cluster):
    from kazoo.client import KazooClient
    c = KazooClient(hosts=cluster.zk_hosts, timeout=10.0)
    c.start(timeout=15)
    yield c
    c.stop()
    c.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for c in _CLUSTERS:
            c.had_failures = True
            for title, text in c.log_sections():
                rep.sections.append((title, text))


def pytest_report_header(config):
    t = harness.kafka_target()
    what = "strom-broker (%s)" % harness.strom_broker_binary() if t == "strom" \
        else "Apache Kafka %s (ZooKeeper mode)" % harness.kafka_version()
    return "broker: %s; coordinator: %s" % (what, harness.zk_target())
