#!/usr/bin/env python3
"""Differential test: run one scripted sequence of ZooKeeper requests over the
raw wire protocol against Strom's strom-coordinator and against the real
Apache ZooKeeper, record every observable answer, and diff the records.

Recorded per operation: the reply error code, the reply header zxid, the
returned path / data / children (sorted) / ACLs, the Stat (times dropped,
zxids made relative, the session's own id replaced by "SELF"), and the watch
notifications that arrived before the reply.

zxid normalisation: every zxid is rewritten as (zxid - BASE) where BASE is
the zxid in the reply header of the script's first request (a create);
0 stays 0.  Only one session is used, so session creation/expiry txns of
other sessions cannot shift the numbering, and nothing time-dependent
(container/TTL expiry) happens during the run.

Usage:
  python differential.py                       # both servers, diff
  python differential.py --targets zookeeper   # record one server only
  python differential.py --hosts 127.0.0.1:2181  # record a running server
Records are written to --out (default: a temp dir) as records-<name>.json.
Exit status: 0 = no differences, 1 = differences, 2 = setup failure.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import jute  # noqa: E402
from jute import ACL, AddWatchMode, Mode, Op, WatcherType  # noqa: E402

ROOT = "/diff"
USER, PASSWORD = "differ", "s3cret"


def digest_id(user, password):
    import base64
    import hashlib
    h = hashlib.sha1(("%s:%s" % (user, password)).encode()).digest()
    return "%s:%s" % (user, base64.b64encode(h).decode())


class Recorder:
    def __init__(self, conn):
        self.c = conn
        self.base = None
        self.records = []

    # ---- normalisation ----
    def z(self, zxid):
        if zxid is None:
            return None
        if zxid == 0 or zxid == -1:
            return zxid
        return zxid - self.base

    def stat(self, st):
        if st is None:
            return None
        owner = st.ephemeralOwner
        if owner == self.c.session_id:
            owner = "SELF"
        return {
            "czxid": self.z(st.czxid), "mzxid": self.z(st.mzxid),
            "pzxid": self.z(st.pzxid), "version": st.version,
            "cversion": st.cversion, "aversion": st.aversion,
            "ephemeralOwner": owner, "dataLength": st.dataLength,
            "numChildren": st.numChildren,
        }

    def acls(self, acls):
        return None if acls is None else [list(a) for a in acls]

    # ---- recording ----
    def record(self, name, rep, result=None):
        if self.base is None:
            self.base = rep.zxid
        events = [[e.type, e.state, e.path] for e in self.c.events]
        self.c.events.clear()
        self.records.append({
            "i": len(self.records), "op": name,
            "err": rep.err, "zxid": self.z(rep.zxid), "result": result,
            "events": events,
        })

    def run(self, name, fn, *args, **kw):
        rep, res = fn(*args, **kw)
        if self.base is None:
            self.base = rep.zxid
        self.record(name, rep, self.shape(fn.__name__, rep, res))
        return rep, res

    def shape(self, kind, rep, res):
        if rep.err != 0 or res is None:
            return None
        if kind == "create":
            path, st = res
            return {"path": path, "stat": self.stat(st)}
        if kind in ("exists", "set_data", "set_acl"):
            return {"stat": self.stat(res)}
        if kind == "get_data":
            data, st = res
            return {"data": data.decode("latin-1") if data is not None
                    else None, "stat": self.stat(st)}
        if kind == "get_children":
            return {"children": sorted(res)}
        if kind == "get_children2":
            kids, st = res
            return {"children": sorted(kids), "stat": self.stat(st)}
        if kind == "get_acl":
            acls, st = res
            return {"acl": self.acls(acls), "stat": self.stat(st)}
        if kind in ("multi", "multi_read"):
            return [{"op": r.op, "err": r.err, "header_err": r.header_err,
                     "path": (r.path if not isinstance(r.path, bytes)
                              else r.path.decode("latin-1")),
                     "stat": self.stat(r.stat)} for r in res]
        if kind == "get_ephemerals":
            return sorted(res)
        if kind in ("get_all_children_number", "sync"):
            return res
        if kind == "whoami":
            return sorted([list(x) for x in res])
        return res


def script(c):
    """The scripted sequence; c is a connected jute.RawConnection."""
    R = Recorder(c)
    r = R.run
    A = ROOT + "/a"
    # --- basics ---
    r("create root", c.create, ROOT, b"root")
    r("create root again", c.create, ROOT, b"again")
    r("create a", c.create, A, b"A")
    r("create a/b", c.create, A + "/b", b"")
    r("exists a", c.exists, A)
    r("get a", c.get_data, A)
    r("set a v0", c.set_data, A, b"A2", 0)
    r("set a badversion", c.set_data, A, b"A3", 0)
    r("set a any", c.set_data, A, b"A3", -1)
    r("delete a notempty", c.delete, A)
    r("delete a/b badversion", c.delete, A + "/b", 5)
    r("delete a/b v0", c.delete, A + "/b", 0)
    r("exists a after child delete", c.exists, A)
    r("delete missing", c.delete, ROOT + "/missing")
    r("exists missing", c.exists, ROOT + "/missing")
    r("get missing", c.get_data, ROOT + "/missing")
    r("children2 missing", c.get_children2, ROOT + "/missing")
    r("create under missing", c.create, ROOT + "/nop/child")
    r("create bad path", c.create, "noslash")
    r("delete /", c.delete, "/")
    r("children2 root", c.get_children2, ROOT)
    # --- sequential / ephemeral ---
    for _ in range(3):
        r("create seq", c.create, ROOT + "/seq-", b"",
          None, Mode.PERSISTENT_SEQUENTIAL)
    r("create eseq", c.create, ROOT + "/eseq-", b"e",
      None, Mode.EPHEMERAL_SEQUENTIAL)
    r("create eph", c.create, ROOT + "/eph", b"e", None, Mode.EPHEMERAL)
    r("create under eph", c.create, ROOT + "/eph/child")
    r("children root", c.get_children, ROOT)
    r("delete seq0", c.delete, ROOT + "/seq-0000000001")
    r("create seq after delete", c.create, ROOT + "/seq-", b"",
      None, Mode.PERSISTENT_SEQUENTIAL)
    r("children2 root 2", c.get_children2, ROOT)
    # --- multi ---
    r("multi ok", c.multi, [
        jute.m_create(ROOT + "/m1", b"m"),
        jute.m_check(A, 2),
        jute.m_set_data(A, b"M"),
        jute.m_delete(ROOT + "/seq-0000000002"),
        jute.m_create(ROOT + "/mseq-", b"", flags=Mode.PERSISTENT_SEQUENTIAL),
    ])
    r("multi fail middle", c.multi, [
        jute.m_create(ROOT + "/m2"),
        jute.m_delete(ROOT + "/missing"),
        jute.m_set_data(A, b"never"),
    ])
    r("multi fail first", c.multi, [
        jute.m_check(A, 99),
        jute.m_create(ROOT + "/m3"),
    ])
    r("multi fail last", c.multi, [
        jute.m_create(ROOT + "/m4"),
        jute.m_create(ROOT + "/m4"),
    ])
    r("exists m2", c.exists, ROOT + "/m2")
    r("multi create2", c.multi, [
        jute.m_create(ROOT + "/m5", b"five", op=Op.CREATE2)])
    r("multi container+ttl+ephemeral", c.multi, [
        jute.m_create(ROOT + "/mc", b"", flags=Mode.CONTAINER,
                      op=Op.CREATE_CONTAINER),
        jute.m_create(ROOT + "/mt", b"", flags=Mode.PERSISTENT_WITH_TTL,
                      op=Op.CREATE_TTL, ttl=3600 * 1000),
        jute.m_create(ROOT + "/me", b"", flags=Mode.EPHEMERAL),
    ])
    r("exists mt", c.exists, ROOT + "/mt")
    r("multi empty", c.multi, [])
    r("multi read", c.multi_read, [
        jute.m_get_data(A), jute.m_get_children(ROOT + "/m1"),
        jute.m_get_data(ROOT + "/missing")])
    r("get a after multis", c.get_data, A)
    # --- ACLs ---
    r("getacl root", c.get_acl, ROOT)
    r("setacl a read-only", c.set_acl, A,
      [ACL(jute.Perm.READ | jute.Perm.ADMIN, "world", "anyone")], 0)
    r("setacl a badversion", c.set_acl, A, jute.OPEN_ACL_UNSAFE, 0)
    r("setacl a invalid", c.set_acl, A, [ACL(31, "foo", "bar")], -1)
    r("setacl a empty", c.set_acl, A, [], -1)
    r("set a noauth", c.set_data, A, b"no", -1)
    r("getacl a", c.get_acl, A)
    r("create digest-protected", c.create, ROOT + "/d", b"secret",
      [ACL(31, "digest", digest_id(USER, PASSWORD))])
    r("get digest-protected", c.get_data, ROOT + "/d")
    r("create auth acl unauthenticated", c.create, ROOT + "/auth0", b"",
      jute.CREATOR_ALL_ACL)
    rep, _ = c.add_auth("digest", ("%s:%s" % (USER, PASSWORD)).encode())
    R.record("addauth", rep)
    r("get digest-protected after auth", c.get_data, ROOT + "/d")
    r("create auth acl", c.create, ROOT + "/auth", b"", jute.CREATOR_ALL_ACL)
    r("getacl auth", c.get_acl, ROOT + "/auth")
    r("whoami", c.whoami)
    r("create ip acl", c.create, ROOT + "/ip", b"",
      [ACL(31, "ip", "127.0.0.1")])
    r("get ip acl", c.get_data, ROOT + "/ip")
    r("setacl a open", c.set_acl, A, jute.OPEN_ACL_UNSAFE, 1)
    # --- extended types ---
    r("create ttl", c.create, ROOT + "/ttl", b"t", None,
      Mode.PERSISTENT_WITH_TTL, 3600 * 1000)
    r("create ttl zero", c.create, ROOT + "/ttl0", b"t", None,
      Mode.PERSISTENT_WITH_TTL, 0)
    r("create ttl wrong mode", c.create, ROOT + "/ttl1", b"t", None,
      Mode.EPHEMERAL, 1000)
    r("create container", c.create, ROOT + "/cont", b"", None,
      Mode.CONTAINER)
    r("exists ttl", c.exists, ROOT + "/ttl")
    r("all children number", c.get_all_children_number, ROOT)
    r("ephemerals", c.get_ephemerals, ROOT)
    r("sync", c.sync, ROOT)
    # --- watches (events recorded with the reply that follows them) ---
    r("get a watch", c.get_data, A, True)
    r("set a triggers", c.set_data, A, b"W", -1)
    r("exists watch missing", c.exists, ROOT + "/w", True)
    r("children watch root", c.get_children, ROOT, True)
    r("create w triggers", c.create, ROOT + "/w", b"")
    r("add persistent recursive", c.add_watch, ROOT + "/w",
      AddWatchMode.PERSISTENT_RECURSIVE)
    r("create w/x", c.create, ROOT + "/w/x", b"")
    r("set w/x", c.set_data, ROOT + "/w/x", b"1", -1)
    r("delete w/x", c.delete, ROOT + "/w/x", -1)
    r("check watches w", c.check_watches, ROOT + "/w", WatcherType.ANY)
    r("remove watches w", c.remove_watches, ROOT + "/w", WatcherType.ANY)
    r("remove watches w again", c.remove_watches, ROOT + "/w",
      WatcherType.ANY)
    r("set w no watch", c.set_data, ROOT + "/w", b"2", -1)
    r("children2 root final", c.get_children2, ROOT)
    r("exists root final", c.exists, ROOT)
    rep = c.close_session()
    R.record("closeSession", rep)
    return R.records


def record_server(hosts):
    c = jute.connect(hosts, timeout_ms=30000)
    try:
        return script(c)
    finally:
        c.close_socket()


def record_target(kind, keep_dir=False):
    from harness import ZkServer
    srv = ZkServer(kind)
    try:
        srv.start()
        return record_server(srv.hosts)
    except Exception:
        sys.stderr.write("--- %s server log tail ---\n%s\n"
                         % (kind, srv.log_tail()))
        raise
    finally:
        srv.stop()
        if not keep_dir:
            import shutil
            shutil.rmtree(srv.base_dir, ignore_errors=True)


def diff(a, b, name_a="zookeeper", name_b="strom"):
    """Return a list of human readable differences."""
    out = []
    for i in range(max(len(a), len(b))):
        ra = a[i] if i < len(a) else None
        rb = b[i] if i < len(b) else None
        if ra != rb:
            op = (ra or rb)["op"]
            lines = ["#%d %s" % (i, op)]
            keys = sorted(set((ra or {}).keys()) | set((rb or {}).keys()))
            for k in keys:
                va = None if ra is None else ra.get(k)
                vb = None if rb is None else rb.get(k)
                if va != vb:
                    lines.append("    %s: %s=%s  %s=%s" % (
                        k, name_a, json.dumps(va), name_b, json.dumps(vb)))
            out.append("\n".join(lines))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", default="zookeeper,strom",
                    help="comma separated: zookeeper,strom")
    ap.add_argument("--hosts", help="record an already running server")
    ap.add_argument("--out", help="directory for records-*.json")
    args = ap.parse_args(argv)
    out_dir = Path(args.out or tempfile.mkdtemp(prefix="strom-diff-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    if args.hosts:
        results["hosts"] = record_server(args.hosts)
    else:
        for kind in [t.strip() for t in args.targets.split(",") if t.strip()]:
            name = kind
            while name in results:  # same target twice: determinism check
                name += "#2"
            t0 = time.time()
            try:
                results[name] = record_target(kind)
            except Exception:
                import traceback
                print("FAILED to record %s:\n%s"
                      % (kind, traceback.format_exc()))
                return 2
            print("recorded %d operations on %s in %.1fs"
                  % (len(results[name]), kind, time.time() - t0))
    for name, recs in results.items():
        p = out_dir / ("records-%s.json" % name)
        p.write_text(json.dumps(recs, indent=1))
        print("wrote %s" % p)
    names = list(results)
    if len(names) < 2:
        return 0
    diffs = diff(results[names[0]], results[names[1]], names[0], names[1])
    if diffs:
        print("%d differing operations:" % len(diffs))
        print("\n".join(diffs))
        return 1
    print("no differences (%d operations)" % len(results[names[0]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
