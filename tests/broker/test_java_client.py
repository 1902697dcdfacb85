"""The Java client (kafka-clients from Maven Central, default settings: idempotent producing)
through tests/broker/java/ClientCheck.java."""

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

import broker_kafkautil as ku

HERE = Path(__file__).resolve().parent
KAFKA_SH = HERE.parent / "lib" / "kafka.sh"


@pytest.fixture(scope="module")
def java_classes():
    if not shutil_which("javac"):
        pytest.skip("no javac")
    cp = subprocess.run(["bash", str(KAFKA_SH), "clients-classpath", "3"], capture_output=True, text=True, timeout=900)
    assert cp.returncode == 0, cp.stderr
    classpath = cp.stdout.strip()
    out = tempfile.mkdtemp(prefix="strom-java-")
    r = subprocess.run(["javac", "-d", out, "-cp", classpath, str(HERE / "java" / "ClientCheck.java")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return classpath + os.pathsep + out


def shutil_which(cmd):
    import shutil
    return shutil.which(cmd)


def test_java_client_defaults(java_classes, bootstrap, topic, group):
    r = subprocess.run(["java", "-cp", java_classes, "ClientCheck", bootstrap, topic, group],
                       capture_output=True, text=True, timeout=300)
    print(r.stdout)
    assert r.returncode == 0 and "ALL OK" in r.stdout, r.stdout + r.stderr[-3000:]
