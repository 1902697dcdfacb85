"""A few Kafka requests sent to one chosen broker, on a socket of our own.

librdkafka's clients send each request to whichever broker they see fit
(Metadata to any, ListOffsets and Fetch to the leader). The fault tests also
need to ask one particular broker: what does broker 2 think the ISR is, how
long is the log of partition 0 on broker 3 (a follower), which records does
it hold. Three requests, non-flexible versions that Kafka 3.9 and 4.x both
serve:

    Metadata v7     brokers, controller id, and per partition leader,
                    leader epoch, replicas, ISR, offline replicas
    ListOffsets v1  replica_id -2 (the "debugging" replica): the log end
                    offset of the local replica, leader or follower;
                    replica_id -1 (a consumer): the leader's high watermark
    Fetch v11       replica_id -1 with a rack id (KIP-392): a consumer read
                    of the local replica, leader or follower, up to its high
                    watermark
    AlterPartitionReassignments v0 (flexible; KIP-455, what
                    kafka-reassign-partitions --bootstrap-server sends to
                    the controller)

Record batches are decoded (magic 2, uncompressed only: the tests' producers
set compression.type=none) into (offset, leader epoch, key, value).

Every function raises WireError (with the broker's address and what was
asked) when the broker cannot be reached or answers with an error.
"""

import socket
import struct

CLIENT_ID = b"strom-replication-tests"

ERRORS = {
    0: "NONE", 1: "OFFSET_OUT_OF_RANGE", 3: "UNKNOWN_TOPIC_OR_PARTITION",
    5: "LEADER_NOT_AVAILABLE", 6: "NOT_LEADER_OR_FOLLOWER",
    7: "REQUEST_TIMED_OUT", 9: "REPLICA_NOT_AVAILABLE",
    19: "NOT_ENOUGH_REPLICAS", 20: "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
    35: "UNSUPPORTED_VERSION", 41: "NOT_CONTROLLER",
    60: "INVALID_REPLICA_ASSIGNMENT", 74: "FENCED_LEADER_EPOCH",
    75: "UNKNOWN_LEADER_EPOCH",
}


def error_name(code):
    return ERRORS.get(code, "error %d" % code)


class WireError(Exception):
    pass


# ----------------------------------------------------------------------
# encoding and decoding
# ----------------------------------------------------------------------

def _str(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def _uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _compact_str(s):
    b = s.encode()
    return _uvarint(len(b) + 1) + b


def _compact_array(items, enc):
    if items is None:
        return _uvarint(0)
    return _uvarint(len(items) + 1) + b"".join(enc(i) for i in items)


NO_TAGS = _uvarint(0)


def _array(items, enc):
    if items is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(items)) + b"".join(enc(i) for i in items)


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def _take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0]

    def i8(self):
        return self._take(">b")

    def i16(self):
        return self._take(">h")

    def i32(self):
        return self._take(">i")

    def i64(self):
        return self._take(">q")

    def u32(self):
        return self._take(">I")

    def string(self):
        n = self.i16()
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode("utf-8", "replace")
        self.pos += n
        return s

    def bytes_(self):
        n = self.i32()
        if n < 0:
            return None
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def array(self, fn):
        n = self.i32()
        if n < 0:
            return None
        return [fn(self) for _ in range(n)]

    def uvarint(self):
        shift = 0
        result = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def compact_string(self):
        n = self.uvarint() - 1
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode("utf-8", "replace")
        self.pos += n
        return s

    def compact_array(self, fn):
        n = self.uvarint() - 1
        if n < 0:
            return None
        return [fn(self) for _ in range(n)]

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.pos += self.uvarint()

    def varint(self):
        shift = 0
        result = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
        return (result >> 1) ^ -(result & 1)  # zigzag

    def varbytes(self):
        n = self.varint()
        if n < 0:
            return None
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b


# ----------------------------------------------------------------------
# one connection to one broker
# ----------------------------------------------------------------------

class Connection:
    def __init__(self, host, port, timeout=5.0):
        self.addr = (host, port)
        self.timeout = timeout
        self.corr = 0
        try:
            self.sock = socket.create_connection(self.addr, timeout=timeout)
        except OSError as e:
            raise WireError("cannot connect to %s:%d: %s" % (host, port, e))
        self.sock.settimeout(timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _recv(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise OSError("connection closed by the broker")
            buf += chunk
        return buf

    def request(self, api_key, version, body, what, flexible=False):
        """Sends one request (header v1, or v2 when flexible), returns a
        Reader on the response body (after the response header)."""
        self.corr += 1
        header = struct.pack(">hhih", api_key, version, self.corr,
                             len(CLIENT_ID)) + CLIENT_ID
        if flexible:
            header += NO_TAGS
        msg = header + body
        try:
            self.sock.sendall(struct.pack(">i", len(msg)) + msg)
            (n,) = struct.unpack(">i", self._recv(4))
            data = self._recv(n)
        except OSError as e:
            raise WireError("%s to %s:%d: %s" % (what, self.addr[0],
                                                  self.addr[1], e))
        (corr,) = struct.unpack(">i", data[:4])
        if corr != self.corr:
            raise WireError("%s to %s:%d: correlation id %d, expected %d" % (
                what, self.addr[0], self.addr[1], corr, self.corr))
        r = Reader(data[4:])
        if flexible:
            r.tags()
        return r

    # -- Metadata v7 ------------------------------------------------------
    def metadata(self, topics=None):
        """{'brokers': {id: (host, port)}, 'controller': id, 'topics':
        {name: {'error': code, 'partitions': {p: {...}}}}}; topics=None asks
        for all topics."""
        body = _array(topics, _str) + struct.pack(">b", 0)
        r = self.request(3, 7, body, "Metadata v7")
        r.i32()  # throttle

        def broker(r):
            return r.i32(), r.string(), r.i32(), r.string()

        def partition(r):
            return {"error": r.i16(), "partition": r.i32(), "leader": r.i32(),
                    "leader_epoch": r.i32(),
                    "replicas": r.array(Reader.i32),
                    "isr": r.array(Reader.i32),
                    "offline": r.array(Reader.i32)}

        def topic(r):
            err, name, internal = r.i16(), r.string(), r.i8()
            parts = r.array(partition)
            return name, {"error": err, "internal": bool(internal),
                          "partitions": {p["partition"]: p for p in parts}}

        brokers = r.array(broker)
        r.string()  # cluster id
        controller = r.i32()
        topics = dict(r.array(topic))
        return {"brokers": {b[0]: (b[1], b[2]) for b in brokers},
                "controller": controller, "topics": topics}

    # -- ListOffsets v1 -----------------------------------------------------
    def list_offsets(self, topic, partitions, replica_id=-2, timestamp=-1):
        """{partition: (error code, offset)}: timestamp -1 is the latest
        offset (replica_id -2: this replica's log end offset; -1: the
        leader's high watermark), -2 the earliest."""
        body = struct.pack(">i", replica_id) + _array(
            [topic], lambda t: _str(t) + _array(
                partitions, lambda p: struct.pack(">iq", p, timestamp)))
        r = self.request(2, 1, body, "ListOffsets v1 (replica_id %d) for %s"
                         % (replica_id, topic))
        out = {}

        def partition(r):
            p, err = r.i32(), r.i16()
            r.i64()  # timestamp
            out[p] = (err, r.i64())

        r.array(lambda r: (r.string(), r.array(partition)))
        return out

    # -- Fetch v11 ----------------------------------------------------------
    def fetch(self, topic, partition, offset, max_bytes=4 << 20,
              rack="replication-test"):
        """One Fetch of one partition from `offset`, as a consumer (KIP-392:
        a rack id, no session). Returns (error code, high watermark,
        records [(offset, leader_epoch, key, value)])."""
        part = struct.pack(">iiqqi", partition, -1, offset, -1, max_bytes)
        body = struct.pack(">iiiibii", -1, 100, 1, max_bytes, 0, 0, -1)
        body += _array([topic], lambda t: _str(t) + _array([part], bytes))
        body += _array([], bytes) + _str(rack)
        r = self.request(1, 11, body, "Fetch v11 of %s-%d" % (topic, partition))
        r.i32()  # throttle
        top_err = r.i16()
        r.i32()  # session id
        result = {}

        def part_resp(r):
            p, err, hw = r.i32(), r.i16(), r.i64()
            r.i64()  # last stable offset
            r.i64()  # log start offset
            r.array(lambda r: (r.i64(), r.i64()))  # aborted transactions
            r.i32()  # preferred read replica
            result[p] = (err, hw, r.bytes_())

        r.array(lambda r: (r.string(), r.array(part_resp)))
        if top_err:
            return top_err, -1, []
        err, hw, data = result.get(partition, (-1, -1, None))
        return err, hw, decode_batches(data or b"")


    # -- AlterPartitionReassignments v0 --------------------------------------
    def alter_partition_reassignments(self, topic, targets, timeout_ms=30000):
        """Asks for {partition: [replica ids]} of topic; returns (error code,
        message, {partition: (error code, message)})."""
        def part(item):
            p, replicas = item
            return struct.pack(">i", p) + _compact_array(
                replicas, lambda b: struct.pack(">i", b)) + NO_TAGS
        body = struct.pack(">i", timeout_ms) + _compact_array(
            [topic], lambda t: _compact_str(t) + _compact_array(
                sorted(targets.items()), part) + NO_TAGS) + NO_TAGS
        r = self.request(45, 0, body, "AlterPartitionReassignments v0 for %s"
                         % topic, flexible=True)
        r.i32()  # throttle
        err, msg = r.i16(), r.compact_string()
        parts = {}

        def part_resp(r):
            p, e, m = r.i32(), r.i16(), r.compact_string()
            r.tags()
            parts[p] = (e, m)

        def topic_resp(r):
            r.compact_string()
            r.compact_array(part_resp)
            r.tags()

        r.compact_array(topic_resp)
        r.tags()
        return err, msg, parts


def decode_batches(data):
    """[(offset, partition leader epoch, key, value)] of the record batches
    (magic 2) in data; a truncated last batch is ignored, control batches
    are skipped."""
    out = []
    pos = 0
    while pos + 61 <= len(data):
        base_offset, length = struct.unpack_from(">qi", data, pos)
        end = pos + 12 + length
        if end > len(data):
            break
        r = Reader(data)
        r.pos = pos + 12
        epoch = r.i32()
        magic = r.i8()
        if magic != 2:
            raise WireError("record batch with magic %d at offset %d"
                            % (magic, base_offset))
        r.u32()  # crc
        attrs = r.i16()
        r.pos += 4 + 8 + 8 + 8 + 2 + 4  # last offset delta .. base sequence
        count = r.i32()
        if attrs & 0x07:
            raise WireError("compressed record batch at offset %d (the tests "
                            "produce uncompressed)" % base_offset)
        if not attrs & 0x20:  # not a control batch
            for _ in range(count):
                r.varint()  # record length
                r.i8()  # attributes
                r.varint()  # timestamp delta
                delta = r.varint()
                key = r.varbytes()
                value = r.varbytes()
                for _ in range(r.varint()):  # headers
                    r.varbytes()
                    r.varbytes()
                out.append((base_offset + delta, epoch, key, value))
        pos = end
    return out


# ----------------------------------------------------------------------
# conveniences
# ----------------------------------------------------------------------

def metadata(addr, topics=None, timeout=5.0):
    with Connection(addr[0], addr[1], timeout) as c:
        return c.metadata(topics)


def log_end_offsets(addr, topic, partitions, timeout=5.0):
    """{partition: log end offset of the replica on the broker at addr}."""
    with Connection(addr[0], addr[1], timeout) as c:
        res = c.list_offsets(topic, partitions, replica_id=-2)
    bad = {p: error_name(e) for p, (e, _) in res.items() if e}
    if bad or set(res) != set(partitions):
        hint = ""
        if 6 in {e for e, _ in res.values()}:
            hint = (" (a follower must answer replica_id -2, the debugging "
                    "replica, with the log end offset of its own replica, as "
                    "Kafka does)")
        raise WireError("ListOffsets (replica_id -2, latest) to %s:%d for %s: "
                        "%s%s" % (addr[0], addr[1], topic, bad or res, hint))
    return {p: off for p, (_, off) in res.items()}


def read_replica(addr, topic, partition, timeout=10.0):
    """(high watermark, [(offset, epoch, key, value)]) of the replica of
    topic-partition on the broker at addr: every record up to that
    replica's high watermark, read as a consumer fetching from it."""
    out = []
    offset = 0
    with Connection(addr[0], addr[1], timeout) as c:
        while True:
            err, hw, recs = c.fetch(topic, partition, offset)
            if err:
                raise WireError(
                    "Fetch (consumer with a rack id, from offset %d) of "
                    "%s-%d from %s:%d: %s%s" % (
                        offset, topic, partition, addr[0], addr[1],
                        error_name(err), " (a follower must serve a consumer "
                        "Fetch v11+ from its own replica up to its high "
                        "watermark, as Kafka does)" if err == 6 else ""))
            recs = [x for x in recs if x[0] >= offset]
            out.extend(recs)
            if recs:
                offset = recs[-1][0] + 1
            if offset >= hw or not recs:
                return hw, out
