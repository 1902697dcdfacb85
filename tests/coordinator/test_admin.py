"""The AdminServer HTTP API (admin.serverPort, GET /commands/<name>).

What is asserted, for both servers:
  * every answer is a JSON object with "command" (the canonical command
    name, e.g. /commands/stat answers "stats", /commands/mntr "monitor")
    and "error": null;
  * ruok: nothing else required;
  * stat/srvr: "version", "read_only" (false), "node_count",
    "server_stats" (an object with "server_state" = "standalone");
  * monitor (mntr): "version", "server_state" = "standalone",
    "znode_count", "ephemerals_count", "num_alive_connections",
    "watch_count", "approximate_data_size", "outstanding_requests",
    "avg_latency", "min_latency", "max_latency", "packets_received",
    "packets_sent", "global_sessions" (keys shared with Strom);
  * configuration (conf): client_port, tick_time, min/max_session_timeout;
  * is_read_only (isro): read_only false; environment (envi):
    "zookeeper.version";
  * an unknown command: JSON with a non-null "error".
"""

import json
import urllib.error
import urllib.request

import pytest

from harness import wait_until


def get(zk, name):
    url = "http://127.0.0.1:%d/commands/%s" % (zk.admin_port, name)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            status, body, ctype = r.status, r.read(), \
                r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        status, body, ctype = e.code, e.read(), \
            e.headers.get("Content-Type", "")
    return status, json.loads(body.decode("utf-8")), ctype


def ok(zk, name, command):
    status, d, ctype = get(zk, name)
    assert status == 200
    assert "json" in ctype
    assert isinstance(d, dict)
    assert d["command"] == command
    assert d["error"] is None
    return d


def test_ruok(zk):
    d = ok(zk, "ruok", "ruok")
    assert set(d) >= {"command", "error"}


@pytest.mark.parametrize("name,command", [("stat", "stats"),
                                          ("stats", "stats"),
                                          ("srvr", "server_stats")])
def test_stat(zk, name, command):
    d = ok(zk, name, command)
    assert isinstance(d["version"], str) and d["version"]
    assert d["read_only"] is False
    assert isinstance(d["node_count"], int) and d["node_count"] >= 2
    assert d["server_stats"]["server_state"] == "standalone"


MONITOR_KEYS = (
    "version", "server_state", "znode_count", "ephemerals_count",
    "num_alive_connections", "watch_count", "approximate_data_size",
    "outstanding_requests", "avg_latency", "min_latency", "max_latency",
    "packets_received", "packets_sent", "global_sessions",
)


@pytest.mark.parametrize("name", ["monitor", "mntr"])
def test_monitor(zk, name):
    d = ok(zk, name, "monitor")
    for k in MONITOR_KEYS:
        assert k in d, k
    assert d["server_state"] == "standalone"
    assert isinstance(d["znode_count"], int) and d["znode_count"] >= 2


def test_monitor_tracks_ephemerals_and_nodes(zk, kazoo_factory, base):
    c = kazoo_factory()
    before = ok(zk, "monitor", "monitor")
    c.create(base + "/e1", ephemeral=True)
    c.create(base + "/e2", ephemeral=True)
    c.create(base + "/p")
    after = ok(zk, "monitor", "monitor")
    assert after["ephemerals_count"] >= before["ephemerals_count"] + 2
    assert after["znode_count"] >= before["znode_count"] + 3
    assert after["num_alive_connections"] >= 1
    c.stop()
    # ephemerals of the closed session are gone
    assert wait_until(lambda: ok(zk, "monitor", "monitor")[
        "ephemerals_count"] <= after["ephemerals_count"] - 2, 10)


def test_configuration(zk):
    d = ok(zk, "configuration", "configuration")
    assert d["client_port"] == zk.port
    assert d["tick_time"] == 2000
    assert d["min_session_timeout"] == 4000
    assert d["max_session_timeout"] == 40000
    d2 = ok(zk, "conf", "configuration")
    assert d2["client_port"] == zk.port


def test_is_read_only_and_environment(zk):
    assert ok(zk, "is_read_only", "is_read_only")["read_only"] is False
    assert ok(zk, "isro", "is_read_only")["read_only"] is False
    env = ok(zk, "environment", "environment")
    assert "zookeeper.version" in env


def test_unknown_command(zk):
    status, d, _ = get(zk, "no_such_command")
    assert status in (200, 404)
    assert d["error"]
