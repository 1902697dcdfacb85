"""kcat (librdkafka's command-line client, Debian's kcat): produce, consume,
keys, metadata, compression codecs, start offsets."""

import json
import subprocess
import time

import pytest

import broker_kafkautil as ku


def _lines(out):
    return out.decode().splitlines()


def test_produce_consume_values(bootstrap, topic):
    ku.create_topic(bootstrap, topic)
    values = ["value-%d" % i for i in range(20)]
    ku.kcat(bootstrap, "-P", "-t", topic, input=("\n".join(values) + "\n").encode())
    r = ku.kcat(bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                "-f", "%p %o %s\n")
    assert _lines(r.stdout) == ["0 %d %s" % (i, v) for i, v in enumerate(values)]


def test_produce_consume_keys(bootstrap, topic):
    ku.create_topic(bootstrap, topic)
    pairs = [("k%d" % (i % 3), "v%d" % i) for i in range(9)]
    data = "".join("%s:%s\n" % kv for kv in pairs).encode()
    ku.kcat(bootstrap, "-P", "-t", topic, "-K:", input=data)
    r = ku.kcat(bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                "-J")
    msgs = [json.loads(line) for line in _lines(r.stdout)]
    assert [(m["key"], m["payload"]) for m in msgs] == pairs
    assert [m["offset"] for m in msgs] == list(range(9))
    assert all(m["partition"] == 0 and m["tstype"] == "create" for m in msgs)
    assert all(m["ts"] > 1_600_000_000_000 for m in msgs)


def test_keys_and_no_key_mixed(bootstrap, topic):
    """A message without the delimiter has a null key with -K."""
    ku.create_topic(bootstrap, topic)
    # -Z: send empty keys as NULL
    ku.kcat(bootstrap, "-P", "-t", topic, "-K:", "-Z",
            input=b"a:1\n:2\nb:3\n")
    r = ku.kcat(bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                "-J")
    msgs = [json.loads(line) for line in _lines(r.stdout)]
    assert [(m["key"], m["payload"]) for m in msgs] == [
        ("a", "1"), (None, "2"), ("b", "3")]


def test_keyed_messages_partition_consistently(bootstrap, topic):
    """Same key -> same partition (librdkafka's consistent_random partitioner)."""
    ku.create_topic(bootstrap, topic, partitions=4)
    pairs = [("key-%d" % (i % 5), "v%d" % i) for i in range(40)]
    data = "".join("%s:%s\n" % kv for kv in pairs).encode()
    ku.kcat(bootstrap, "-P", "-t", topic, "-K:", input=data)
    r = ku.kcat(bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                "-J")
    msgs = [json.loads(line) for line in _lines(r.stdout)]
    assert len(msgs) == 40
    by_key = {}
    for m in msgs:
        by_key.setdefault(m["key"], set()).add(m["partition"])
    assert all(len(parts) == 1 for parts in by_key.values()), by_key
    # per partition the order of production is kept
    for p in range(4):
        got = [int(m["payload"][1:]) for m in msgs if m["partition"] == p]
        assert got == sorted(got)


def test_metadata_listing(bootstrap, topic, cluster):
    ku.create_topic(bootstrap, topic, partitions=3)
    r = ku.kcat(bootstrap, "-L", "-J")
    md = json.loads(r.stdout)
    assert {"id": 0, "name": bootstrap} in md["brokers"]
    assert md["controllerid"] == 0
    topics = {t["topic"]: t for t in md["topics"]}
    assert topic in topics
    parts = sorted(topics[topic]["partitions"], key=lambda p: p["partition"])
    assert [p["partition"] for p in parts] == [0, 1, 2]
    for p in parts:
        assert p["leader"] == 0
        assert p["replicas"] == [{"id": 0}]
        assert p["isrs"] == [{"id": 0}]

    # one topic, plain-text listing
    r = ku.kcat(bootstrap, "-L", "-t", topic)
    text = r.stdout.decode()
    assert "1 brokers:" in text
    assert "broker 0 at %s" % bootstrap in text
    assert 'topic "%s" with 3 partitions:' % topic in text


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compression_round_trip(bootstrap, topic, codec):
    ku.create_topic(bootstrap, topic)
    # compressible and varied payloads, batched together
    values = ["%s-%04d-%s" % (codec, i, "abc" * (i % 50)) for i in range(500)]
    ku.kcat(bootstrap, "-P", "-t", topic, "-z", codec,
            "-X", "linger.ms=50", input=("\n".join(values) + "\n").encode())
    r = ku.kcat(bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                "-f", "%o %s\n")
    assert _lines(r.stdout) == ["%d %s" % (i, v) for i, v in enumerate(values)]


def test_compressed_batches_read_from_the_middle(bootstrap, topic):
    """Consuming from an offset inside a compressed batch starts exactly there."""
    ku.create_topic(bootstrap, topic)
    values = ["m%03d" % i for i in range(100)]
    ku.kcat(bootstrap, "-P", "-t", topic, "-z", "lz4", "-X", "linger.ms=100",
            input=("\n".join(values) + "\n").encode())
    r = ku.kcat(bootstrap, "-C", "-t", topic, "-o", "37", "-e", "-q",
                "-f", "%o %s\n")
    assert _lines(r.stdout) == ["%d %s" % (i, values[i]) for i in range(37, 100)]


def test_consume_offsets(bootstrap, topic):
    ku.create_topic(bootstrap, topic)
    values = ["v%d" % i for i in range(10)]
    ku.kcat(bootstrap, "-P", "-t", topic, input=("\n".join(values) + "\n").encode())

    def consume(*offset_args, count=None):
        args = ["-C", "-t", topic, "-e", "-q", "-f", "%o\n"] + list(offset_args)
        if count is not None:
            args += ["-c", str(count)]
        return [int(x) for x in _lines(ku.kcat(bootstrap, *args).stdout)]

    assert consume("-o", "beginning") == list(range(10))
    assert consume("-o", "4") == list(range(4, 10))
    assert consume("-o", "4", count=3) == [4, 5, 6]
    assert consume("-o", "-3") == [7, 8, 9]        # relative to the end
    assert consume("-o", "end") == []              # nothing past the end
    assert consume("-o", "9") == [9]


def test_consume_from_end_sees_only_new_messages(bootstrap, topic):
    ku.create_topic(bootstrap, topic)
    ku.kcat(bootstrap, "-P", "-t", topic, input=b"old-1\nold-2\n")
    proc = subprocess.Popen(
        ["kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "end", "-c", "1",
         "-q", "-f", "%o %s\n"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # kcat gives no signal when it has started fetching: keep producing
        # new messages until it has read one.
        deadline = time.time() + 30
        i = 0
        while proc.poll() is None and time.time() < deadline:
            ku.kcat(bootstrap, "-P", "-t", topic, input=b"new-%d\n" % i)
            i += 1
            try:
                proc.wait(0.5)
            except subprocess.TimeoutExpired:
                pass
        assert proc.poll() is not None, "kcat -o end read nothing within 30s"
        out = proc.stdout.read().decode().splitlines()
        assert len(out) == 1
        offset, value = out[0].split(" ", 1)
        assert value.startswith("new-")
        assert int(offset) >= 2
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)


def test_consume_by_timestamp(bootstrap, topic):
    """-o s@<ms>: the first message with a timestamp >= ms."""
    ku.create_topic(bootstrap, topic)
    base = 1_500_000_000_000
    ku.produce(bootstrap, topic, [b"a", b"b", b"c"],
               timestamps=[base, base + 1000, base + 2000])
    r = ku.kcat(bootstrap, "-C", "-t", topic, "-o", "s@%d" % (base + 500),
                "-e", "-q", "-f", "%o %s %T\n")
    assert _lines(r.stdout) == ["1 b %d" % (base + 1000),
                                "2 c %d" % (base + 2000)]


def test_headers_round_trip(bootstrap, topic):
    ku.create_topic(bootstrap, topic)
    ku.kcat(bootstrap, "-P", "-t", topic, "-H", "h1=one", "-H", "h2=two",
            input=b"with-headers\n")
    r = ku.kcat(bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                "-J")
    msgs = [json.loads(line) for line in _lines(r.stdout)]
    assert len(msgs) == 1
    assert msgs[0]["payload"] == "with-headers"
    assert msgs[0]["headers"] == ["h1", "one", "h2", "two"]


def test_consumer_group_mode(bootstrap, topic, group):
    """kcat -G: balanced consumer; with -e it exits at the end of its
    partitions."""
    ku.create_topic(bootstrap, topic, partitions=2)
    values = ["g%d" % i for i in range(10)]
    ku.kcat(bootstrap, "-P", "-t", topic, input=("\n".join(values) + "\n").encode())
    r = ku.kcat(bootstrap, "-G", group, "-o", "beginning", "-e", "-q",
                "-f", "%s\n", topic, timeout=60)
    assert sorted(_lines(r.stdout)) == sorted(values)
