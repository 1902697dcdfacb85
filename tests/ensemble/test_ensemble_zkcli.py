"""Test 8: Debian's zkCli.sh (the unmodified Java client) with the
three-server connect string creates and reads nodes before and after a
leader failover."""

import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"

pytestmark = pytest.mark.skipif(
    not os.access(ZKCLI, os.X_OK) or shutil.which("java") is None,
    reason="zkCli.sh (Debian package zookeeper) or java not installed")

NOISE = re.compile(
    r"^(SLF4J:.*|Connecting to .*|WATCHER::|Welcome to ZooKeeper!|"
    r"JLine support is .*|WatchedEvent state:\w+ type:None path:null.*|\s*)$")


def zkcli(hosts, *args, timeout=90):
    """One zkCli command; returns (exit code, output lines without noise)."""
    home = tempfile.mkdtemp(prefix="zkcli-home-")
    try:
        p = subprocess.run(
            [ZKCLI, "-waitforconnection", "-timeout", "10000", "-server", hosts]
            + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, timeout=timeout,
            env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home,
                 "LANG": "C.UTF-8",
                 "JVMFLAGS": "-Xmx128m -XX:-UsePerfData"})
    finally:
        shutil.rmtree(home, ignore_errors=True)
    out = p.stdout.decode("utf-8", "replace").splitlines()
    return p.returncode, [ln for ln in out if not NOISE.match(ln)]


def test_zkcli_creates_and_reads_before_and_after_leader_failover(
        ens, base, record_figure):
    assert zkcli(ens.hosts, "create", base, "before") == (0, ["Created " + base])
    rc, out = zkcli(ens.hosts, "get", base)
    assert rc == 0 and out[:1] == ["before"], out

    leader = ens.leader()
    leader.kill()
    t_kill = time.monotonic()
    after = base + "/after"
    rc, out = zkcli(ens.hosts, "create", after, "after")
    took = time.monotonic() - t_kill
    assert (rc, out) == (0, ["Created " + after])
    record_figure("zkCli.sh: kill -9 leader -> create answered (with JVM start)",
                  took)
    rc, out = zkcli(ens.hosts, "get", after)
    assert rc == 0 and out[:1] == ["after"], out
    rc, out = zkcli(ens.hosts, "ls", base)
    assert rc == 0 and out[:1] == ["[after]"], out

    # every surviving server has both nodes (after a sync)
    for s in ens.servers:
        if s is leader:
            continue
        c = ens.client(hosts=s.hosts)
        c.sync(after)
        assert c.get(base)[0] == b"before"
        assert c.get(after)[0] == b"after"


def config_ids(lines):
    return sorted(int(ln.split("=", 1)[0][len("server."):])
                  for ln in lines if ln.startswith("server."))


def test_zkcli_reconfig_add_remove_members(ens, record_figure):
    """zkCli's three reconfig forms: -add two spares, -remove one, -members
    back to the first three; `config` shows each membership."""
    four, five = ens.spares[:2]
    for s in (four, five):
        ens.start_spare(s)
    rc, out = zkcli(ens.hosts, "reconfig", "-add",
                    "%s,%s" % (four.spec(), five.spec()))
    assert rc == 0 and "Committed new configuration:" in out, out
    assert config_ids(out) == [1, 2, 3, 4, 5], out
    ens.joined([four, five])
    ens.wait_healthy()

    rc, out = zkcli(ens.hosts, "reconfig", "-remove", "5")
    assert rc == 0 and config_ids(out) == [1, 2, 3, 4], out
    ens.left([five])
    ens.wait_healthy()

    first = [ens.server(i) for i in (1, 2, 3)]
    rc, out = zkcli(ens.hosts, "reconfig", "-members",
                    ",".join(s.spec() for s in first))
    assert rc == 0 and config_ids(out) == [1, 2, 3], out
    ens.left([four])
    ens.wait_healthy()
    # every member shows the membership it now has
    for s in ens.servers:
        rc, out = zkcli(s.hosts, "config")
        assert rc == 0 and config_ids(out) == [1, 2, 3], (s, out)
