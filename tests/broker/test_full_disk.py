"""A full disk: strom-broker's log.dirs on a 4 MiB tmpfs (in a user+mount namespace, no
privileges needed). Writes that no longer fit get KAFKA_STORAGE_ERROR, nothing acknowledged is
lost or damaged, and the broker keeps serving reads and metadata."""

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

import broker_harness as harness
import broker_kafkautil as ku


class FullDiskBroker(harness.Broker):
    def _command(self):
        Path(self.log_dirs).mkdir(parents=True, exist_ok=True)
        inner = super()._command()
        script = 'mount -t tmpfs -o size=4m tmpfs "$0" && exec "$@"'
        return ["unshare", "-rm", "sh", "-c", script, self.log_dirs, *inner]


def _namespaces_work():
    d = tempfile.mkdtemp()
    try:
        r = subprocess.run(["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=1m tmpfs "$0"', d],
                           capture_output=True, timeout=10)
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_full_disk_refuses_writes_and_loses_nothing():
    if harness.kafka_target() != "strom":
        pytest.skip("runs strom-broker in a mount namespace")
    if not _namespaces_work():
        pytest.skip("unprivileged user and mount namespaces are not available")
    c = harness.Cluster(name="fulldisk")
    try:
        c.zk.start()
        b = FullDiskBroker("strom", c.zk.hosts, 0, c.base_dir / "broker-0", {"log.segment.bytes": str(64 * 1024 * 1024)})
        c.brokers[0] = b
        b.start()
        ku.create_topic(b.bootstrap, "fill", partitions=1)
        p = Producer({"bootstrap.servers": b.bootstrap, "acks": "1", "retries": 0, "linger.ms": 0,
                      "batch.num.messages": 1, "message.timeout.ms": 10000})
        acked, errors = [], []

        def on_delivery(err, msg):
            if err is None:
                acked.append((msg.offset(), msg.value()))
            else:
                errors.append(err.code())

        i = 0
        while not errors and i < 20000:
            p.produce("fill", value=b"%06d-" % i + b"x" * 1000, on_delivery=on_delivery)
            p.flush(10)
            i += 1
        assert errors, "the 4 MiB disk never filled"
        assert errors[0] == KafkaError.KAFKA_STORAGE_ERROR, errors[:3]
        assert len(acked) > 1000, len(acked)

        # Every acknowledged record reads back intact, and nothing else is there.
        cons = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "fulldisk-reader", "enable.auto.commit": False})
        cons.assign([TopicPartition("fill", 0, 0)])
        got = []
        while len(got) < len(acked):
            m = cons.poll(10)
            assert m is not None, "read stalled at %d of %d" % (len(got), len(acked))
            assert not m.error(), m.error()
            got.append((m.offset(), m.value()))
        lo, hi = cons.get_watermark_offsets(TopicPartition("fill", 0), timeout=10)
        cons.close()
        assert got == sorted(acked)
        assert (lo, hi) == (0, len(acked)), "the failed writes took no offsets"
        assert 0 in ku.admin_client(b.bootstrap).list_topics(timeout=10).brokers
    finally:
        c.cleanup()
