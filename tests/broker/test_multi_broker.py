"""Several brokers of one cluster (same coordinator, broker ids 0, 1, 2):
metadata, partition leaders on every broker, producing through one bootstrap
address and consuming through another."""

import json
from collections import Counter

import pytest
from confluent_kafka import TopicPartition

import broker_harness as harness
import broker_kafkautil as ku


@pytest.fixture(scope="module")
def broker1(cluster):
    """Broker 1 of the session cluster, for this module's tests."""
    ku.warm_up_group_coordinator(cluster.bootstrap)
    b = cluster.start_broker(1)
    ku.wait_for_brokers(cluster.bootstrap, {0, 1})
    ku.wait_for_brokers(b.bootstrap, {0, 1})
    yield b
    cluster.stop_broker(1)
    ku.wait_for_brokers(cluster.bootstrap, {0})


def _leaders(bootstrap, topic, partitions):
    """{partition: leader id}. Kafka's brokers learn new topics from the
    controller asynchronously, and librdkafka may ask any broker: retry
    until the answer is complete."""
    t = ku.wait_topic_ready(bootstrap, topic, partitions)
    return {p: pm.leader for p, pm in t.partitions.items()}


def test_metadata_lists_both_brokers(cluster, broker1, zk_client):
    b1 = broker1
    for bootstrap in (cluster.bootstrap, b1.bootstrap):
        ku.wait_for_brokers(bootstrap, {0, 1})
        md = ku.admin_client(bootstrap).list_topics(timeout=10)
        assert {i: (b.host, b.port) for i, b in md.brokers.items()} == {
            0: ("127.0.0.1", cluster.broker.port),
            1: ("127.0.0.1", b1.port)}
        assert md.controller_id == 0            # the first broker stays it
    r = ku.kcat(b1.bootstrap, "-L", "-J")
    assert sorted((b["id"], b["name"]) for b in json.loads(r.stdout)["brokers"]) \
        == [(0, cluster.bootstrap), (1, b1.bootstrap)]
    assert sorted(zk_client.get_children("/brokers/ids")) == ["0", "1"]
    reg = json.loads(zk_client.get("/brokers/ids/1")[0])
    assert reg["endpoints"] == ["PLAINTEXT://%s" % b1.bootstrap]


def test_partition_leaders_on_both_brokers(cluster, broker1, topic):
    b1 = broker1
    ku.create_topic(cluster.bootstrap, topic, partitions=6)
    leaders = _leaders(cluster.bootstrap, topic, 6)
    # replication factor 1, spread evenly: 3 partitions each
    assert Counter(leaders.values()) == {0: 3, 1: 3}
    # the other broker reports the same leaders
    assert _leaders(b1.bootstrap, topic, 6) == leaders


def test_produce_through_one_consume_through_other(cluster, broker1,
                                                   topic):
    b1 = broker1
    ku.create_topic(cluster.bootstrap, topic, partitions=4)
    ku.wait_topic_ready(b1.bootstrap, topic, 4)
    assert set(_leaders(cluster.bootstrap, topic, 4).values()) == {0, 1}
    values = [b"m%03d" % i for i in range(80)]
    reports = ku.produce(cluster.bootstrap, topic, values,
                         keys=[b"k%d" % i for i in range(80)])
    assert all(err is None for err, _, _ in reports)
    assert {p for _, p, _ in reports} == {0, 1, 2, 3}
    msgs = ku.read_topic(b1.bootstrap, topic, 4, 80)
    assert sorted(m.value() for m in msgs) == values
    # and the other way round
    reports = ku.produce(b1.bootstrap, topic, [b"back"], partition=0)
    assert reports[0][0] is None
    (m,) = ku.read_partition(cluster.bootstrap, topic, 0, 1,
                             start=reports[0][2])
    assert m.value() == b"back"


def test_group_across_brokers(cluster, broker1, topic, group):
    """A consumer group whose partitions are led by both brokers, with the
    group coordinated by broker 0, bootstrapped through broker 1."""
    b1 = broker1
    ku.create_topic(cluster.bootstrap, topic, partitions=4)
    for p in range(4):
        ku.produce(cluster.bootstrap, topic, [b"p%d" % p] * 5, partition=p)
    c = ku.consumer(b1.bootstrap, group=group)
    c.subscribe([topic])
    try:
        msgs = ku.collect(c, 20, 30)
        assert Counter(m.partition() for m in msgs) == {0: 5, 1: 5, 2: 5, 3: 5}
        c.commit(asynchronous=False)
        committed = c.committed([TopicPartition(topic, p) for p in range(4)],
                                timeout=10)
        assert [tp.offset for tp in committed] == [5, 5, 5, 5]
    finally:
        c.close()


def test_replicated_topic(cluster, broker1, topic, zk_client):
    """Replication factor 2: both brokers hold every partition and are in
    its ISR; acks=all writes are readable through either broker."""
    b1 = broker1
    ku.create_topic(cluster.bootstrap, topic, partitions=2,
                    replication_factor=2)

    def full_isr():
        t = ku.topic_metadata(cluster.bootstrap, topic)
        return t is not None and len(t.partitions) == 2 and all(
            sorted(p.replicas) == [0, 1] and sorted(p.isrs) == [0, 1]
            for p in t.partitions.values())
    ku.wait_until(full_isr, timeout=15, what="ISR [0, 1] on both partitions")
    assert json.loads(zk_client.get("/brokers/topics/%s" % topic)[0])[
        "partitions"] in ({"0": [0, 1], "1": [1, 0]}, {"0": [1, 0], "1": [0, 1]})
    reports = ku.produce(b1.bootstrap, topic, [b"r%d" % i for i in range(20)],
                         keys=[b"%d" % i for i in range(20)],
                         conf={"acks": "all"})
    assert all(err is None for err, _, _ in reports)
    for bootstrap in (cluster.bootstrap, b1.bootstrap):
        msgs = ku.read_topic(bootstrap, topic, 2, 20)
        assert sorted(m.value() for m in msgs) == \
            sorted(b"r%d" % i for i in range(20))
    for p in ("0", "1"):
        st = json.loads(zk_client.get(
            "/brokers/topics/%s/partitions/%s/state" % (topic, p))[0])
        assert sorted(st["isr"]) == [0, 1]
    # Delete it: with broker 1 gone, Kafka's controlled shutdown of broker 0
    # would retry moving these replicated partitions (2 x 5 s) before
    # giving up.
    a = ku.admin_client(cluster.bootstrap)
    for f in a.delete_topics([topic], operation_timeout=30).values():
        f.result(30)
    ku.wait_until(lambda: zk_client.exists("/brokers/topics/%s" % topic) is None,
                  what="replicated topic deleted")


def test_replicated_partition_survives_its_leader_killed(cluster, broker1, extra_brokers, topic, zk_client):
    """The seed's scenario in small: a topic replicated on brokers 2 and 1,
    acks=all writes, SIGKILL of a partition's leader; the controller makes
    the other replica leader (leader epoch bumped, ISR without the dead
    broker), writes go on, and every acknowledged record is read back
    through broker 0. The killed broker comes back, catches up and rejoins
    the ISR."""
    b2 = extra_brokers(2)
    ku.wait_for_brokers(cluster.bootstrap, {0, 1, 2})
    # An explicit assignment (broker 2 leads both); librdkafka's admin API
    # refuses one here, kafka-python's sends it.
    from kafka.admin import KafkaAdminClient, NewTopic
    ka = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    try:
        ka.create_topics([NewTopic(topic, num_partitions=-1, replication_factor=-1,
                                   replica_assignments={0: [2, 1], 1: [2, 1]})])
    finally:
        ka.close()
    a = ku.admin_client(cluster.bootstrap)

    def state(p):
        return json.loads(zk_client.get("/brokers/topics/%s/partitions/%d/state" % (topic, p))[0])
    ku.wait_until(lambda: all(sorted(state(p)["isr"]) == [1, 2] for p in (0, 1)),
                  timeout=20, what="ISR [1, 2]")
    before = ku.produce(cluster.bootstrap, topic, [b"a%d" % i for i in range(200)],
                        keys=[b"%d" % i for i in range(200)], conf={"acks": "all"})
    assert all(err is None for err, _, _ in before)
    victim, survivor = 2, 1
    assert state(0)["leader"] == victim
    epoch = state(0)["leader_epoch"]
    b2.kill()
    ku.wait_until(lambda: state(0)["leader"] == survivor and state(1)["leader"] == survivor,
                  timeout=30, what="broker %d leading both partitions" % survivor)
    assert state(0)["leader_epoch"] > epoch
    assert state(0)["isr"] == [survivor]
    after = ku.produce(cluster.bootstrap, topic, [b"b%d" % i for i in range(200)],
                       keys=[b"%d" % i for i in range(200)], conf={"acks": "all"})
    assert all(err is None for err, _, _ in after)
    msgs = ku.read_topic(cluster.bootstrap, topic, 2, 400)
    assert sorted(m.value() for m in msgs) == sorted([b"a%d" % i for i in range(200)] + [b"b%d" % i for i in range(200)])
    # back: it catches up from the new leader and rejoins the ISR
    extra_brokers(2)
    ku.wait_until(lambda: all(sorted(state(p)["isr"]) == [1, 2] for p in (0, 1)),
                  timeout=60, what="the restarted broker back in the ISR")
    for f in a.delete_topics([topic], operation_timeout=30).values():
        f.result(30)


def test_controlled_shutdown_then_preferred_leader_election(cluster, broker1, extra_brokers, topic, zk_client):
    """SIGTERM of a partition's leader moves leadership to the other in-sync
    replica before the broker exits (Kafka's controlled shutdown): an acks=all
    producer running through it sees no error and loses nothing. When the
    broker is back in the ISR, ElectLeaders (kafka-leader-election.sh's
    request) makes the preferred replica leader again."""
    import threading
    import time
    from confluent_kafka import ElectionType
    from confluent_kafka import TopicPartition as TP
    from kafka.admin import KafkaAdminClient, NewTopic
    b2 = extra_brokers(2)
    ku.wait_for_brokers(cluster.bootstrap, {0, 1, 2})
    ka = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    try:
        ka.create_topics([NewTopic(topic, num_partitions=-1, replication_factor=-1,
                                   replica_assignments={0: [2, 1]})])
    finally:
        ka.close()

    def state():
        return json.loads(zk_client.get("/brokers/topics/%s/partitions/0/state" % topic)[0])
    ku.wait_until(lambda: sorted(state()["isr"]) == [1, 2], timeout=20, what="ISR [1, 2]")
    p = ku.producer(cluster.bootstrap, acks="all", **{"enable.idempotence": True})
    acked, errors, stop = [], [], threading.Event()

    def cb(err, msg):
        (errors if err else acked).append(err or msg.value())

    def run():
        i = 0
        while not stop.is_set():
            p.produce(topic, value=b"c%d" % i, on_delivery=cb)
            i += 1
            p.poll(0.002)
        p.flush(30)
    t = threading.Thread(target=run)
    t.start()
    try:
        ku.wait_until(lambda: len(acked) > 100, timeout=30, what="writes before the shutdown")
        epoch = state()["leader_epoch"]
        b2.stop()  # SIGTERM, returns once the process is gone
        assert state()["leader"] == 1 and state()["leader_epoch"] > epoch
        n = len(acked)
        ku.wait_until(lambda: len(acked) > n + 100, timeout=30, what="writes after the shutdown")
    finally:
        stop.set()
        t.join(60)
    assert errors == []
    msgs = ku.read_topic(cluster.bootstrap, topic, 1, len(acked))
    assert sorted(m.value() for m in msgs) == sorted(acked)

    extra_brokers(2)
    ku.wait_until(lambda: sorted(state()["isr"]) == [1, 2], timeout=60, what="broker 2 back in the ISR")
    a = ku.admin_client(cluster.bootstrap)
    res = a.elect_leaders(ElectionType.PREFERRED, [TP(topic, 0)]).result(30)
    assert [e for e in res.values()] == [None], res
    ku.wait_until(lambda: state()["leader"] == 2, timeout=20, what="the preferred replica leading again")
    for f in a.delete_topics([topic], operation_timeout=30).values():
        f.result(30)


def test_three_brokers(cluster, broker1, extra_brokers, topic, zk_client):
    b1 = broker1
    b2 = extra_brokers(2)
    # CreateTopics goes to the controller, which assigns from its own view
    ku.wait_for_brokers_on_each([cluster.bootstrap, b1.bootstrap, b2.bootstrap], {0, 1, 2})
    ku.create_topic(b2.bootstrap, topic, partitions=3)
    assert sorted(_leaders(cluster.bootstrap, topic, 3).values()) == [0, 1, 2]
    ku.produce(b1.bootstrap, topic, [b"x%d" % i for i in range(30)],
               keys=[b"%d" % i for i in range(30)])
    assert len(ku.read_topic(b2.bootstrap, topic, 3, 30)) == 30


def test_stopped_broker_leaves_the_cluster(cluster, broker1, extra_brokers,
                                           zk_client):
    """A broker that shuts down removes its registration (an ephemeral
    node) and disappears from Metadata."""
    b3 = extra_brokers(3)
    ku.wait_for_brokers(cluster.bootstrap, {0, 1, 3})
    _, stat = zk_client.get("/brokers/ids/3")
    assert stat.ephemeralOwner != 0
    cluster.stop_broker(3)
    ku.wait_for_brokers(cluster.bootstrap, {0, 1})
    assert zk_client.exists("/brokers/ids/3") is None
    assert b3.proc is None


def test_rack_aware_assignment(make_cluster, topic):
    """With broker.rack on every broker (two racks), a new topic's replica
    sets each span both racks, and the racks are in the registrations."""
    c = make_cluster(**{"broker.rack": "rack-a"})
    c.start_broker(1, **{"broker.rack": "rack-a"})
    c.start_broker(2, **{"broker.rack": "rack-b"})
    c.start_broker(3, **{"broker.rack": "rack-b"})
    ku.wait_for_brokers(c.bootstrap, {0, 1, 2, 3})
    rack = {0: "rack-a", 1: "rack-a", 2: "rack-b", 3: "rack-b"}
    t = ku.create_topic(c.bootstrap, topic, partitions=8, replication_factor=2)
    for p in t.partitions.values():
        assert {rack[r] for r in p.replicas} == {"rack-a", "rack-b"}, p.replicas
    # leaders spread over all four brokers
    assert {p.leader for p in t.partitions.values()} == {0, 1, 2, 3}
    md = ku.admin_client(c.bootstrap).list_topics(timeout=10)
    assert len(md.brokers) == 4


def test_committed_offsets_survive_the_group_coordinator_killed(make_cluster, topic, group):
    """__consumer_offsets replicated (offsets.topic.replication.factor=2): a
    group commits offsets, the broker coordinating it is SIGKILLed, and the
    group's committed offsets are still there through the other broker."""
    c = make_cluster(**{"offsets.topic.replication.factor": "2", "offsets.topic.num.partitions": "3",
                        "default.replication.factor": "2", "zookeeper.session.timeout.ms": "6000"})
    b1 = c.start_broker(1)
    ku.wait_for_brokers(c.bootstrap, {0, 1})
    ku.create_topic(c.bootstrap, topic, partitions=2, replication_factor=2)
    for p in range(2):
        ku.produce(c.bootstrap, topic, [b"x%d" % i for i in range(10)], partition=p, conf={"acks": "all"})
    con = ku.consumer("%s,%s" % (c.bootstrap, b1.bootstrap), group=group)
    con.subscribe([topic])
    try:
        assert len(ku.collect(con, 20, 30)) == 20
        con.commit(asynchronous=False)
    finally:
        con.close()
    a = ku.admin_client(c.bootstrap)
    desc = a.describe_consumer_groups([group])[group].result(30)
    coordinator = desc.coordinator.id
    survivor = c.brokers[1 - coordinator]
    c.brokers[coordinator].kill()
    ku.wait_for_brokers(survivor.bootstrap, {1 - coordinator}, timeout=60)
    con = ku.consumer(survivor.bootstrap, group=group)
    try:
        def committed():
            try:
                got = con.committed([TopicPartition(topic, p) for p in range(2)], timeout=5)
            except Exception:
                return None
            return [tp.offset for tp in got]
        assert ku.wait_until(lambda: committed() == [10, 10], timeout=60,
                             what="committed offsets through the surviving broker")
    finally:
        con.close()


def test_automatic_leader_rebalance(make_cluster, topic):
    """auto.leader.rebalance.enable: after its preferred leader comes back in
    sync, the controller gives it the leadership again on its own (every
    leader.imbalance.check.interval.seconds), as Kafka's controller does."""
    c = make_cluster(**{"leader.imbalance.check.interval.seconds": "2", "zookeeper.session.timeout.ms": "6000"})
    b1 = c.start_broker(1, **{"leader.imbalance.check.interval.seconds": "2", "zookeeper.session.timeout.ms": "6000"})
    ku.wait_for_brokers(c.bootstrap, {0, 1})
    from kafka.admin import KafkaAdminClient, NewTopic
    ka = KafkaAdminClient(bootstrap_servers=c.bootstrap)
    try:
        ka.create_topics([NewTopic(topic, num_partitions=-1, replication_factor=-1, replica_assignments={0: [1, 0]})])
    finally:
        ka.close()
    def leader():
        t = ku.topic_metadata(c.bootstrap, topic)
        return t.partitions[0].leader if t is not None and 0 in t.partitions else None
    ku.wait_until(lambda: leader() == 1, timeout=30, what="broker 1 leading")
    b1.stop()
    ku.wait_until(lambda: leader() == 0, timeout=30, what="broker 0 leading while 1 is away")
    c.brokers.pop(1, None)
    c.start_broker(1, **{"leader.imbalance.check.interval.seconds": "2", "zookeeper.session.timeout.ms": "6000"})
    ku.wait_until(lambda: leader() == 1, timeout=60, what="the preferred leader (broker 1) leading again without any request")

