"""Raw bytes at the broker: malformed, oversized, corrupt and unserved requests get a clear error
or a closed connection, and the broker keeps serving everyone else."""

import socket
import struct
import time

import pytest

import broker_harness as harness
import broker_kafkautil as ku

# CRC-32C (Castagnoli), for building record batches by hand.
_T = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _T.append(_c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def varint(v):
    z = (v << 1) ^ (v >> 63)
    out = b""
    while z >= 0x80:
        out += bytes([(z & 0x7F) | 0x80])
        z >>= 7
    return out + bytes([z])


def batch(values, corrupt=False):
    recs = b""
    for i, v in enumerate(values):
        body = b"\x00" + varint(0) + varint(i) + varint(-1) + varint(len(v)) + v + varint(0)
        recs += varint(len(body)) + body
    after_crc = struct.pack(">hiqqqhii", 0, len(values) - 1, 1000, 1000, -1, -1, -1, len(values)) + recs
    crc = crc32c(after_crc) ^ (1 if corrupt else 0)
    rest = struct.pack(">ib", 0, 2) + struct.pack(">I", crc) + after_crc
    return struct.pack(">qi", 0, len(rest)) + rest


def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def request(api, version, corr, body, flexible=False):
    msg = struct.pack(">hhi", api, version, corr) + string("raw") + (b"\x00" if flexible else b"") + body
    return struct.pack(">i", len(msg)) + msg


def produce_v3(topic, records):
    return (struct.pack(">h", -1) + struct.pack(">hi", 1, 10000) + struct.pack(">i", 1) + string(topic)
            + struct.pack(">i", 1) + struct.pack(">i", 0) + struct.pack(">i", len(records)) + records)


def recv_frame(s, timeout=10):
    s.settimeout(timeout)
    head = harness._recv_exact(s, 4)
    if head is None:
        return None
    (n,) = struct.unpack(">i", head)
    return harness._recv_exact(s, n)


def closed(s, timeout=10):
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def connect(bootstrap):
    host, port = bootstrap.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def still_serving(bootstrap):
    assert harness.api_versions_ok(*bootstrap.rsplit(":", 1)[0:1], int(bootstrap.rsplit(":", 1)[1]))
    md = ku.admin_client(bootstrap).list_topics(timeout=10)
    assert 0 in md.brokers


def test_huge_array_count_closes_only_that_connection(bootstrap):
    s = connect(bootstrap)
    # Metadata v1 claiming 2^31-1 topics in a 20-byte request.
    s.sendall(request(3, 1, 1, struct.pack(">i", 0x7FFFFFFF)))
    assert closed(s)
    still_serving(bootstrap)


def test_oversized_request_closes_the_connection(bootstrap):
    s = connect(bootstrap)
    s.sendall(struct.pack(">i", 200 * 1024 * 1024) + b"\x00\x03\x00\x01")
    assert closed(s)
    still_serving(bootstrap)


def test_garbage_closes_the_connection(bootstrap):
    s = connect(bootstrap)
    s.sendall(struct.pack(">i", 3) + b"\xff\xff\xff")
    assert closed(s)
    still_serving(bootstrap)


def test_too_new_api_versions_gets_error_35_and_the_list(bootstrap):
    s = connect(bootstrap)
    # A future version comes with a flexible (v2) header; the answer is a v0 response.
    s.sendall(request(18, 99, 7, b"\x00", flexible=True))
    resp = recv_frame(s)
    corr, err = struct.unpack(">ih", resp[:6])
    assert (corr, err) == (7, 35)
    (n,) = struct.unpack(">i", resp[6:10])
    ranges = {struct.unpack(">h", resp[10 + 6 * i:12 + 6 * i])[0]: struct.unpack(">hh", resp[12 + 6 * i:16 + 6 * i]) for i in range(n)}
    # Kafka lists ApiVersions itself (enough for the client to retry lower); strom lists all.
    assert 18 in ranges and ranges[18][1] >= 3, ranges
    # The connection goes on.
    s.sendall(request(18, 0, 8, b""))
    assert struct.unpack(">ih", recv_frame(s)[:6]) == (8, 0)


def test_unknown_api_key_gets_unsupported_version(cluster, bootstrap):
    if cluster.kind != "strom":
        pytest.skip("Kafka closes the connection instead")
    s = connect(bootstrap)
    s.sendall(request(999, 0, 11, b""))
    assert struct.unpack(">ih", recv_frame(s)[:6]) == (11, 35)
    # An unserved version of a known key (Produce v0) too, and the connection goes on.
    s.sendall(request(0, 0, 12, b""))
    assert struct.unpack(">ih", recv_frame(s)[:6]) == (12, 35)
    s.sendall(request(18, 0, 13, b""))
    assert struct.unpack(">ih", recv_frame(s)[:6]) == (13, 0)


def test_corrupt_batch_gets_corrupt_message_and_nothing_is_stored(bootstrap, topic):
    ku.create_topic(bootstrap, topic, partitions=1)
    s = connect(bootstrap)
    s.sendall(request(0, 3, 21, produce_v3(topic, batch([b"bad"], corrupt=True))))
    resp = recv_frame(s)
    # ProduceResponse v3: corr, [topic, [partition, error, base_offset, log_append_time]], throttle
    off = 4 + 4
    (tlen,) = struct.unpack(">h", resp[off:off + 2])
    off += 2 + tlen + 4
    part, err = struct.unpack(">ih", resp[off:off + 6])
    assert (part, err) == (0, 2)  # CORRUPT_MESSAGE
    s.sendall(request(0, 3, 22, produce_v3(topic, batch([b"good"]))))
    resp = recv_frame(s)
    part, err, base = struct.unpack(">ihq", resp[off:off + 14])
    assert (part, err, base) == (0, 0, 0), "the corrupt batch took no offset"


def test_a_client_that_stops_reading_stalls_only_itself(bootstrap, topic):
    ku.create_topic(bootstrap, topic, partitions=1)
    s = connect(bootstrap)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    # Metadata v1 for all topics, thousands of times, never reading a reply.
    req = request(3, 1, 1, struct.pack(">i", -1))
    s.settimeout(2)
    sent = 0
    try:
        for _ in range(20000):
            s.sendall(req)
            sent += 1
    except socket.timeout:
        pass
    t = time.time()
    still_serving(bootstrap)
    assert time.time() - t < 30
    s.close()
