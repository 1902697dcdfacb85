"""Runs differential.py: the same scripted request sequence against Strom and
against real ZooKeeper (each on a fresh server), failing on any difference
in the normalised records."""

import json

import pytest

import differential
from harness import strom_available, strom_binary, target, \
    zookeeper_available


def _report(diffs, a, b):
    return "%d differing operations:\n%s\n\n(full records: %s vs %s)" % (
        len(diffs), "\n".join(diffs), json.dumps(a)[:200], json.dumps(b)[:200])


@pytest.mark.skipif(not (strom_available() and zookeeper_available()),
                    reason="needs both %s and ZooKeeper (java + "
                    "/usr/share/java/zookeeper.jar)" % strom_binary())
def test_strom_matches_zookeeper(tmp_path):
    zk = differential.record_target("zookeeper")
    strom = differential.record_target("strom")
    (tmp_path / "records-zookeeper.json").write_text(json.dumps(zk, indent=1))
    (tmp_path / "records-strom.json").write_text(json.dumps(strom, indent=1))
    diffs = differential.diff(zk, strom, "zookeeper", "strom")
    assert not diffs, _report(diffs, zk, strom)


def test_script_is_deterministic_on_target():
    """Two fresh runs on the selected target give identical records (this
    validates the normalisation of the differential script itself)."""
    kind = target()
    if kind == "zookeeper" and not zookeeper_available():
        pytest.skip("ZooKeeper not installed")
    if kind == "strom" and not strom_available():
        pytest.skip("%s not built" % strom_binary())
    first = differential.record_target(kind)
    second = differential.record_target(kind)
    assert len(first) >= 60
    diffs = differential.diff(first, second, "run1", "run2")
    assert not diffs, _report(diffs, first, second)
