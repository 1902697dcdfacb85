"""Loss tests for the log pipeline (issue 9), real processes: three strom-brokers under a
strom-coordinator, `strom-pipeline ship` tailing files a writer thread appends to, and (for the
broker kill) `strom-pipeline process` into the Elasticsearch stand-in.

1. a broker SIGKILLed under load (replication factor 3, min.insync.replicas 2, acks all);
1b. the broker coordinating the processor's consumer group SIGKILLed while it processes (a cluster
   whose __consumer_offsets has three replicas), restarted, and coordination moved back to it;
2. the shipper SIGKILLed around a rename-and-create rotation, restarted with the same registry;
3. the shipper SIGKILLed around a copytruncate rotation, restarted with the same registry.

Every line carries its number; a test fails when a line the design promises is missing, and prints
how many came twice. Lines have a fixed length, so a line's number gives its byte offset."""

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from conftest import binary
from test_process import Processor, wait_for

LINE = 64  # bytes per line, newline included


def line(n):
    head = "%07d GET /loss/%d HTTP/1.1 200 " % (n, n)
    return head + "x" * (LINE - 1 - len(head)) + "\n"


def number(message):
    return int(message.split(" ", 1)[0])


@pytest.fixture(scope="module")
def cluster():
    """conftest's cluster (strom-coordinator, three strom-brokers), with a 6 s coordinator session
    instead of 18 s so that a SIGKILLed broker's partitions fail over within the test's minute."""
    from conftest import ROOT, _load
    import sys
    sys.path.insert(0, str(ROOT / "tests" / "broker"))
    harness = _load("broker_harness", ROOT / "tests" / "broker" / "harness.py")
    c = harness.Cluster(kind="strom", zk_kind="strom", name="pipeline-loss", overrides={"zookeeper.session.timeout.ms": "6000"}).start()
    c.start_broker(1)
    c.start_broker(2)
    c.all_bootstrap = ",".join(b.bootstrap for b in c.brokers.values())
    yield c
    c.cleanup()


def create_topic(cluster, name, partitions=3, replication=2, config=None):
    a = AdminClient({"bootstrap.servers": cluster.all_bootstrap})
    for f in a.create_topics([NewTopic(name, partitions, replication, config=config or {})]).values():
        f.result(30)


def leaders(cluster, topic):
    """partition -> leader id (-1 while it has none), as the brokers tell it now."""
    # log_level 2: no "connection refused" lines about the broker the test killed
    md = AdminClient({"bootstrap.servers": cluster.all_bootstrap, "log_level": 2}).list_topics(topic, timeout=10)
    return {p: m.leader for p, m in md.topics[topic].partitions.items()}


class Shipper:
    def __init__(self, cfg, log):
        self.log = open(log, "ab")
        env = dict(os.environ, RUST_LOG="info", NO_COLOR="1")
        self.proc = subprocess.Popen([str(binary("strom-pipeline")), "ship", "--config", str(cfg)], stdout=self.log, stderr=self.log, env=env)

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def ship_config(tmp_path, cluster, paths, topic, extra=""):
    path = tmp_path / "ship.yaml"
    brokers = ", ".join(json.dumps(b.bootstrap) for b in cluster.brokers.values())
    path.write_text(f"""
ship:
  inputs:
    - id: app
      paths: [{', '.join(json.dumps(str(p)) for p in paths)}]
      scan_frequency: 200ms
{extra}
  output:
    kafka:
      brokers: [{brokers}]
      topic: {topic}
      acks: all
  registry: {tmp_path}/registry.json
""")
    return path


def es_process_config(tmp_path, cluster, topic, group, es, index):
    """A processor config: the topic (every broker as bootstrap) into the stand-in's `index`,
    retrying quickly; its path."""
    pconf = tmp_path / "process.yaml"
    pconf.write_text(f"""
process:
  input:
    kafka: {{brokers: [{', '.join(json.dumps(b.bootstrap) for b in cluster.brokers.values())}], topics: [{topic}], group_id: {group}, codec: json, auto_offset_reset: earliest}}
  outputs:
    - elasticsearch: {{hosts: ["{es.url}"], index: "{index}", retry_initial_interval: 200ms, retry_max_interval: 1s}}
""")
    return pconf


def log_lines(path):
    """A process log's lines without terminal colours."""
    return [re.sub(r"\x1b\[[0-9;]*m", "", l) for l in path.read_text().splitlines()]


def registry(tmp_path):
    """The persisted registry: key -> entry ({} before the first write)."""
    try:
        return json.loads((tmp_path / "registry.json").read_text())["files"]
    except FileNotFoundError:
        return {}


def entry_of(tmp_path, path_or_inode):
    """The registry entry of a file by inode (an int) or by the file now at a path."""
    inode = path_or_inode if isinstance(path_or_inode, int) else os.stat(path_or_inode).st_ino
    return next((e for e in registry(tmp_path).values() if e["inode"] == inode), None)


def acked_to_end(tmp_path, *paths):
    """Every file's registry offset is its size: all its lines were acknowledged."""
    for p in paths:
        e = entry_of(tmp_path, p)
        if e is None or e["offset"] != os.stat(p).st_size:
            return False
    return True


def read_topic(cluster, topic):
    """Every record of the topic up to its high watermarks now: [(partition, offset, event)]."""
    c = Consumer({"bootstrap.servers": cluster.all_bootstrap, "group.id": "read-" + uuid.uuid4().hex[:6], "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        high = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        got, pos = [], {p: 0 for p in parts}
        deadline = time.monotonic() + 60
        while any(pos[p] < high[p] for p in parts):
            if time.monotonic() > deadline:
                raise AssertionError("could not read the topic to its high watermarks %s (at %s)" % (high, pos))
            m = c.poll(1)
            if m is None or m.error():
                continue
            if m.offset() < high[m.partition()]:
                got.append((m.partition(), m.offset(), json.loads(m.value())))
            pos[m.partition()] = max(pos[m.partition()], m.offset() + 1)
        return got
    finally:
        c.close()


class Writer(threading.Thread):
    """Runs `body(self)` in a thread; an exception there fails the test at `join`."""

    def __init__(self, body):
        super().__init__(daemon=True)
        self.body, self.error = body, None
        self.events = {name: threading.Event() for name in ("shipping", "rotated", "created", "truncated", "go_on", "done")}

    def run(self):
        try:
            self.body(self)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            self.error = e
        finally:
            self.events["done"].set()

    def finish(self, timeout=120):
        self.join(timeout)
        assert not self.is_alive(), "the writer did not finish"
        if self.error:
            raise self.error


def write_lines(f, numbers, per_chunk=100, pause=0.05):
    numbers = list(numbers)
    for i in range(0, len(numbers), per_chunk):
        f.write("".join(line(n) for n in numbers[i:i + per_chunk]))
        f.flush()
        time.sleep(pause)


def duplicate_report(counts):
    dups = {n: c for n, c in counts.items() if c > 1}
    return sum(c - 1 for c in dups.values()), sorted(dups)


# --- 1. a broker SIGKILLed under load ---------------------------------------------------------------

MAX_IN_FLIGHT = 4096  # pipeline/src/ship/producer.rs DEFAULT_MAX_IN_FLIGHT
BATCH = 500  # pipeline/src/process/run.rs BATCH


def test_a_broker_sigkilled_under_load_loses_no_line(cluster, es, tmp_path):
    """acks=all on a topic with replication factor 3 and min.insync.replicas 2: a partition leader is
    SIGKILLed while 20,000 lines are being written, shipped and processed, and started again after
    its partitions have new leaders. Every line reaches the stand-in.

    Duplicates: the shipper's producer is idempotent (acks=all), so a request the dead leader had
    replicated but not answered, sent again to the new leader, is acknowledged without a second
    copy: the topic holds every line exactly once (asserted). The processor is not restarted, but a
    partition whose leader moved may be fetched again from its last committed offset: one batch
    (BATCH) as designed. Once in six runs a partition was read again from offset 0 (2185
    duplicates): the new leader answered the consumer's fetch at its position with
    OFFSET_OUT_OF_RANGE (strom-broker serves consumers only up to the high watermark, which a new
    leader learns late; Kafka answers an empty fetch between the high watermark and the log end)
    and librdkafka reset to `earliest`. Until that is fixed the stand-in's duplicates keep the old
    bound, MAX_IN_FLIGHT + BATCH, and are printed. The victim is not the processor group's
    coordinator (__consumer_offsets has one replica here: killing it stops every commit until it
    is back, which is a different test)."""
    topic = "loss-" + uuid.uuid4().hex[:6]
    group = "loss-" + uuid.uuid4().hex[:6]
    create_topic(cluster, topic, partitions=3, replication=3, config={"min.insync.replicas": "2"})
    wait_for(lambda: all(l >= 0 for l in leaders(cluster, topic).values()), 30, "leaders for every partition")
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = AdminClient({"bootstrap.servers": cluster.all_bootstrap})
    configs = admin.describe_configs([res])[res].result(30)
    assert configs["min.insync.replicas"].value == "2"
    log = tmp_path / "access.log"
    log.write_text("")
    n = 20_000
    shipper = Shipper(ship_config(tmp_path, cluster, [log], topic), tmp_path / "ship.log")
    processor = Processor(es_process_config(tmp_path, cluster, topic, group, es, "loss"), tmp_path / "process.log")
    written = [0]

    def body(w):
        with open(log, "a") as f:
            for start in range(0, n, 200):  # 200 lines every 100 ms: about 10 s
                f.write("".join(line(i) for i in range(start, start + 200)))
                f.flush()
                written[0] = start + 200
                time.sleep(0.1)

    writer = Writer(body)
    victim = None
    try:
        writer.start()
        wait_for(lambda: written[0] >= 6000 and sum(es.indices().values()) >= 1000, 60, "6000 lines written, 1000 in the stand-in")
        coordinator = admin.describe_consumer_groups([group])[group].result(30).coordinator.id
        led = Counter(l for l in leaders(cluster, topic).values() if l != coordinator)
        assert led, "every partition is led by the group coordinator %d; nothing else to kill" % coordinator
        victim = led.most_common(1)[0][0]
        at_kill = (written[0], sum(es.indices().values()))
        cluster.brokers[victim].kill()
        wait_for(lambda: all(l not in (victim, -1) for l in leaders(cluster, topic).values()), 45,
                 "the killed broker's partitions led by the others")
        cluster.brokers[victim].start()
        writer.finish()
        wait_for(lambda: es.indices().get("loss", 0) >= n and {number(d["message"]) for d in es.docs("loss")} >= set(range(n)), 90,
                 "every line in the stand-in")
        time.sleep(1)  # a duplicate still on its way shows now
    finally:
        if writer.ident:
            writer.events["done"].wait(30)
        shipper_rc = shipper.stop()
        processor_rc = processor.stop()
        if victim is not None and not cluster.brokers[victim].running:
            cluster.brokers[victim].start()
    assert shipper_rc == 0, (tmp_path / "ship.log").read_text()[-3000:]
    assert processor_rc == 0, (tmp_path / "process.log").read_text()[-3000:]
    counts = Counter(number(d["message"]) for d in es.docs("loss"))
    missing = sorted(set(range(n)) - set(counts))
    assert not missing, "lines lost: %d, first %s" % (len(missing), missing[:20])
    dups, which = duplicate_report(counts)
    records = read_topic(cluster, topic)
    kafka_dups, kafka_which = duplicate_report(Counter(number(e["message"]) for _, _, e in records))
    bound = MAX_IN_FLIGHT + BATCH
    print("\nbroker %d SIGKILLed after %d lines written, %d in the stand-in: %d lines; topic: %d records, %d duplicates (lines %s..%s); "
          "stand-in: %d documents, %d duplicates (lines %s..%s; designed: at most a batch, %d; asserted: at most %d)"
          % (victim, at_kill[0], at_kill[1], n, len(records), kafka_dups, kafka_which[:1], kafka_which[-1:],
             sum(counts.values()), dups, which[:1], which[-1:], BATCH, bound))
    assert kafka_dups == 0, "the idempotent shipper wrote %d lines twice: %s" % (kafka_dups, kafka_which[:20])
    assert dups <= bound, "more duplicates in the stand-in than %d: %d" % (bound, dups)
    assert acked_to_end(tmp_path, log), registry(tmp_path)



# --- 1b. the processor group's coordinator SIGKILLed ------------------------------------------------

OFFSETS_PARTITIONS = 10


@pytest.fixture(scope="module")
def offsets_cluster():
    """Three strom-brokers whose __consumer_offsets has three replicas (Kafka's default; conftest's
    clusters have one), so that a group's coordinator can move; 6 s coordinator sessions as above."""
    from conftest import ROOT, _load
    import sys
    sys.path.insert(0, str(ROOT / "tests" / "broker"))
    harness = _load("broker_harness", ROOT / "tests" / "broker" / "harness.py")
    c = harness.Cluster(kind="strom", zk_kind="strom", name="pipeline-coord",
                        overrides={"zookeeper.session.timeout.ms": "6000", "offsets.topic.replication.factor": "3",
                                   "offsets.topic.num.partitions": str(OFFSETS_PARTITIONS)}).start()
    c.start_broker(1)
    c.start_broker(2)
    c.all_bootstrap = ",".join(b.bootstrap for b in c.brokers.values())
    yield c
    c.cleanup()


def offsets_partition(group):
    """The group's __consumer_offsets partition: abs(Java hashCode) % partitions, as Kafka has it."""
    utf16 = group.encode("utf-16-be")
    h = 0
    for i in range(0, len(utf16), 2):
        h = (h * 31 + int.from_bytes(utf16[i:i + 2], "big")) & 0xFFFFFFFF
    h = h - (1 << 32) if h >= 1 << 31 else h
    return (0 if h == -(1 << 31) else abs(h)) % OFFSETS_PARTITIONS


def kafkawire():
    from conftest import ROOT, _load
    return _load("kafkawire", ROOT / "tests" / "replication" / "kafkawire.py")


def find_coordinator(cluster, group):
    """(node id, host, port) as the first live broker that answers FindCoordinator v1 names it, or
    None. On sockets of our own: confluent-kafka's describe_consumer_groups crashed the test's Python
    (a segmentation fault) when asked while the coordinator was down."""
    import struct
    kw = kafkawire()
    for b in [b for b in cluster.brokers.values() if b.running]:
        try:
            with kw.Connection(b.host, b.port) as c:
                r = c.request(10, 1, kw._str(group) + struct.pack(">b", 0), "FindCoordinator v1")
                r.i32()  # throttle
                error, _, node, host, port = r.i16(), r.string(), r.i32(), r.string(), r.i32()
        except kw.WireError:
            continue
        if error == 0:
            return node, host, port
    return None


def group_view(cluster, group):
    """(coordinator id, state, members): FindCoordinator, then DescribeGroups v0 at the coordinator;
    None while no coordinator answers."""
    kw = kafkawire()
    found = find_coordinator(cluster, group)
    if found is None:
        return None

    def described(r):
        error, _, state, _, _ = r.i16(), r.string(), r.string(), r.string(), r.string()
        members = r.array(lambda r: (r.string(), r.string(), r.string(), r.bytes_(), r.bytes_()))
        return error, state, len(members)

    try:
        with kw.Connection(found[1], found[2]) as c:
            ((error, state, members),) = c.request(15, 0, kw._array([group], kw._str), "DescribeGroups v0").array(described)
    except kw.WireError:
        return None
    return (found[0], state, members) if error == 0 else None


def group_lag(cluster, group, topic, partitions):
    """partition -> high watermark - committed offset (the high watermark when nothing is committed),
    by OffsetFetch v1 at the coordinator; None while no coordinator answers."""
    import struct
    kw = kafkawire()
    found = find_coordinator(cluster, group)
    if found is None:
        return None
    body = kw._str(group) + kw._array([topic], lambda t: kw._str(t) + kw._array(list(range(partitions)), lambda p: struct.pack(">i", p)))
    try:
        with kw.Connection(found[1], found[2]) as c:
            topics = c.request(9, 1, body, "OffsetFetch v1").array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i64(), r.string(), r.i16()))))
    except kw.WireError:
        return None
    parts = {p: (o, e) for _, ps in topics for p, o, _, e in ps}
    if any(e for _, e in parts.values()):
        return None
    c = Consumer({"bootstrap.servers": cluster.all_bootstrap, "group.id": "lag-" + uuid.uuid4().hex[:6], "log_level": 2})
    try:
        high = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    finally:
        c.close()
    return {p: high[p] - max(parts.get(p, (-1, 0))[0], 0) for p in range(partitions)}


def test_the_group_coordinator_sigkilled_under_the_processor(offsets_cluster, es, tmp_path):
    """A producer writes 20,000 events (200 every 100 ms) to a topic with replication factor 3 and
    min.insync.replicas 2 while `strom-pipeline process` consumes it into the stand-in; the broker that
    coordinates the processor's group (the leader of the group's __consumer_offsets partition) is
    SIGKILLed mid-stream. Another replica of that partition takes over coordination and the processor
    goes on with it; the killed broker is started again, made the partition's leader again by a
    preferred-leader election, and coordination moves back to it. Every event reaches the stand-in,
    and the group's committed offsets end at the end of the topic (lag 0).

    Duplicates: strom-broker keeps members and generations in memory only (Kafka writes them to
    __consumer_offsets too), so each move of the coordinator makes the processor rejoin, and what it had
    sent but not yet committed comes again; a commit that fails while no coordinator answers leaves
    its batch to come again too. So at most one batch (BATCH) per move and per failed commit."""
    cluster = offsets_cluster
    topic = "coord-" + uuid.uuid4().hex[:6]
    group = "coord-" + uuid.uuid4().hex[:6]
    partitions, n = 3, 20_000
    create_topic(cluster, topic, partitions=partitions, replication=3, config={"min.insync.replicas": "2"})
    wait_for(lambda: all(l >= 0 for l in leaders(cluster, topic).values()), 30, "leaders for every partition")
    admin = AdminClient({"bootstrap.servers": cluster.all_bootstrap, "log_level": 2})
    processor = Processor(es_process_config(tmp_path, cluster, topic, group, es, "coord"), tmp_path / "process.log")
    written, failed = [0], []

    def body(w):
        from confluent_kafka import Producer
        p = Producer({"bootstrap.servers": cluster.all_bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5, "log_level": 2})

        def delivered(err, msg):
            if err is not None:
                failed.append((msg.value()[:20], str(err)))

        for start in range(0, n, 200):
            for i in range(start, start + 200):
                p.produce(topic, json.dumps({"message": line(i).rstrip("\n")}).encode(), on_delivery=delivered)
            p.poll(0)
            written[0] = start + 200
            time.sleep(0.1)
        assert p.flush(120) == 0, "records not delivered within 120 s"

    def in_stand_in():
        return es.indices().get("coord", 0)

    writer = Writer(body)
    victim, timeline, moves = None, [], 0
    try:
        writer.start()
        wait_for(lambda: written[0] >= 6000 and in_stand_in() >= 1000, 60, "6000 events written, 1000 in the stand-in")
        victim, state, members = wait_for(lambda: group_view(cluster, group), 30, "the group described")
        assert (state, members) == ("Stable", 1), (state, members)
        op = offsets_partition(group)
        offsets_md = admin.list_topics("__consumer_offsets", timeout=10).topics["__consumer_offsets"].partitions[op]
        assert offsets_md.leader == victim, "FindCoordinator names %d, __consumer_offsets[%d] is led by %d" % (victim, op, offsets_md.leader)
        preferred = offsets_md.replicas[0]
        killed_at = time.monotonic()
        timeline.append("broker %d (coordinator, leader of __consumer_offsets[%d]) SIGKILLed at %d events written, %d in the stand-in" % (victim, op, written[0], in_stand_in()))
        cluster.brokers[victim].kill()
        moved = wait_for(lambda: (lambda v: v if v and v[0] != victim and v[1:] == ("Stable", 1) else None)(group_view(cluster, group)), 60,
                         "the group stable at another coordinator")
        moves += 1
        timeline.append("broker %d coordinates the group after %.1f s, %d events written, %d in the stand-in" % (moved[0], time.monotonic() - killed_at, written[0], in_stand_in()))
        cluster.brokers[victim].start()
        wait_for(lambda: victim in admin.list_topics("__consumer_offsets", timeout=10).topics["__consumer_offsets"].partitions[op].isrs, 60,
                 "broker %d back in the ISR of __consumer_offsets[%d]" % (victim, op))
        if preferred == victim:
            from confluent_kafka import ElectionType
            admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition("__consumer_offsets", op)]).result(30)
            back_at = time.monotonic()
            moves += 1
            wait_for(lambda: (lambda v: v if v and v[0] == victim and v[1:] == ("Stable", 1) else None)(group_view(cluster, group)), 60,
                     "the group stable at broker %d again" % victim)
            timeline.append("broker %d restarted, coordinates the group again %.1f s after a preferred-leader election, %d events written, %d in the stand-in"
                            % (victim, time.monotonic() - back_at, written[0], in_stand_in()))
        else:
            timeline.append("broker %d restarted (not the preferred leader of __consumer_offsets[%d]: coordination stays)" % (victim, op))
        writer.finish()
        assert not failed, "records not delivered: %s" % failed[:5]
        wait_for(lambda: in_stand_in() >= n and {number(d["message"]) for d in es.docs("coord")} >= set(range(n)), 90, "every event in the stand-in")
        lag = wait_for(lambda: (lambda l: l if l is not None and not any(l.values()) else None)(group_lag(cluster, group, topic, partitions)), 60,
                       "the group's offsets committed to the end of the topic")
        time.sleep(1)  # a duplicate still on its way shows now
    finally:
        if writer.ident:
            writer.events["done"].wait(60)
        processor_rc = processor.stop()
        if victim is not None and not cluster.brokers[victim].running:
            cluster.brokers[victim].start()
    plog = log_lines(tmp_path / "process.log")
    assert processor_rc == 0, "\n".join(plog[-40:])
    counts = Counter(number(d["message"]) for d in es.docs("coord"))
    missing = sorted(set(range(n)) - set(counts))
    assert not missing, "events lost: %d, first %s" % (len(missing), missing[:20])
    dups, which = duplicate_report(counts)
    failed_commits = sum("committing the batch's offsets failed" in l for l in plog)
    bound = BATCH * (moves + failed_commits)
    print("\n" + "; ".join(timeline))
    print("%d events; stand-in: %d documents, %d duplicates (lines %s..%s); %d failed commits, %d coordinator moves: at most %d asserted; lag at the end %s"
          % (n, sum(counts.values()), dups, which[:1], which[-1:], failed_commits, moves, bound, lag))
    assert dups <= bound, "more duplicates in the stand-in than %d: %d" % (bound, dups)

# --- 2. the shipper SIGKILLed around a rename-and-create rotation -----------------------------------

OLD, LATE, TOTAL = 6000, 100, 12_000  # lines before the rename, late lines into the renamed file, all


@pytest.mark.parametrize("kill_at", ["rotated", "created", "reading_renamed"])
def test_shipper_sigkilled_around_rename_rotation(cluster, tmp_path, kill_at):
    """The writer appends lines 0..5999 to access.log, renames it to access.log.1, writes lines
    6000..6099 into the renamed file (its descriptor is still open, as nginx's is until it reopens),
    creates a new access.log and writes 6100..11999 there. The shipper (glob `access.log*`, so the
    rotated file stays an input as Filebeat users configure it) is SIGKILLed just after the rename
    (`rotated`) or just after the create (`created`), and started again with the same registry. Lines
    3000..5999 and the late ones come in bursts, so that the kill finds lines read and not yet
    acknowledged; `reading_renamed` kills it once the renamed file's registry offset is 500 lines into
    the burst.

    Every line reaches Kafka; a file's duplicates are lines at or after the offset its registry entry
    held at the kill: the registry keys files by device and inode, so the renamed file resumes at its
    offset instead of being read again from 0."""
    topic = "rot-" + uuid.uuid4().hex[:6]
    create_topic(cluster, topic)
    log, rotated = tmp_path / "access.log", tmp_path / "access.log.1"
    log.write_text("")
    old_inode = os.stat(log).st_ino
    cfg = ship_config(tmp_path, cluster, [str(tmp_path / "access.log*")], topic)
    first = Shipper(cfg, tmp_path / "ship-1.log")

    def body(w):
        f = open(log, "a")
        write_lines(f, range(0, 1000))
        assert w.events["shipping"].wait(60)
        write_lines(f, range(1000, OLD - 3000))
        write_lines(f, range(OLD - 3000, OLD), per_chunk=3000, pause=0)  # a burst: the kill finds lines in flight
        os.rename(log, rotated)
        w.events["rotated"].set()
        write_lines(f, range(OLD, OLD + LATE), per_chunk=LATE, pause=0)  # late writes, old descriptor
        f.close()
        with open(log, "a") as g:
            w.events["created"].set()
            write_lines(g, range(OLD + LATE, TOTAL))

    writer = Writer(body)
    second = None
    try:
        writer.start()
        wait_for(lambda: (entry_of(tmp_path, old_inode) or {}).get("offset", 0) > 0, 30, "the shipper acknowledging lines")
        writer.events["shipping"].set()
        assert writer.events["created" if kill_at == "reading_renamed" else kill_at].wait(60), "the writer never reached the rotation"
        if kill_at == "reading_renamed":
            wait_for(lambda: (entry_of(tmp_path, old_inode) or {}).get("offset", 0) >= (OLD - 2500) * LINE, 30, "the shipper into the burst")
        first.kill()
        at_kill = {e["inode"]: e["offset"] for e in registry(tmp_path).values()}
        second = Shipper(cfg, tmp_path / "ship-2.log")
        writer.finish()
        wait_for(lambda: acked_to_end(tmp_path, rotated, log), 60, "both files acknowledged to their ends")
    finally:
        if writer.ident:
            writer.events["done"].wait(30)
        rc = second.stop() if second else first.kill()
    assert rc == 0, (tmp_path / "ship-2.log").read_text()[-3000:]
    events = read_topic(cluster, topic)
    counts = Counter(number(e["message"]) for _, _, e in events)
    missing = sorted(set(range(TOTAL)) - set(counts))
    assert not missing, "lines lost: %d, first %s" % (len(missing), missing[:20])
    new_inode = os.stat(log).st_ino
    old_at_kill = at_kill.get(old_inode, 0)
    new_at_kill = at_kill.get(new_inode, 0)
    dups, which = duplicate_report(counts)
    old_dups = [n for n in which if n < OLD + LATE]
    new_dups = [n for n in which if n >= OLD + LATE]
    print("\nrename rotation, SIGKILL when %s: registry at the kill: access.log.1 (inode %d) at line %d%s; "
          "%d lines, %d records, %d duplicates (renamed file: %d, lines %s..%s; new file: %d)"
          % (kill_at, old_inode, old_at_kill // LINE, ", access.log (inode %d) at line %d" % (new_inode, OLD + LATE + new_at_kill // LINE) if new_inode in at_kill else ", new access.log not in it",
             TOTAL, len(events), dups, len(old_dups), old_dups[:1], old_dups[-1:], len(new_dups)))
    # the renamed file resumed at its offset: nothing before it came again
    assert all(n * LINE >= old_at_kill for n in old_dups), "renamed file read again before its registry offset %d: %s" % (old_at_kill, old_dups[:10])
    assert all((n - OLD - LATE) * LINE >= new_at_kill for n in new_dups), "new file read again before its registry offset"
    # what the restarted shipper did with the renamed file: resumed at its registry offset, or nothing
    # when that offset was already its size; never from 0
    opened = [int(re.search(r"offset=(\d+)", l).group(1)) for l in log_lines(tmp_path / "ship-2.log") if "reading file" in l and "access.log.1" in l]
    final = registry(tmp_path)
    key = next(k for k, e in final.items() if e["inode"] == old_inode)
    print("restarted shipper: access.log.1 opened at %s (registry key %s, path %s)" % (opened or "-- (nothing left to read)", key, final[key]["path"]))
    if old_at_kill < os.stat(rotated).st_size:
        assert opened == [old_at_kill], (opened, old_at_kill)
    else:
        assert opened == [], opened
    # each record names the file it was read from, and the offset of its line there
    for _, _, e in events:
        k = number(e["message"])
        assert e["log"]["offset"] == (k if k < OLD + LATE else k - OLD - LATE) * LINE, e


# --- 3. the shipper SIGKILLed around a copytruncate rotation ----------------------------------------

BEFORE, AFTER = 6000, 8000  # lines before the copytruncate, after it


def copytruncate_case(cluster, tmp_path, fingerprint, kill):
    """Lines 0..5999 are written to access.log; the writer copies it to access.log.1 and truncates
    access.log to 0 (logrotate's copytruncate, no write in between) and goes on with lines
    6000..13999 (O_APPEND: they start at byte 0). The shipper reads `access.log` only (the copy is
    not an input, as with `/var/log/app/*.log`). It is SIGKILLed and started again with the same
    registry, `kill` saying when:

    - `just_after`: right after the truncation and 20 more lines; restarted while access.log is still
      shorter than the registry offset (when that is still the old content's, the writer waits for the
      restarted shipper to open the file);
    - `followed`: once the running shipper has followed the truncation (its registry offset went back
      and 1000 new lines are acknowledged); restarted at once, the writer never pausing;
    - `before`: just before the copy (the shipper is down across the rotation); restarted only once
      access.log has grown past the registry offset, the writer never pausing.

    Returns (counts per line, registry offset read just before the copy, registry offset at the kill)."""
    topic = "ct-" + uuid.uuid4().hex[:6]
    create_topic(cluster, topic)
    log = tmp_path / "access.log"
    log.write_text("")
    inode = os.stat(log).st_ino
    cfg = ship_config(tmp_path, cluster, [log], topic, "      fingerprint: true" if fingerprint else "")
    first = Shipper(cfg, tmp_path / "ship-1.log")
    before_copy = [0]

    def offset():
        return (entry_of(tmp_path, inode) or {}).get("offset", 0)

    def body(w):
        with open(log, "a") as f:
            write_lines(f, range(0, 1000))
            assert w.events["shipping"].wait(60)
            write_lines(f, range(1000, BEFORE - 3000))
            write_lines(f, range(BEFORE - 3000, BEFORE), per_chunk=3000, pause=0)  # a burst just before the rotation
            before_copy[0] = offset()
            if kill == "before":
                w.events["rotated"].set()
                assert w.events["go_on"].wait(60)
            shutil.copyfile(log, tmp_path / "access.log.1")
            os.truncate(log, 0)
            write_lines(f, range(BEFORE, BEFORE + 20), per_chunk=20)
            w.events["truncated"].set()
            if kill == "just_after":
                assert w.events["go_on"].wait(60)
            write_lines(f, range(BEFORE + 20, BEFORE + AFTER))

    writer = Writer(body)
    second = None
    try:
        writer.start()
        wait_for(lambda: offset() > 0, 30, "the shipper acknowledging lines")
        writer.events["shipping"].set()
        if kill == "before":
            assert writer.events["rotated"].wait(60), "the writer never got to the rotation"
        elif kill == "just_after":
            assert writer.events["truncated"].wait(60), "the writer never truncated"
        else:
            assert writer.events["truncated"].wait(60), "the writer never truncated"
            wait_for(lambda: 1000 * LINE <= offset() < before_copy[0], 60, "the shipper following the truncation")
        first.kill()
        at_kill = offset()
        if kill == "before":
            writer.events["go_on"].set()
            wait_for(lambda: writer.events["truncated"].is_set() and os.stat(log).st_size > at_kill, 60,
                     "access.log truncated and grown past the registry offset %d" % at_kill)
        second = Shipper(cfg, tmp_path / "ship-2.log")
        if kill == "just_after":
            if at_kill >= before_copy[0]:  # the registry still holds the old content's offset
                wait_for(lambda: "reading file" in (tmp_path / "ship-2.log").read_text(), 30, "the restarted shipper opening access.log")
            # else the first shipper had followed the truncation: the registry offset is the new content's
            writer.events["go_on"].set()
        writer.finish()
        wait_for(lambda: acked_to_end(tmp_path, log), 60, "access.log acknowledged to its end")
    finally:
        writer.events["shipping"].set()
        writer.events["go_on"].set()
        if writer.ident:
            writer.events["done"].wait(30)
        rc = second.stop() if second else first.kill()
    assert rc == 0, (tmp_path / "ship-2.log").read_text()[-3000:]
    counts = Counter(number(e["message"]) for _, _, e in read_topic(cluster, topic))
    return counts, before_copy[0], at_kill


def check_copytruncate(tmp_path, counts, before_copy, at_kill, what):
    followed = at_kill < before_copy  # the registry went back: the first shipper had followed the truncation
    new = set(range(BEFORE, BEFORE + AFTER))
    missing_new = sorted(new - set(counts))
    missing_acked = sorted(set(range(before_copy // LINE)) - set(counts))
    copy_only = sorted(set(range(BEFORE)) - set(counts))
    dups, which = duplicate_report(counts)
    noticed = "file truncated" in (tmp_path / "ship-1.log").read_text()
    print("\ncopytruncate, %s: registry before the copy at line %d, at the kill at %s line %d (first shipper %s the truncation); "
          "%d of %d lines written before the truncation reached Kafka, %d are only in the copy; %d of %d lines after it missing; "
          "%d duplicates (lines %s..%s)"
          % (what, before_copy // LINE, "new-content" if followed else "old-content", at_kill // LINE, "had seen" if noticed else "had not seen",
             BEFORE - len(copy_only), BEFORE, len(copy_only), len(missing_new), AFTER, dups, which[:1], which[-1:]))
    assert not missing_new, "lines written after the truncation lost: %d, first %s" % (len(missing_new), missing_new[:20])
    assert not missing_acked, "lines acknowledged before the copy lost: %s" % missing_acked[:20]
    if followed:
        early = [n for n in which if BEFORE <= n and (n - BEFORE) * LINE < at_kill]
        assert not early, "lines before the registry offset at the kill sent again (%d of them): %s" % (len(early), early[:10])


@pytest.mark.parametrize("fingerprint", [False, True], ids=["inode", "fingerprint"])
def test_shipper_sigkilled_just_after_copytruncate(cluster, tmp_path, fingerprint):
    """Killed right after the truncation, restarted while access.log is shorter than the registry
    offset: the restarted shipper reads it from 0. Every line written after the truncation arrives;
    lines acknowledged before the copy arrived; lines written before the truncation and not read by
    then are in access.log.1 only (Filebeat's `log` input does the same, unless the rotated file is an
    input too: then all of it is shipped again)."""
    check_copytruncate(tmp_path, *copytruncate_case(cluster, tmp_path, fingerprint, "just_after"),
                       "SIGKILL just after, %s" % ("fingerprint" if fingerprint else "device+inode"))


@pytest.mark.parametrize("fingerprint", [False, True], ids=["inode", "fingerprint"])
def test_shipper_sigkilled_after_following_copytruncate(cluster, tmp_path, fingerprint):
    """Killed once the running shipper followed the truncation (read access.log again from 0 and had
    1000 new lines acknowledged); restarted at once. Every line after the truncation arrives, and no
    line before the offset the registry held at the kill is sent again."""
    check_copytruncate(tmp_path, *copytruncate_case(cluster, tmp_path, fingerprint, "followed"),
                       "SIGKILL after following it, %s" % ("fingerprint" if fingerprint else "device+inode"))


def test_shipper_down_across_copytruncate_fingerprint(cluster, tmp_path):
    """`fingerprint: true`; killed just before the copy and restarted only once access.log has grown
    past the registry offset: its first 1024 bytes differ from the fingerprint in the registry, so it
    is read from 0 (identity::Start::Reused). Every line written after the truncation arrives."""
    check_copytruncate(tmp_path, *copytruncate_case(cluster, tmp_path, True, "before"), "shipper down across it, fingerprint")


def test_shipper_down_across_copytruncate_inode_only_loses_the_regrown_head(cluster, tmp_path):
    """The known limit of device+inode identity (Filebeat's `log` input has it too): killed just
    before the copy and restarted once access.log has grown past the registry offset, the file looks
    like the old one grown, and is resumed at that stale offset. Exactly the new content's lines
    before it are lost; every other line after the truncation arrives. `fingerprint: true` closes
    this (the test above). This test fails if more is lost, or once the limit is gone."""
    counts, before_copy, at_kill = copytruncate_case(cluster, tmp_path, False, "before")
    missing_new = sorted(set(range(BEFORE, BEFORE + AFTER)) - set(counts))
    print("\ncopytruncate, shipper down across it, device+inode: registry at the kill at line %d; %d lines after the "
          "truncation lost (%s..%s), %d duplicates" % (at_kill // LINE, len(missing_new), missing_new[:1], missing_new[-1:], duplicate_report(counts)[0]))
    assert at_kill > 0 and missing_new == list(range(BEFORE, BEFORE + at_kill // LINE)), (at_kill, missing_new[:5], missing_new[-5:])
    assert not sorted(set(range(before_copy // LINE)) - set(counts)), "lines acknowledged before the copy lost"
