"""A tiny, dependency-free implementation of the ZooKeeper client wire protocol
(jute serialisation) used by the raw-socket tests and by differential.py.

It deliberately speaks the protocol exactly as the Java client does, so the
tests can drive things kazoo does not expose (TTL nodes, persistent watches,
getEphemerals, getAllChildrenNumber, whoAmI, pipelining, malformed frames).

Only the standard library is used.
"""

import socket
import struct
import time
from collections import namedtuple

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------


class Op:
    NOTIFICATION = 0
    CREATE = 1
    DELETE = 2
    EXISTS = 3
    GET_DATA = 4
    SET_DATA = 5
    GET_ACL = 6
    SET_ACL = 7
    GET_CHILDREN = 8
    SYNC = 9
    PING = 11
    GET_CHILDREN2 = 12
    CHECK = 13
    MULTI = 14
    CREATE2 = 15
    RECONFIG = 16
    CHECK_WATCHES = 17
    REMOVE_WATCHES = 18
    CREATE_CONTAINER = 19
    DELETE_CONTAINER = 20
    CREATE_TTL = 21
    MULTI_READ = 22
    AUTH = 100
    SET_WATCHES = 101
    SASL = 102
    GET_EPHEMERALS = 103
    GET_ALL_CHILDREN_NUMBER = 104
    SET_WATCHES2 = 105
    ADD_WATCH = 106
    WHO_AM_I = 107
    CREATE_SESSION = -10
    CLOSE_SESSION = -11
    ERROR = -1


class Err:
    OK = 0
    SYSTEMERROR = -1
    RUNTIMEINCONSISTENCY = -2
    DATAINCONSISTENCY = -3
    CONNECTIONLOSS = -4
    MARSHALLINGERROR = -5
    UNIMPLEMENTED = -6
    OPERATIONTIMEOUT = -7
    BADARGUMENTS = -8
    UNKNOWNSESSION = -12
    APIERROR = -100
    NONODE = -101
    NOAUTH = -102
    BADVERSION = -103
    NOCHILDRENFOREPHEMERALS = -108
    NODEEXISTS = -110
    NOTEMPTY = -111
    SESSIONEXPIRED = -112
    INVALIDCALLBACK = -113
    INVALIDACL = -114
    AUTHFAILED = -115
    SESSIONMOVED = -118
    NOTREADONLY = -119
    EPHEMERALONLOCALSESSION = -120
    NOWATCHER = -121
    REQUESTTIMEOUT = -122
    RECONFIGDISABLED = -123
    THROTTLEDOP = -127


class Mode:
    """CreateMode flag values."""
    PERSISTENT = 0
    EPHEMERAL = 1
    PERSISTENT_SEQUENTIAL = 2
    EPHEMERAL_SEQUENTIAL = 3
    CONTAINER = 4
    PERSISTENT_WITH_TTL = 5
    PERSISTENT_SEQUENTIAL_WITH_TTL = 6


class Ev:
    """WatchedEvent types."""
    NONE = -1
    NODE_CREATED = 1
    NODE_DELETED = 2
    NODE_DATA_CHANGED = 3
    NODE_CHILDREN_CHANGED = 4
    DATA_WATCH_REMOVED = 5
    CHILD_WATCH_REMOVED = 6
    PERSISTENT_WATCH_REMOVED = 7


class WatcherType:
    CHILDREN = 1
    DATA = 2
    ANY = 3


class AddWatchMode:
    PERSISTENT = 0
    PERSISTENT_RECURSIVE = 1


class Perm:
    READ = 1
    WRITE = 2
    CREATE = 4
    DELETE = 8
    ADMIN = 16
    ALL = 31


XID_NOTIFICATION = -1
XID_PING = -2
XID_AUTH = -4
XID_SET_WATCHES = -8

ACL = namedtuple("ACL", "perms scheme id")
OPEN_ACL_UNSAFE = [ACL(Perm.ALL, "world", "anyone")]
READ_ACL_UNSAFE = [ACL(Perm.READ, "world", "anyone")]
CREATOR_ALL_ACL = [ACL(Perm.ALL, "auth", "")]

Stat = namedtuple(
    "Stat",
    "czxid mzxid ctime mtime version cversion aversion ephemeralOwner "
    "dataLength numChildren pzxid",
)
Reply = namedtuple("Reply", "xid zxid err body")
Event = namedtuple("Event", "type state path")
ConnectResponse = namedtuple(
    "ConnectResponse", "protocol_version timeout session_id passwd read_only")


# --------------------------------------------------------------------------
# Encoder / decoder
# --------------------------------------------------------------------------


class Writer:
    def __init__(self):
        self.parts = []

    def int(self, v):
        self.parts.append(struct.pack(">i", v))
        return self

    def long(self, v):
        self.parts.append(struct.pack(">q", v))
        return self

    def bool(self, v):
        self.parts.append(b"\x01" if v else b"\x00")
        return self

    def buffer(self, b):
        if b is None:
            return self.int(-1)
        self.int(len(b))
        self.parts.append(bytes(b))
        return self

    def string(self, s):
        if s is None:
            return self.int(-1)
        return self.buffer(s.encode("utf-8"))

    def strings(self, items):
        if items is None:
            return self.int(-1)
        self.int(len(items))
        for s in items:
            self.string(s)
        return self

    def acls(self, acls):
        if acls is None:
            return self.int(-1)
        self.int(len(acls))
        for a in acls:
            self.int(a.perms).string(a.scheme).string(a.id)
        return self

    def raw(self, b):
        self.parts.append(bytes(b))
        return self

    def bytes(self):
        return b"".join(self.parts)


class Reader:
    def __init__(self, data, offset=0):
        self.data = data
        self.off = offset

    def remaining(self):
        return len(self.data) - self.off

    def _take(self, n):
        if self.off + n > len(self.data):
            raise ValueError("short read: want %d at %d of %d"
                             % (n, self.off, len(self.data)))
        b = self.data[self.off:self.off + n]
        self.off += n
        return b

    def int(self):
        return struct.unpack(">i", self._take(4))[0]

    def long(self):
        return struct.unpack(">q", self._take(8))[0]

    def bool(self):
        return self._take(1) != b"\x00"

    def buffer(self):
        n = self.int()
        if n < 0:
            return None
        return self._take(n)

    def string(self):
        b = self.buffer()
        return None if b is None else b.decode("utf-8")

    def strings(self):
        n = self.int()
        if n < 0:
            return None
        return [self.string() for _ in range(n)]

    def stat(self):
        return Stat(self.long(), self.long(), self.long(), self.long(),
                    self.int(), self.int(), self.int(), self.long(),
                    self.int(), self.int(), self.long())

    def acls(self):
        n = self.int()
        if n < 0:
            return None
        return [ACL(self.int(), self.string(), self.string()) for _ in range(n)]


# --------------------------------------------------------------------------
# Request body encoders (without the request header)
# --------------------------------------------------------------------------


def connect_request(session_id=0, passwd=b"\x00" * 16, timeout_ms=10000,
                    last_zxid=0, read_only=False, include_read_only=True):
    w = Writer().int(0).long(last_zxid).int(timeout_ms).long(session_id)
    w.buffer(passwd)
    if include_read_only:
        w.bool(read_only)
    return w.bytes()


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def request(xid, op, body=b""):
    return frame(struct.pack(">ii", xid, op) + body)


def enc_create(path, data=b"", acl=None, flags=0, ttl=None):
    w = Writer().string(path).buffer(data).acls(
        OPEN_ACL_UNSAFE if acl is None else acl).int(flags)
    if ttl is not None:
        w.long(ttl)
    return w.bytes()


def enc_path_version(path, version):
    return Writer().string(path).int(version).bytes()


def enc_path_watch(path, watch):
    return Writer().string(path).bool(watch).bytes()


def enc_set_data(path, data, version=-1):
    return Writer().string(path).buffer(data).int(version).bytes()


def enc_path(path):
    return Writer().string(path).bytes()


def enc_set_acl(path, acl, version=-1):
    return Writer().string(path).acls(acl).int(version).bytes()


def enc_path_int(path, v):
    return Writer().string(path).int(v).bytes()


# multi operations: list of (op, body) tuples built with the helpers below
def m_create(path, data=b"", acl=None, flags=0, op=Op.CREATE, ttl=None):
    return (op, enc_create(path, data, acl, flags, ttl))


def m_delete(path, version=-1):
    return (Op.DELETE, enc_path_version(path, version))


def m_set_data(path, data, version=-1):
    return (Op.SET_DATA, enc_set_data(path, data, version))


def m_check(path, version):
    return (Op.CHECK, enc_path_version(path, version))


def m_get_data(path):
    return (Op.GET_DATA, enc_path_watch(path, False))


def m_get_children(path):
    return (Op.GET_CHILDREN, enc_path_watch(path, False))


def enc_multi(ops):
    w = Writer()
    for op, body in ops:
        w.int(op).bool(False).int(-1).raw(body)
    w.int(-1).bool(True).int(-1)
    return w.bytes()


# for multiRead results `path` holds the data (GET_DATA) or the children
# list (GET_CHILDREN)
# header_err is the err field of the result's MultiHeader (ZooKeeper: 0 for
# a successful op, the error code for an ErrorResult)
MultiResult = namedtuple("MultiResult", "op err path stat header_err")


def dec_multi(body):
    r = Reader(body)
    results = []
    while True:
        typ = r.int()
        done = r.bool()
        herr = r.int()
        if done:
            break
        if typ == Op.ERROR:
            results.append(MultiResult(typ, r.int(), None, None, herr))
        elif typ == Op.CREATE:
            results.append(MultiResult(typ, 0, r.string(), None, herr))
        elif typ in (Op.CREATE2, Op.CREATE_TTL, Op.CREATE_CONTAINER):
            results.append(MultiResult(typ, 0, r.string(), r.stat(), herr))
        elif typ == Op.SET_DATA:
            results.append(MultiResult(typ, 0, None, r.stat(), herr))
        elif typ in (Op.DELETE, Op.CHECK):
            results.append(MultiResult(typ, 0, None, None, herr))
        elif typ == Op.GET_DATA:      # multiRead
            results.append(MultiResult(typ, 0, r.buffer(), r.stat(), herr))
        elif typ == Op.GET_CHILDREN:  # multiRead
            results.append(MultiResult(typ, 0, r.strings(), None, herr))
        else:
            raise ValueError("unexpected multi result type %d" % typ)
    return results


# --------------------------------------------------------------------------
# Raw connection
# --------------------------------------------------------------------------


class ZkError(Exception):
    def __init__(self, err, op=None):
        super().__init__("zookeeper error %d (op %s)" % (err, op))
        self.err = err


class ConnectionClosed(Exception):
    pass


def parse_hosts(hosts):
    host, port = hosts.rsplit(":", 1)
    return host, int(port)


class RawConnection:
    """A plain TCP connection speaking the ZooKeeper framing.

    No background thread: replies are read synchronously; watch
    notifications that arrive while waiting for a reply are stored in
    self.events (in arrival order, interleaved with replies in self.log).
    """

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.events = []
        self.log = []  # sequence of ("reply", xid) / ("event", Event)
        self.next_xid = 1
        self.session_id = None
        self.passwd = None
        self.negotiated_timeout = None

    # ---- low level ----
    def send(self, data):
        self.sock.sendall(data)

    def recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionClosed("connection closed by server")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self):
        (n,) = struct.unpack(">i", self.recv_exact(4))
        return self.recv_exact(n)

    def is_closed(self, wait=5.0):
        """True if the peer closes the connection within `wait` seconds
        (any pending bytes are drained)."""
        deadline = time.time() + wait
        old = self.sock.gettimeout()
        try:
            while time.time() < deadline:
                self.sock.settimeout(max(0.05, deadline - time.time()))
                try:
                    chunk = self.sock.recv(65536)
                except socket.timeout:
                    return False
                except (ConnectionResetError, BrokenPipeError):
                    return True
                if not chunk:
                    return True
                self.buf += chunk
            return False
        finally:
            try:
                self.sock.settimeout(old)
            except OSError:
                pass

    def close_socket(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- session ----
    def send_connect(self, **kw):
        self.send(frame(connect_request(**kw)))

    def read_connect_response(self):
        body = self.read_frame()
        r = Reader(body)
        pv, to, sid, pw = r.int(), r.int(), r.long(), r.buffer()
        ro = r.bool() if r.remaining() >= 1 else None
        self.session_id, self.passwd, self.negotiated_timeout = sid, pw, to
        return ConnectResponse(pv, to, sid, pw, ro)

    def handshake(self, **kw):
        self.send_connect(**kw)
        return self.read_connect_response()

    # ---- requests ----
    def alloc_xid(self):
        xid = self.next_xid
        self.next_xid += 1
        return xid

    def send_request(self, op, body=b"", xid=None):
        if xid is None:
            xid = self.alloc_xid()
        self.send(request(xid, op, body))
        return xid

    def read_reply(self):
        """Next non-notification reply (notifications are queued)."""
        while True:
            body = self.read_frame()
            r = Reader(body)
            xid, zxid, err = r.int(), r.long(), r.int()
            if xid == XID_NOTIFICATION:
                ev = Event(r.int(), r.int(), r.string())
                self.events.append(ev)
                self.log.append(("event", ev))
                continue
            self.log.append(("reply", xid))
            return Reply(xid, zxid, err, body[16:])

    def call(self, op, body=b""):
        xid = self.send_request(op, body)
        rep = self.read_reply()
        if rep.xid != xid:
            raise AssertionError("reply xid %d != request xid %d"
                                 % (rep.xid, xid))
        return rep

    def wait_event(self, timeout=10.0, pred=None):
        """Return the first queued event satisfying pred, reading more
        frames (pinging to keep the session alive) until timeout."""
        deadline = time.time() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if pred is None or pred(ev):
                    return self.events.pop(i)
            left = deadline - time.time()
            if left <= 0:
                return None
            old = self.sock.gettimeout()
            self.sock.settimeout(min(left, 1.0))
            try:
                body = self.read_frame()
            except socket.timeout:
                self.sock.settimeout(old)
                self.ping()
                continue
            self.sock.settimeout(old)
            r = Reader(body)
            xid = r.int()
            r.long()
            r.int()
            if xid == XID_NOTIFICATION:
                ev = Event(r.int(), r.int(), r.string())
                self.events.append(ev)
                self.log.append(("event", ev))
            # anything else (e.g. a ping reply) is ignored

    def drain_events(self, wait=0.5):
        """Collect notifications arriving within `wait` seconds (a ping is
        used as a barrier so nothing already sent is missed)."""
        time.sleep(wait)
        self.ping()
        out, self.events = self.events, []
        return out

    # ---- convenience wrappers; return (Reply, decoded) ----
    def ping(self):
        self.send(request(XID_PING, Op.PING))
        while True:
            body = self.read_frame()
            r = Reader(body)
            xid, zxid, err = r.int(), r.long(), r.int()
            if xid == XID_NOTIFICATION:
                ev = Event(r.int(), r.int(), r.string())
                self.events.append(ev)
                self.log.append(("event", ev))
                continue
            if xid == XID_PING:
                return Reply(xid, zxid, err, b"")
            raise AssertionError("unexpected xid %d while waiting for ping"
                                 % xid)

    def create(self, path, data=b"", acl=None, flags=0, ttl=None, op=None):
        if op is None:
            if ttl is not None:
                op = Op.CREATE_TTL
            elif flags == Mode.CONTAINER:
                op = Op.CREATE_CONTAINER
            else:
                op = Op.CREATE2
        rep = self.call(op, enc_create(path, data, acl, flags, ttl))
        if rep.err:
            return rep, None
        r = Reader(rep.body)
        p = r.string()
        st = r.stat() if op != Op.CREATE else None
        return rep, (p, st)

    def delete(self, path, version=-1):
        return self.call(Op.DELETE, enc_path_version(path, version)), None

    def exists(self, path, watch=False):
        rep = self.call(Op.EXISTS, enc_path_watch(path, watch))
        return rep, (Reader(rep.body).stat() if rep.err == 0 else None)

    def get_data(self, path, watch=False):
        rep = self.call(Op.GET_DATA, enc_path_watch(path, watch))
        if rep.err:
            return rep, None
        r = Reader(rep.body)
        return rep, (r.buffer(), r.stat())

    def set_data(self, path, data, version=-1):
        rep = self.call(Op.SET_DATA, enc_set_data(path, data, version))
        return rep, (Reader(rep.body).stat() if rep.err == 0 else None)

    def get_acl(self, path):
        rep = self.call(Op.GET_ACL, enc_path(path))
        if rep.err:
            return rep, None
        r = Reader(rep.body)
        return rep, (r.acls(), r.stat())

    def set_acl(self, path, acl, version=-1):
        rep = self.call(Op.SET_ACL, enc_set_acl(path, acl, version))
        return rep, (Reader(rep.body).stat() if rep.err == 0 else None)

    def get_children(self, path, watch=False):
        rep = self.call(Op.GET_CHILDREN, enc_path_watch(path, watch))
        return rep, (Reader(rep.body).strings() if rep.err == 0 else None)

    def get_children2(self, path, watch=False):
        rep = self.call(Op.GET_CHILDREN2, enc_path_watch(path, watch))
        if rep.err:
            return rep, None
        r = Reader(rep.body)
        return rep, (r.strings(), r.stat())

    def sync(self, path):
        rep = self.call(Op.SYNC, enc_path(path))
        return rep, (Reader(rep.body).string() if rep.err == 0 else None)

    def check(self, path, version):
        # a bare check (opcode 13) outside a multi
        return self.call(Op.CHECK, enc_path_version(path, version)), None

    def multi(self, ops):
        rep = self.call(Op.MULTI, enc_multi(ops))
        # A multi reply carries its results even when a sub-op failed.
        try:
            res = dec_multi(rep.body)
        except ValueError:
            res = None
        return rep, res

    def multi_read(self, ops):
        rep = self.call(Op.MULTI_READ, enc_multi(ops))
        return rep, (dec_multi(rep.body) if rep.err == 0 else None)

    def add_auth(self, scheme, auth):
        w = Writer().int(0).string(scheme).buffer(auth)
        self.send(request(XID_AUTH, Op.AUTH, w.bytes()))
        while True:
            body = self.read_frame()
            r = Reader(body)
            xid, zxid, err = r.int(), r.long(), r.int()
            if xid == XID_NOTIFICATION:
                ev = Event(r.int(), r.int(), r.string())
                self.events.append(ev)
                continue
            return Reply(xid, zxid, err, body[16:]), None

    def add_watch(self, path, mode):
        return self.call(Op.ADD_WATCH, enc_path_int(path, mode)), None

    def remove_watches(self, path, wtype):
        return self.call(Op.REMOVE_WATCHES, enc_path_int(path, wtype)), None

    def check_watches(self, path, wtype):
        return self.call(Op.CHECK_WATCHES, enc_path_int(path, wtype)), None

    def get_ephemerals(self, prefix):
        rep = self.call(Op.GET_EPHEMERALS, enc_path(prefix))
        return rep, (Reader(rep.body).strings() if rep.err == 0 else None)

    def get_all_children_number(self, path):
        rep = self.call(Op.GET_ALL_CHILDREN_NUMBER, enc_path(path))
        return rep, (Reader(rep.body).int() if rep.err == 0 else None)

    def whoami(self):
        rep = self.call(Op.WHO_AM_I)
        if rep.err:
            return rep, None
        r = Reader(rep.body)
        n = r.int()
        return rep, [(r.string(), r.string()) for _ in range(max(n, 0))]

    def set_watches(self, rel_zxid, data=(), exist=(), child=()):
        w = Writer().long(rel_zxid).strings(list(data)).strings(
            list(exist)).strings(list(child))
        self.send(request(XID_SET_WATCHES, Op.SET_WATCHES, w.bytes()))
        while True:
            rep = self.read_reply()
            if rep.xid == XID_SET_WATCHES:
                return rep, None

    def set_watches2(self, rel_zxid, data=(), exist=(), child=(),
                     persistent=(), persistent_recursive=()):
        w = Writer().long(rel_zxid)
        for items in (data, exist, child, persistent, persistent_recursive):
            w.strings(list(items))
        self.send(request(XID_SET_WATCHES, Op.SET_WATCHES2, w.bytes()))
        while True:
            rep = self.read_reply()
            if rep.xid == XID_SET_WATCHES:
                return rep, None

    def close_session(self):
        try:
            rep = self.call(Op.CLOSE_SESSION)
        except (ConnectionClosed, OSError):
            rep = None
        self.close_socket()
        return rep


def connect(hosts, timeout_ms=10000, session_id=0, passwd=b"\x00" * 16,
            include_read_only=True, sock_timeout=10.0):
    """Open a connection and establish (or resume) a session."""
    host, port = parse_hosts(hosts)
    c = RawConnection(host, port, timeout=sock_timeout)
    resp = c.handshake(session_id=session_id, passwd=passwd,
                       timeout_ms=timeout_ms,
                       include_read_only=include_read_only)
    c.connect_response = resp
    return c


def four_letter(hosts, cmd, timeout=10.0):
    host, port = parse_hosts(hosts)
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(cmd.encode("ascii"))
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
        return out.decode("utf-8", "replace")
    finally:
        s.close()
