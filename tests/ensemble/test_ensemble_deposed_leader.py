"""A leader deposed while it holds a write it applied but could not commit,
which learns of the new leader and of a commit index beyond that write in
one go, must still give the write up.

A reproduction of what test_repeated_leader_isolation_under_load and test 6
caught now and then on strom-coordinator up to 9ad16bf: there a deposed
leader rolled back only if its commit index was still below its tree's zxid
when it noticed; when the new leader's appends replaced its entries and
committed past them in the same batch, it kept the uncommitted write in its
tree, skipped the new leader's entry at that zxid (the servers diverged for
good) and answered the held write as successful. Each cycle triggered it
with high probability, so four cycles made the failure certain in practice;
fixed in 48c0bf1. Each cycle:

1. cut the leader L off; a client pinned to L creates /lost-N: L applies it
   and holds the reply (it cannot reach a quorum);
2. freeze L (SIGSTOP) before it notices that it lost its quorum;
3. the other two elect a leader and commit 200 more creates;
4. cut the third server off too, so that only the new leader talks to L;
   heal L's link and wait until the new leader's appends (retransmitted by
   TCP) sit in L's socket buffers; unfreeze L (SIGCONT); heal the third.

L then reads the new leader's appends, whose commit index passes /lost-N's
zxid, all at once, before its own timers run. /lost-N was never committed:
its client must not be told it was created, and it must exist nowhere.
"""

import os
import signal
import time

from ensemble_harness import converged_tree, diff_trees, read_tree
from ensemble_load import call

CYCLES = 4


def test_deposed_leader_gives_up_its_uncommitted_write(ens, base,
                                                       record_figure):
    c = ens.client()
    c.create(base)
    outcomes = []
    for cycle in range(CYCLES):
        ens.wait_healthy()
        old = ens.leader()
        others = [s for s in ens.servers if s is not old]
        pinned = ens.client(hosts=old.hosts)
        majority = ens.client(hosts=ens.hosts_of(others))
        lost_path = "%s/lost-%d" % (base, cycle)
        third = None
        try:
            ens.net.cut_peer(old.id)
            lost = pinned.create_async(lost_path, b"never committed")
            time.sleep(0.3)  # L applies it and proposes it to nobody
            os.kill(old.proc.pid, signal.SIGSTOP)
            try:
                new = ens.wait_leader(servers=others, timeout=60)
                rs = [majority.create_async("%s/after-%d-%03d" % (base, cycle, i))
                      for i in range(200)]
                for r in rs:
                    r.get(timeout=30)
                third = next(s for s in others if s is not new)
                ens.net.cut_peer(third.id)
                ens.net.heal_peer(old.id)
                deadline = time.monotonic() + 8
                while time.monotonic() < deadline and not _buffered(old, [new]):
                    time.sleep(0.1)
                time.sleep(1.5)  # the rest of what TCP held back
            finally:
                os.kill(old.proc.pid, signal.SIGCONT)
            time.sleep(1)
        finally:
            for s in ens.servers:
                ens.net.heal_peer(s.id)
        ens.wait_healthy()
        _, exc = call(lost, timeout=30)
        outcomes.append("acknowledged" if exc is None else type(exc).__name__)
        trees = {}
        for s in ens.servers:
            o = ens.client(hosts=s.hosts)
            trees[s.id] = read_tree(o, base)
            ens.close_client(o)
        holding = sorted(i for i, t in trees.items() if lost_path in t)
        assert not holding and exc is not None, (
            "cycle %d: the old leader (server %d) applied %s but could not "
            "commit it; after it was deposed the write is %s, servers "
            "holding it: %s\n%s" % (
                cycle, old.id, lost_path,
                "ACKNOWLEDGED to its client" if exc is None
                else "unanswered (%s), as it should be" % type(exc).__name__,
                holding or "none", "\n".join(
                    "server %d vs %d: %s" % (a, b, diff_trees(trees[a], trees[b], 4))
                    for a, b in ((1, 2), (1, 3)) if trees[a] != trees[b])))
        tree = converged_tree(ens, base)
        assert all("%s/after-%d-%03d" % (base, cycle, i) in tree
                   for i in range(200))
        ens.close_client(pinned)
        ens.close_client(majority)
    record_figure("deposed leader: outcomes of its uncommitted creates",
                  ", ".join(outcomes), "")


def _buffered(server, peers):
    """Whether a TCP connection of `server` with one of `peers` holds
    received data the (frozen) process has not read (ss, iproute2)."""
    import subprocess
    out = subprocess.run(
        ["ip", "netns", "exec", server.ens.net.ns(server.id), "ss", "-tnH"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode()
    for ln in out.splitlines():
        f = ln.split()
        # State Recv-Q Send-Q Local:Port Peer:Port
        if len(f) >= 5 and int(f[1]) > 0 and any(
                f[4].startswith(p.peer_ip + ":") for p in peers):
            return True
    return False
