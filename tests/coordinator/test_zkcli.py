"""Drive ZooKeeper's own Java CLI (zkCli.sh from Debian's `zookeeper`
package, i.e. the unmodified Java client) against the server.

zkCli prints command results partly on stdout and partly on stderr
("Created /x", error messages), so both are merged and compared as text.
In single-command mode it exits without closing its session, so ephemerals
it creates outlive the process until the session times out.
"""

import atexit
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

import pytest
from kazoo.exceptions import NoAuthError
from kazoo.security import make_digest_acl_credential

from harness import wait_until

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"

pytestmark = pytest.mark.skipif(
    not os.access(ZKCLI, os.X_OK) or shutil.which("java") is None,
    reason="zkCli.sh (Debian package zookeeper) or java not installed")

NOISE = re.compile(
    r"^(SLF4J:.*|Connecting to .*|WATCHER::|Welcome to ZooKeeper!|"
    r"JLine support is .*|WatchedEvent state:SyncConnected type:None "
    r"path:null|WatchedEvent state:Closed type:None path:null|\s*)$")


def _env():
    home = tempfile.mkdtemp(prefix="zkcli-home-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        # Debian's zkEnv.sh (/etc/zookeeper/conf/environment) sets JAVA,
        # CLASSPATH and ZOO_LOG_DIR; nothing else is needed
    }


ENV = None


def env():
    global ENV
    if ENV is None:
        ENV = _env()
    return ENV


def clean(text):
    return [ln for ln in text.splitlines() if not NOISE.match(ln)]


def zkcli(zk, *args, timeout=60):
    """Run one zkCli command; returns (exit code, cleaned output lines)."""
    p = subprocess.run([ZKCLI, "-server", zk.hosts] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, env=env(), timeout=timeout)
    return p.returncode, clean(p.stdout.decode("utf-8", "replace"))


def zkcli_script(zk, commands, timeout=60):
    """Feed several commands on stdin to one zkCli session."""
    script = "".join(c + "\n" for c in commands) + "quit\n"
    p = subprocess.run([ZKCLI, "-server", zk.hosts], input=script.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=env(), timeout=timeout)
    return p.returncode, clean(p.stdout.decode("utf-8", "replace"))


def parse_stat(lines):
    keys = ("cZxid", "mZxid", "pZxid", "cversion", "dataVersion",
            "aclVersion", "ephemeralOwner", "dataLength", "numChildren")
    out = {}
    for ln in lines:
        m = re.match(r"^(\w+) = (.*)$", ln)
        if m and m.group(1) in keys:
            v = m.group(2)
            out[m.group(1)] = int(v, 16) if v.startswith("0x") else int(v)
    return out


def stat_dict(st):
    return {"cZxid": st.czxid, "mZxid": st.mzxid, "pZxid": st.pzxid,
            "cversion": st.cversion, "dataVersion": st.version,
            "aclVersion": st.aversion, "ephemeralOwner": st.ephemeralOwner,
            "dataLength": st.dataLength, "numChildren": st.numChildren}


class CliSession:
    """An interactive zkCli process (commands written to stdin, output read
    by a thread) so that watch notifications can be observed."""

    def __init__(self, zk):
        self.proc = subprocess.Popen(
            [ZKCLI, "-server", zk.hosts], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env())
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.marker = 0

    def _read(self):
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()

    def send(self, cmd):
        self.proc.stdin.write((cmd + "\n").encode())
        self.proc.stdin.flush()

    def wait_for(self, pred, timeout=30):
        deadline = time.time() + timeout
        with self.cond:
            while True:
                if pred(self.lines):
                    return True
                left = deadline - time.time()
                if left <= 0:
                    return False
                self.cond.wait(left)

    def wait_line(self, text, timeout=30, start=0):
        return self.wait_for(lambda ls: any(text in ln for ln in ls[start:]),
                             timeout)

    def sync(self, timeout=30):
        """Round trip through the CLI: all earlier commands are done."""
        self.marker += 1
        path = "/zkcli-sync-marker-%d" % self.marker
        self.send("stat %s" % path)
        assert self.wait_line("Node does not exist: %s" % path, timeout), \
            "\n".join(self.lines)

    def events(self):
        with self.cond:
            return [ln for ln in self.lines if ln.startswith("WatchedEvent")]

    def close(self):
        try:
            self.send("quit")
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def cli_session(zk):
    sessions = []

    def make():
        s = CliSession(zk)
        sessions.append(s)
        assert s.wait_line("type:None path:null", 60), "\n".join(s.lines)
        return s

    yield make
    for s in sessions:
        s.close()


# ----------------------------------------------------------------------


def test_create_get_set_stat(zk, client, base):
    p = base + "/cli"
    assert zkcli(zk, "create", p, "hello") == (0, ["Created " + p])
    assert zkcli(zk, "get", p) == (0, ["hello"])
    rc, out = zkcli(zk, "set", p, "world")
    assert rc == 0 and out == []
    rc, out = zkcli(zk, "get", "-s", p)
    assert rc == 0 and out[0] == "world"
    st = parse_stat(out)
    assert st == stat_dict(client.exists(p))
    assert st["dataVersion"] == 1 and st["dataLength"] == 5
    rc, out = zkcli(zk, "stat", p)
    assert rc == 0 and parse_stat(out) == stat_dict(client.exists(p))
    assert client.get(p)[0] == b"world"
    rc, out = zkcli(zk, "set", "-v", "1", p, "again")
    assert rc == 0
    assert client.get(p)[1].version == 2


def test_ls_variants(zk, client, base):
    for q in ("/b", "/a", "/a/x", "/c"):
        client.create(base + q)
    rc, out = zkcli(zk, "ls", base)
    assert rc == 0 and out == ["[a, b, c]"]
    rc, out = zkcli(zk, "ls", "-s", base)
    assert rc == 0 and out[0] == "[a, b, c]"
    assert parse_stat(out) == stat_dict(client.exists(base))
    rc, out = zkcli(zk, "ls", "-R", base)
    assert rc == 0
    # breadth first, children sorted
    assert out == [base, base + "/a", base + "/b", base + "/c",
                   base + "/a/x"]


def test_errors_and_exit_codes(zk, client, base):
    p = base + "/e"
    client.create(p + "/kid", makepath=True)
    assert zkcli(zk, "create", p) == (1, ["Node already exists: " + p])
    assert zkcli(zk, "get", base + "/nope") == (
        1, ["Node does not exist: %s/nope" % base])
    assert zkcli(zk, "create", base + "/x/y/z") == (
        1, ["Node does not exist: %s/x/y/z" % base])
    assert zkcli(zk, "delete", p) == (1, ["Node not empty: " + p])
    assert zkcli(zk, "set", "-v", "7", p, "d") == (
        1, ["version No is not valid : " + p])
    assert zkcli(zk, "delete", "-v", "3", p + "/kid") == (
        1, ["version No is not valid : %s/kid" % p])


def test_delete_and_deleteall(zk, client, base):
    client.create(base + "/d")
    assert zkcli(zk, "delete", base + "/d") == (0, [])
    assert client.exists(base + "/d") is None
    for q in ("/t/a/1", "/t/a/2", "/t/b"):
        client.create(base + q, makepath=True)
    assert zkcli(zk, "deleteall", base + "/t") == (0, [])
    assert client.exists(base + "/t") is None


def test_create_modes(zk, client, base):
    rc, out = zkcli(zk, "create", "-s", base + "/seq-", "v")
    assert rc == 0 and out == ["Created %s/seq-0000000000" % base]
    rc, out = zkcli(zk, "create", "-s", base + "/seq-")
    assert out == ["Created %s/seq-0000000001" % base]

    rc, out = zkcli(zk, "create", "-e", base + "/eph", "e")
    assert rc == 0 and out == ["Created %s/eph" % base]
    st = client.exists(base + "/eph")
    # the CLI exits without closing its session: a dropped connection does
    # not end the session, so the ephemeral lingers (owned by the CLI's
    # session) until that session expires
    assert st is not None
    assert st.ephemeralOwner not in (0, client.client_id[0])

    rc, out = zkcli(zk, "create", "-e", "-s", base + "/es-")
    assert rc == 0 and re.fullmatch(r"Created %s/es-\d{10}" % re.escape(base),
                                    out[0])

    rc, out = zkcli(zk, "create", "-c", base + "/box")
    assert rc == 0 and out == ["Created %s/box" % base]
    client.create(base + "/box/item")
    client.delete(base + "/box/item")
    assert wait_until(lambda: client.exists(base + "/box") is None, 15)

    rc, out = zkcli(zk, "create", "-t", "400", base + "/ttl", "t")
    assert rc == 0 and out == ["Created %s/ttl" % base]
    assert wait_until(lambda: client.exists(base + "/ttl") is None, 15)


def test_acl_commands(zk, client, base):
    p = base + "/acl"
    client.create(p, b"x")
    assert zkcli(zk, "getAcl", p) == (0, ["'world,'anyone", ": cdrwa"])
    rc, out = zkcli(zk, "setAcl", "-v", "3", p, "world:anyone:cdrwa")
    assert rc == 1 and out == ["version No is not valid : " + p]
    assert zkcli(zk, "setAcl", "-v", "0", p, "world:anyone:r") == (0, [])
    assert zkcli(zk, "getAcl", p) == (0, ["'world,'anyone", ": r"])
    assert client.get_acls(p)[1].aversion == 1
    with pytest.raises(NoAuthError):
        client.set(p, b"y")
    rc, out = zkcli(zk, "set", p, "z")
    assert rc == 1 and out == ["Insufficient permission : " + p]
    # no ADMIN permission any more
    rc, out = zkcli(zk, "setAcl", p, "world:anyone:cdrwa")
    assert rc == 1 and out == ["Insufficient permission : " + p]


def test_addauth_and_auth_acl(zk, client, base):
    p = base + "/mine"
    rc, out = zkcli_script(zk, [
        "addauth digest zkuser:zkpw",
        "create %s secret auth::cdrwa" % p,
        "getAcl %s" % p,
        "get %s" % p,
    ])
    assert rc == 0
    cred = make_digest_acl_credential("zkuser", "zkpw")
    assert "Created " + p in out
    i = out.index("'digest,'" + cred)
    assert out[i + 1] == ": cdrwa"
    assert out[-1] == "secret"
    with pytest.raises(NoAuthError):
        client.get(p)
    rc, out = zkcli(zk, "get", p)
    assert rc == 1 and out == ["Insufficient permission : " + p]


def test_whoami(zk):
    rc, out = zkcli(zk, "whoami")
    assert rc == 0 and out == ["Auth scheme: User", "ip: 127.0.0.1"]
    rc, out = zkcli_script(zk, ["addauth digest someone:pw", "whoami"])
    assert rc == 0
    i = out.index("Auth scheme: User")
    # the identities' order is not specified
    assert sorted(out[i + 1:]) == ["digest: someone", "ip: 127.0.0.1"]


def test_get_ephemerals_and_all_children_number(zk, kazoo_factory, base):
    c = kazoo_factory()
    c.create(base + "/n/a/b", makepath=True)
    c.create(base + "/n/c")
    assert zkcli(zk, "getAllChildrenNumber", base + "/n") == (0, ["3"])
    rc, out = zkcli_script(zk, [
        "create -e %s/e1" % base,
        "create -e %s/e2" % base,
        "getEphemerals %s" % base,
    ])
    assert rc == 0
    assert out[-1] in ("[%s/e1, %s/e2]" % (base, base),
                       "[%s/e2, %s/e1]" % (base, base))


def test_sync_command(zk, base):
    rc, out = zkcli(zk, "sync", base)
    assert rc == 0
    assert any("Sync is OK" in ln for ln in out), out


def test_add_watch_persistent_recursive(zk, client, base, cli_session):
    s = cli_session()
    s.send("addWatch -m PERSISTENT_RECURSIVE %s" % base)
    s.sync()
    client.create(base + "/a")
    client.set(base + "/a", b"1")
    client.create(base + "/a/b")
    client.delete(base + "/a/b")
    expected = [
        "WatchedEvent state:SyncConnected type:NodeCreated path:%s/a" % base,
        "WatchedEvent state:SyncConnected type:NodeDataChanged path:%s/a"
        % base,
        "WatchedEvent state:SyncConnected type:NodeCreated path:%s/a/b"
        % base,
        "WatchedEvent state:SyncConnected type:NodeDeleted path:%s/a/b"
        % base,
    ]
    assert s.wait_for(lambda ls: len(
        [x for x in ls if x.startswith("WatchedEvent") and base in x]) >= 4)
    s.sync()
    assert [e for e in s.events() if base in e] == expected


def test_add_watch_persistent(zk, client, base, cli_session):
    s = cli_session()
    s.send("addWatch %s" % base)  # default mode: PERSISTENT_RECURSIVE
    s.send("addWatch -m PERSISTENT %s/p" % base)
    s.sync()
    client.create(base + "/p")
    client.create(base + "/p/k")
    client.set(base + "/p", b"1")
    client.set(base + "/p", b"2")
    ev = "WatchedEvent state:SyncConnected type:%s path:%s"
    assert s.wait_for(lambda ls: sum(
        1 for x in ls if x.startswith("WatchedEvent") and base in x) >= 5)
    s.sync()
    # one Java client watcher: an event matching both the recursive watch
    # on base and the persistent watch on base/p is printed once.  Events of
    # one transaction (NodeCreated p/k, NodeChildrenChanged p) are compared
    # as a multiset.
    events = [e for e in s.events() if base in e]
    assert sorted(events) == sorted([
        ev % ("NodeCreated", base + "/p"),
        ev % ("NodeCreated", base + "/p/k"),
        ev % ("NodeChildrenChanged", base + "/p"),
        ev % ("NodeDataChanged", base + "/p"),
        ev % ("NodeDataChanged", base + "/p")]), events
    assert events[0] == ev % ("NodeCreated", base + "/p")
    assert events[-2:] == [ev % ("NodeDataChanged", base + "/p")] * 2


def test_one_shot_watches(zk, client, base, cli_session):
    s = cli_session()
    client.create(base + "/w", b"0")
    s.send("get -w %s/w" % base)
    s.send("ls -w %s" % base)
    s.send("stat -w %s/new" % base)
    s.sync()
    client.set(base + "/w", b"1")
    client.set(base + "/w", b"2")          # no second event
    client.create(base + "/new")           # NodeCreated + children changed
    ev = "WatchedEvent state:SyncConnected type:%s path:%s"
    want = {ev % ("NodeDataChanged", base + "/w"),
            ev % ("NodeCreated", base + "/new"),
            ev % ("NodeChildrenChanged", base)}
    assert s.wait_for(lambda ls: want <= set(ls), 30), s.lines
    client.create(base + "/more")
    s.sync()
    assert sorted(e for e in s.events() if base in e) == sorted(want)


def test_java_client_reregisters_watches_after_restart(
        zk, client, base, cli_session):
    """The Java client re-sends its watches after reconnecting (SetWatches,
    opcode 101, for standard watches; SetWatches2, opcode 105, as soon as
    persistent watches exist).  Restart the server in between."""
    std = cli_session()        # standard watches only -> SetWatches
    pers = cli_session()       # persistent watch -> SetWatches2
    client.create(base + "/d", b"0")
    client.create(base + "/kids")
    std.send("get -w %s/d" % base)
    std.send("ls -w %s/kids" % base)
    std.send("stat -w %s/missing" % base)
    std.sync()
    pers.send("addWatch -m PERSISTENT_RECURSIVE %s/kids" % base)
    pers.send("get -w %s/d" % base)
    pers.sync()
    n_std, n_pers = len(std.lines), len(pers.lines)
    try:
        zk.kill()
    finally:
        zk.start()
    for s, n in ((std, n_std), (pers, n_pers)):
        assert s.wait_line("type:None path:null", 60, start=n), s.lines[n:]
        # the Java client sends SetWatches only after the ConnectResponse
        # (i.e. after printing SyncConnected): a round trip on the same
        # connection makes sure the server has processed it
        s.sync()
    # wait for kazoo too, then make the changes
    assert wait_until(lambda: client.connected, 60)
    client.set(base + "/d", b"1")
    client.create(base + "/kids/k1")
    client.create(base + "/missing")
    ev = "WatchedEvent state:SyncConnected type:%s path:%s"
    want_std = {ev % ("NodeDataChanged", base + "/d"),
                ev % ("NodeChildrenChanged", base + "/kids"),
                ev % ("NodeCreated", base + "/missing")}
    want_pers = {ev % ("NodeDataChanged", base + "/d"),
                 ev % ("NodeCreated", base + "/kids/k1")}
    assert std.wait_for(lambda ls: want_std <= set(ls), 30), \
        "\n".join(std.lines)
    assert pers.wait_for(lambda ls: want_pers <= set(ls), 30), \
        "\n".join(pers.lines)
    # the persistent watch is still there after being re-registered
    client.set(base + "/kids/k1", b"x")
    assert pers.wait_line(ev % ("NodeDataChanged", base + "/kids/k1"), 30)
