"""A client that vanishes without closing its connection (its packets
dropped: a cut cable, a frozen host) loses its session after the session
timeout, whichever server it was connected to: its ephemeral node goes for
every other client. (A Kafka broker cut off this way must lose its
/brokers/ids registration, or no controller ever reacts.) Found by the
broker replication suite: strom-coordinator's followers kept reporting such
sessions alive to the leader."""

import time

import pytest

from ensemble_harness import wait_until

TIMEOUT = 4.0  # seconds, the session timeout the vanishing client asks for


@pytest.mark.parametrize("role", ["leader", "follower"])
def test_a_silent_client_session_expires(ens, base, role, record_figure):
    leader = ens.leader()
    server = leader if role == "leader" else next(s for s in ens.servers if s is not leader)
    watcher_server = next(s for s in ens.servers if s is not server)
    silent = ens.client(hosts=server.hosts, timeout=TIMEOUT,
                        connection_retry=dict(max_tries=0))
    silent.create(base + "-eph", b"x", ephemeral=True)
    watcher = ens.client(hosts=watcher_server.hosts)
    watcher.sync("/")
    assert watcher.exists(base + "-eph") is not None
    t0 = time.monotonic()
    ens.net.cut_client(server.id)
    try:
        wait_until(lambda: watcher.exists(base + "-eph") is None, 10 * TIMEOUT, 0.1,
                   "the silent client's ephemeral to go (connected to the %s)" % role)
        record_figure("silent client (%s, %.0f s timeout): ephemeral gone after" % (role, TIMEOUT),
                      time.monotonic() - t0)
    finally:
        ens.net.heal_client(server.id)
    assert server.mode() in ("leader", "follower"), "the server stays in the ensemble"
