"""confluent-kafka consumer groups: rebalancing with the range, roundrobin and
cooperative-sticky assignors, commit and resume, and the AdminClient's group
operations."""

import time

import pytest
from confluent_kafka import (ConsumerGroupState, ConsumerGroupTopicPartitions,
                             KafkaError, TopicPartition)

import broker_kafkautil as ku

PARTITIONS = 6


class Member:
    """One subscribed consumer of a group; its assignment is what librdkafka
    reports after the rebalance callbacks ran inside poll()."""

    def __init__(self, bootstrap, group, topic, assignor, name):
        self.name = name
        self.c = ku.consumer(bootstrap, group=group, **{
            "partition.assignment.strategy": assignor,
            "client.id": name})
        self.c.subscribe([topic])
        self.closed = False

    def assigned(self):
        return frozenset(tp.partition for tp in self.c.assignment())

    def close(self):
        if not self.closed:
            self.c.close()          # sends LeaveGroup
            self.closed = True


def settle(admin, group, members, timeout=60.0):
    """Poll every member until the group is stable with exactly these
    members, the broker's view of each member's assignment matches the
    client's, and the assignments cover all partitions without overlap.
    Returns {member name: set of partitions}."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        for m in members:
            m.c.poll(0.05)
        sets = {m.name: m.assigned() for m in members}
        union = set().union(*sets.values())
        total = sum(len(s) for s in sets.values())
        if union != set(range(PARTITIONS)) or total != PARTITIONS:
            last = ("client view", sets)
            continue
        desc = admin.describe_consumer_groups([group])[group].result(10)
        broker_view = {m.client_id: frozenset(tp.partition for tp in
                                              m.assignment.topic_partitions)
                       for m in desc.members}
        last = ("broker view", desc.state, broker_view, "client view", sets)
        if desc.state == ConsumerGroupState.STABLE and broker_view == sets:
            return sets
    raise AssertionError("group %s did not settle within %.0fs; last: %r"
                         % (group, timeout, last))


def _run_membership_changes(bootstrap, topic, group, assignor):
    """c1 joins, c2 joins, c3 joins, c3 leaves, c2 leaves; yields the
    settled assignment after each step."""
    ku.create_topic(bootstrap, topic, partitions=PARTITIONS)
    admin = ku.admin_client(bootstrap)
    members = []
    try:
        for i in range(3):
            members.append(Member(bootstrap, group, topic, assignor,
                                  "c%d" % (i + 1)))
            yield settle(admin, group, members)
        for _ in range(2):
            members.pop().close()
            yield settle(admin, group, members)
    finally:
        for m in members:
            m.close()


def _sizes(assignment):
    return sorted(len(s) for s in assignment.values())


def test_range_assignor_rebalances(bootstrap, topic, group):
    steps = list(_run_membership_changes(bootstrap, topic, group, "range"))
    assert [_sizes(s) for s in steps] == [[6], [3, 3], [2, 2, 2], [3, 3], [6]]
    for s in steps:
        for parts in s.values():             # range: contiguous runs
            assert max(parts) - min(parts) + 1 == len(parts), s


def test_roundrobin_assignor_rebalances(bootstrap, topic, group):
    steps = list(_run_membership_changes(bootstrap, topic, group,
                                         "roundrobin"))
    assert [_sizes(s) for s in steps] == [[6], [3, 3], [2, 2, 2], [3, 3], [6]]
    for s in steps:
        n = len(s)
        for parts in s.values():             # roundrobin: stride of n
            assert len({p % n for p in parts}) == 1, s


def test_cooperative_sticky_assignor_rebalances(bootstrap, topic, group):
    steps = list(_run_membership_changes(bootstrap, topic, group,
                                         "cooperative-sticky"))
    assert [_sizes(s) for s in steps] == [[6], [3, 3], [2, 2, 2], [3, 3], [6]]
    # joins: members already there keep a subset of what they had;
    # leaves: members that stay keep everything they had
    for before, after in zip(steps[:3], steps[1:3]):
        for name, parts in before.items():
            assert after[name] <= parts, (before, after)
    for before, after in zip(steps[2:], steps[3:]):
        for name, parts in after.items():
            assert before[name] <= parts, (before, after)


def test_group_members_share_the_messages(bootstrap, topic, group):
    """Three members consume every message exactly once, each only from
    its own partitions."""
    ku.create_topic(bootstrap, topic, partitions=PARTITIONS)
    values = [b"%03d" % i for i in range(60)]
    admin = ku.admin_client(bootstrap)
    members = [Member(bootstrap, group, topic, "range", "c%d" % i)
               for i in range(3)]
    try:
        # settle() polls and drops what it gets: produce only after it
        assignment = settle(admin, group, members)
        for p in range(PARTITIONS):
            ku.produce(bootstrap, topic, values[p::PARTITIONS], partition=p)
        got = {m.name: [] for m in members}
        deadline = time.time() + 30
        while sum(map(len, got.values())) < 60 and time.time() < deadline:
            for m in members:
                for msg in m.c.consume(num_messages=100, timeout=0.1):
                    assert msg.error() is None, msg.error()
                    got[m.name].append(msg)
        allmsgs = [msg for lst in got.values() for msg in lst]
        assert sorted(msg.value() for msg in allmsgs) == values
        for name, lst in got.items():
            assert {msg.partition() for msg in lst} <= assignment[name]
    finally:
        for m in members:
            m.close()


def test_commit_and_resume(bootstrap, topic, group):
    ku.create_topic(bootstrap, topic, partitions=2)
    for p in range(2):
        ku.produce(bootstrap, topic, [b"p%d-%d" % (p, i) for i in range(10)],
                   partition=p)
    c = ku.consumer(bootstrap, group=group)
    c.subscribe([topic])
    try:
        first = ku.collect(c, 20, 30)
        # commit: partition 0 up to offset 6, partition 1 up to 3
        c.commit(offsets=[TopicPartition(topic, 0, 6),
                          TopicPartition(topic, 1, 3)], asynchronous=False)
        committed = c.committed([TopicPartition(topic, 0),
                                 TopicPartition(topic, 1)], timeout=10)
        assert [(tp.partition, tp.offset) for tp in committed] == [(0, 6), (1, 3)]
    finally:
        c.close()
    assert len(first) == 20

    c2 = ku.consumer(bootstrap, group=group, **{"auto.offset.reset": "latest"})
    c2.subscribe([topic])
    try:
        rest = ku.collect(c2, 4 + 7, 30)
        got = sorted((m.partition(), m.offset()) for m in rest)
        assert got == [(0, o) for o in range(6, 10)] + \
            [(1, o) for o in range(3, 10)]
        # nothing more
        assert c2.consume(num_messages=10, timeout=1.0) == []
        # commit the consumed position (the next offset to read)
        c2.commit(asynchronous=False)
        committed = c2.committed([TopicPartition(topic, 0),
                                  TopicPartition(topic, 1)], timeout=10)
        assert [tp.offset for tp in committed] == [10, 10]
    finally:
        c2.close()

    a = ku.admin_client(bootstrap)
    (f,) = a.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)]).values()
    offsets = sorted((tp.partition, tp.offset)
                     for tp in f.result(10).topic_partitions)
    assert offsets == [(0, 10), (1, 10)]


def test_commit_with_metadata_and_uncommitted_partition(bootstrap, topic,
                                                        group):
    ku.create_topic(bootstrap, topic, partitions=2)
    c = ku.consumer(bootstrap, group=group)
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 5, metadata="note-1")],
                 asynchronous=False)
        got = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)],
                          timeout=10)
        assert got[0].offset == 5
        assert got[0].metadata == "note-1"
        assert got[1].offset == -1001          # OFFSET_INVALID: none stored
    finally:
        c.close()


def test_auto_offset_reset(bootstrap, topic):
    ku.create_topic(bootstrap, topic)
    ku.produce(bootstrap, topic, [b"a", b"b", b"c"])
    c = ku.consumer(bootstrap, group=ku.unique_name("earliest"))
    c.subscribe([topic])
    try:
        assert [m.value() for m in ku.collect(c, 3, 30)] == [b"a", b"b", b"c"]
    finally:
        c.close()
    c = ku.consumer(bootstrap, group=ku.unique_name("latest"),
                    **{"auto.offset.reset": "latest"})
    c.subscribe([topic])
    try:
        # librdkafka tells nothing when the reset to the end has happened:
        # produce new messages until one arrives; a, b, c never may.
        deadline = time.time() + 30
        got = None
        i = 0
        while got is None and time.time() < deadline:
            ku.produce(bootstrap, topic, [b"new-%d" % i])
            i += 1
            got = c.poll(0.5)
        assert got is not None, "nothing consumed with latest within 30s"
        assert got.error() is None
        assert got.value().startswith(b"new-")
        assert got.offset() >= 3
    finally:
        c.close()


def test_admin_consumer_groups(bootstrap, topic, group):
    ku.create_topic(bootstrap, topic, partitions=2)
    a = ku.admin_client(bootstrap)
    c = ku.consumer(bootstrap, group=group, **{"client.id": "the-client"})
    c.subscribe([topic])
    try:
        ku.wait_until(lambda: c.poll(0.1) is None and len(c.assignment()) == 2,
                      what="assignment")
        c.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)

        listing = a.list_consumer_groups(request_timeout=10).result()
        assert listing.errors == []
        mine = [g for g in listing.valid if g.group_id == group]
        assert len(mine) == 1
        assert mine[0].state == ConsumerGroupState.STABLE
        assert mine[0].is_simple_consumer_group is False

        desc = a.describe_consumer_groups([group])[group].result(10)
        assert desc.group_id == group
        assert desc.state == ConsumerGroupState.STABLE
        assert desc.partition_assignor == "range"
        assert desc.is_simple_consumer_group is False
        assert desc.coordinator.id == 0
        (member,) = desc.members
        assert member.client_id == "the-client"
        assert member.member_id.startswith("the-client-")
        assert member.host.lstrip("/") == "127.0.0.1"
        assert sorted((tp.topic, tp.partition)
                      for tp in member.assignment.topic_partitions) == \
            [(topic, 0), (topic, 1)]

        # a group with members cannot be deleted: NON_EMPTY_GROUP (68)
        (f,) = a.delete_consumer_groups([group], request_timeout=10).values()
        assert f.exception() is not None
        assert f.exception().args[0].code() == KafkaError.NON_EMPTY_GROUP
    finally:
        c.close()

    desc = a.describe_consumer_groups([group])[group].result(10)
    assert desc.state == ConsumerGroupState.EMPTY
    assert desc.members == []
    listing = a.list_consumer_groups(request_timeout=10).result()
    assert [g.state for g in listing.valid if g.group_id == group] == \
        [ConsumerGroupState.EMPTY]

    (f,) = a.delete_consumer_groups([group], request_timeout=10).values()
    assert f.result() is None
    listing = a.list_consumer_groups(request_timeout=10).result()
    assert group not in [g.group_id for g in listing.valid]
    # deleting it again: GROUP_ID_NOT_FOUND (69)
    (f,) = a.delete_consumer_groups([group], request_timeout=10).values()
    assert f.exception().args[0].code() == KafkaError.GROUP_ID_NOT_FOUND
    # its committed offsets went with it
    (f,) = a.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])]
    ).values()
    assert [tp.offset for tp in f.result(10).topic_partitions] == [-1001]


def test_describe_unknown_group_is_dead(admin):
    """Kafka answers DescribeGroups for an unknown group with state Dead and
    no members, not with an error."""
    g = ku.unique_name("never-used")
    desc = admin.describe_consumer_groups([g])[g].result(10)
    assert desc.state == ConsumerGroupState.DEAD
    assert desc.members == []


def test_list_groups_filtered_by_state(bootstrap, topic, group):
    ku.create_topic(bootstrap, topic)
    c = ku.consumer(bootstrap, group=group)
    c.subscribe([topic])
    a = ku.admin_client(bootstrap)
    try:
        ku.wait_until(lambda: c.poll(0.1) is None and c.assignment(),
                      what="assignment")
        stable = a.list_consumer_groups(
            states={ConsumerGroupState.STABLE}, request_timeout=10).result()
        empty = a.list_consumer_groups(
            states={ConsumerGroupState.EMPTY}, request_timeout=10).result()
        assert group in [g.group_id for g in stable.valid]
        assert group not in [g.group_id for g in empty.valid]
    finally:
        c.close()


@pytest.mark.parametrize("assignor", ["range"])
def test_static_membership_rejoin_keeps_assignment(bootstrap, topic, group,
                                                   assignor):
    """group.instance.id: a member that closes without leaving and comes back
    with the same instance id gets its partitions back."""
    ku.create_topic(bootstrap, topic, partitions=2)
    a = ku.admin_client(bootstrap)
    conf = {"group.instance.id": "static-1",
            "partition.assignment.strategy": assignor}
    c = ku.consumer(bootstrap, group=group, **conf)
    c.subscribe([topic])
    try:
        ku.wait_until(lambda: c.poll(0.1) is None and len(c.assignment()) == 2,
                      what="assignment")
        desc = a.describe_consumer_groups([group])[group].result(10)
        (member,) = desc.members
        assert member.group_instance_id == "static-1"
    finally:
        c.close()       # a static member does not send LeaveGroup
    desc = a.describe_consumer_groups([group])[group].result(10)
    assert len(desc.members) == 1
    c = ku.consumer(bootstrap, group=group, **conf)
    c.subscribe([topic])
    try:
        ku.wait_until(lambda: c.poll(0.1) is None and len(c.assignment()) == 2,
                      what="assignment after rejoin")
        desc = a.describe_consumer_groups([group])[group].result(10)
        assert [m.group_instance_id for m in desc.members] == ["static-1"]
    finally:
        c.close()
