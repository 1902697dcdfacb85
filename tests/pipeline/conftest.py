"""Fixtures for strom-pipeline's end-to-end tests: a broker cluster (strom-coordinator and
three strom-brokers on loopback, from tests/broker's harness), the Elasticsearch stand-in, and
the strom-pipeline binary ($STROM_BIN_DIR, default target/debug)."""

import importlib.util
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def _load(name, path):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def binary(name):
    return Path(os.environ.get("STROM_BIN_DIR", ROOT / "target" / "debug")) / name


@pytest.fixture(scope="module")
def cluster():
    """strom-coordinator and three strom-brokers."""
    sys.path.insert(0, str(ROOT / "tests" / "broker"))
    harness = _load("broker_harness", ROOT / "tests" / "broker" / "harness.py")
    c = harness.Cluster(kind="strom", zk_kind="strom", name="pipeline").start()
    c.start_broker(1)
    c.start_broker(2)
    c.all_bootstrap = ",".join(b.bootstrap for b in c.brokers.values())
    yield c
    c.cleanup()


class Es:
    """The Elasticsearch stand-in (tests/pipeline/es_standin.py). With `tls=(cert, key, ca)` it
    serves HTTPS with that certificate, and the test's own calls trust `ca`."""

    def __init__(self, tmp, tls=None):
        port_file = tmp / "es-port"
        args = [sys.executable, str(HERE / "es_standin.py"), "--port", "0", "--port-file", str(port_file)]
        self.ssl = None
        if tls:
            cert, key, ca = tls
            args += ["--tls-cert", str(cert), "--tls-key", str(key)]
            self.ssl = ssl.create_default_context(cafile=str(ca))
        self.proc = subprocess.Popen(args, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline:
                raise RuntimeError("es_standin did not start")
            time.sleep(0.05)
        self.url = "%s://127.0.0.1:%s" % ("https" if tls else "http", port_file.read_text())

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10, context=self.ssl) as r:
            return json.loads(r.read() or b"null")

    def docs(self, index=None):
        return self.call("GET", "/_standin/docs" + ("?index=" + index if index else ""))["docs"]

    def indices(self):
        return self.call("GET", "/_standin/indices")["indices"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def es(tmp_path):
    e = Es(tmp_path)
    yield e
    e.stop()
