"""Test 3: the leader cut off from the other servers (its peer link down)
while a client connected only to it keeps writing. Clients still reach every
server; only the servers cannot reach each other.
"""

import time

from ensemble_harness import converged_tree, wait_until
from ensemble_load import (Creator, Load, StateLog, check_counter, check_creates,
                           make_load, progress)

# An acknowledgement may still arrive this long after the cut for a write the
# followers had accepted before it (the leader's own processing).
GRACE = 1.0


def test_isolated_leader_acknowledges_nothing_the_majority_loses(
        ens, base, record_figure):
    old = ens.leader()
    others = [s for s in ens.servers if s is not old]
    c = ens.client()
    for sub in ("", "/iso", "/maj"):
        c.create(base + sub)
    iso = Creator("iso", ens.client(hosts=old.hosts), base + "/iso", pause=0.01)
    # a short session on the old leader owning an ephemeral: the majority
    # must expire it while the leader is cut off, and it stays expired
    short = ens.client(hosts=old.hosts, timeout=4.0)
    short_states = StateLog(short)
    short.create(base + "/eph", ephemeral=True)
    watcher = ens.client(hosts=ens.hosts_of(others))
    maj = [Creator("maj%d" % i, ens.client(hosts=ens.hosts_of(others)),
                   base + "/maj", pause=0.01) for i in range(2)]
    load = Load([iso] + maj)
    with load:
        time.sleep(2)
        before = len(iso.by_outcome("ok"))
        assert before > 0, "the isolated side's client wrote nothing before the cut"
        ens.net.cut_peer(old.id)
        t_cut = time.monotonic()  # the link is down from here on
        new = ens.wait_leader(servers=others, timeout=60)
        t_elected = time.monotonic()
        wait_until(lambda: any(w.by_outcome("ok") and max(
            o.complete for o in w.by_outcome("ok")) > t_elected for w in maj),
            60, 0.02, "a majority write acknowledged under the new leader")
        t_first_maj = min(o.complete for w in maj for o in w.by_outcome("ok")
                          if o.invoke >= t_cut)

        def eph_gone():
            watcher.sync(base)
            return watcher.exists(base + "/eph") is None
        wait_until(eph_gone, 60, 0.1,
                   "the cut-off client's session to expire on the majority")
        t_expired = time.monotonic()
        time.sleep(2)
        mode_cut_off = old.mode()
        t_heal = time.monotonic()
        ens.net.heal_peer(old.id)
        wait_until(lambda: old.mode() == "follower", 60, 0.05,
                   "the old leader to rejoin as a follower")
        t_rejoined = time.monotonic()
        ens.wait_healthy()
        wait_until(lambda: short_states.lost, 30, 0.1,
                   "the expired session's client to learn it expired (LOST)")
        time.sleep(1)
        diag = progress(load.workers, t_cut)

    record_figure("isolate leader: cut -> new leader on the majority (srvr)",
                  t_elected - t_cut)
    record_figure("isolate leader: cut -> first majority write acknowledged",
                  t_first_maj - t_cut)
    record_figure("isolate leader: cut -> its 4 s client session expired on "
                  "the majority", t_expired - t_cut)
    record_figure("isolate leader: heal -> old leader follows",
                  t_rejoined - t_heal)
    late = [o for o in iso.by_outcome("ok") if t_cut < o.complete < t_heal]
    record_figure("isolate leader: writes the cut-off leader acknowledged after "
                  "the cut (max delay)", "%d (%s)" % (
                      len(late), "%.3fs" % max(o.complete - t_cut for o in late)
                      if late else "-"), "")
    record_figure("isolate leader: old leader's mode while cut off",
                  mode_cut_off or "not serving", "")

    assert new in others
    assert old.mode() == "follower"
    assert ens.leader() in others
    # Nothing acknowledged by the cut-off side long after the cut: it cannot
    # have reached the majority.
    too_late = [o for o in late if o.complete > t_cut + GRACE]
    assert not too_late, "the cut-off leader acknowledged %d writes more than " \
        "%.1fs after the cut, e.g. %s\n%s" % (len(too_late), GRACE,
                                              too_late[:3], diag)

    tree = converged_tree(ens, base)
    assert base + "/eph" not in tree, "the expired session's ephemeral is back"
    for w in [iso] + maj:
        missing = [o for o in w.by_outcome("ok") if o.args not in tree]
        assert not missing, "%s: %d acknowledged writes lost, e.g. %s" % (
            w.name, len(missing), ["%s [%+.3f, %+.3f] after the cut" % (
                o.args, o.invoke - t_cut, o.complete - t_cut)
                for o in missing[:5]])
    attempted = {o.args for w in [iso] + maj for o in w.ops}
    phantom = [p for p in tree if p.count("/") == 3 and p not in attempted]
    assert not phantom, "nodes nobody created: %s" % phantom[:5]
    record_figure("isolate leader: iso ok/unknown, majority ok", "%d/%d, %d" % (
        len(iso.by_outcome("ok")), len(iso.by_outcome("unknown")),
        sum(len(w.by_outcome("ok")) for w in maj)), "")


def test_isolated_follower_stops_serving_and_catches_up(ens, base,
                                                        record_figure):
    leader = ens.leader()
    f = next(s for s in ens.servers if s is not leader)
    c = ens.client()
    c.create(base)
    c.create(base + "/w")
    ws = [Creator("w%d" % i, ens.client(), base + "/w", pause=0.01)
          for i in range(3)]
    # one of them surely talks to the follower we cut off
    ws.append(Creator("wf", ens.client(hosts=ens.hosts_of(
        [f] + [s for s in ens.servers if s is not f]), randomize_hosts=False),
        base + "/w", pause=0.01))
    load = Load(ws)
    with load:
        time.sleep(2)
        ens.net.cut_peer(f.id)
        t_cut = time.monotonic()
        wait_until(lambda: f.mode() is None, 60, 0.05,
                   "the cut-off follower to stop serving")
        t_stopped = time.monotonic()
        time.sleep(2)
        assert ens.leader() is leader, "the majority kept its leader"
        t_heal = time.monotonic()
        ens.net.heal_peer(f.id)
        ens.wait_healthy()
        t_back = time.monotonic()
        time.sleep(1)
        diag = progress(load.workers, t_cut)

    record_figure("isolate follower: cut -> it stops serving", t_stopped - t_cut)
    record_figure("isolate follower: heal -> synced again", t_back - t_heal)
    # the majority kept acknowledging writes while the follower was cut off
    during = [o for w in ws for o in w.by_outcome("ok")
              if t_cut < o.complete < t_heal]
    assert during, "no write acknowledged while a follower was cut off\n" + diag
    gaps = sorted(o.complete for o in during)
    longest = max(b - a for a, b in zip([t_cut] + gaps, gaps + [t_heal]))
    record_figure("isolate follower: longest gap between acknowledged writes",
                  longest)
    lost = {w.name: w.states.lost for w in ws if w.states.lost}
    assert not lost, "sessions expired (kazoo LOST): %s" % lost
    tree = converged_tree(ens, base)
    for w in ws:
        missing = [o.args for o in w.by_outcome("ok") if o.args not in tree]
        assert not missing, "%s: acknowledged writes lost: %s" % (w.name,
                                                                  missing[:5])


def test_repeated_leader_isolation_under_load(ens, base, record_figure):
    """Three times under load: cut the current leader off, heal as soon as
    the other two have elected a new one (the old leader may still think
    it leads and hold writes it could not commit, which it must give up),
    wait for health. No acknowledged write is lost, the counter adds up and
    the servers converge."""
    load = make_load(ens, base)
    leaders = []
    with load:
        time.sleep(1.5)
        for _ in range(3):
            ld = ens.wait_leader(timeout=60)
            leaders.append(ld.id)
            ens.net.cut_peer(ld.id)
            ens.wait_leader(servers=[s for s in ens.servers if s is not ld],
                            timeout=60)
            ens.net.heal_peer(ld.id)
            ens.wait_healthy()
            time.sleep(1)
    tree = converged_tree(ens, base)
    check_creates(tree, base, load)
    final, acked, unknown = check_counter(tree, base, load)
    record_figure("repeated leader isolation: leaders cut, creates ok/unknown, "
                  "counter acked/unknown/final", "%s, %d/%d, %d/%d/%d" % (
                      leaders, load.count("ok", "create"),
                      load.count("unknown", "create"), acked, unknown, final),
                  "")
