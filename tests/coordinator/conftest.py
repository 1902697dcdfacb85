"""pytest fixtures for the coordinator integration tests.

One server (Strom's `strom-coordinator` or the real Apache ZooKeeper, picked
with STROM_ZK_TARGET=strom|zookeeper, default strom) is started for the whole
pytest session and handed to the tests through the `zk_server` fixture.
"""

import shutil
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jute  # noqa: E402
from harness import ZkServer  # noqa: E402


_SERVERS = []


@pytest.fixture(scope="session")
def zk_server():
    srv = ZkServer()
    _SERVERS.append(srv)
    try:
        srv.start()
        yield srv
    finally:
        failed = getattr(srv, "had_failures", False)
        srv.stop()
        if failed:
            # keep the directory for post-mortem
            sys.stderr.write("server directory kept: %s\n" % srv.base_dir)
        else:
            shutil.rmtree(srv.base_dir, ignore_errors=True)
        _SERVERS.remove(srv)


@pytest.fixture
def zk(zk_server):
    """The running server, restarted first if an earlier test left it down."""
    if not zk_server.running:
        zk_server.start()
    return zk_server


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for srv in _SERVERS:
            srv.had_failures = True
            rep.sections.append(("%s server log tail (%s)"
                                 % (srv.kind, srv.log_path), srv.log_tail()))


# ----------------------------------------------------------------------
# kazoo helpers
# ----------------------------------------------------------------------


@pytest.fixture
def kazoo_factory(zk):
    """make(**kw) -> started KazooClient; all are stopped/closed afterwards."""
    from kazoo.client import KazooClient

    clients = []

    def make(start=True, start_timeout=15.0, **kw):
        kw.setdefault("timeout", 10.0)
        c = KazooClient(hosts=zk.hosts, **kw)
        clients.append(c)
        if start:
            c.start(timeout=start_timeout)
        return c

    yield make
    for c in clients:
        try:
            c.stop()
            c.close()
        except Exception:
            pass


@pytest.fixture
def client(kazoo_factory):
    return kazoo_factory()


@pytest.fixture
def base(client, request):
    """A fresh, unique persistent node for the test to work under."""
    name = request.node.name
    safe = "".join(ch if ch.isalnum() else "_" for ch in name)[:40]
    path = "/t_%s_%s" % (safe, uuid.uuid4().hex[:8])
    client.create(path)
    return path


@pytest.fixture
def raw(zk):
    """factory for raw jute connections (closed at teardown)."""
    conns = []

    def make(**kw):
        c = jute.connect(zk.hosts, **kw)
        conns.append(c)
        return c

    yield make
    for c in conns:
        try:
            c.sock.settimeout(2.0)
        except OSError:
            pass
        c.close_session()
