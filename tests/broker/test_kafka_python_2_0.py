"""kafka-python 2.0.2: probes with ApiVersions v0, infers the broker release from the advertised
ranges (Kafka 3.9's, so it settles on 2.4 and uses Produce v7, Fetch v10, ListOffsets v1+) and
then produces, consumes in a group, commits and administers topics."""

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = r'''
import sys
from kafka import KafkaProducer, KafkaConsumer, KafkaAdminClient
from kafka.admin import NewTopic
b, topic, group = sys.argv[1:4]
p = KafkaProducer(bootstrap_servers=b)
print("inferred", p.config["api_version"])
offs = [p.send(topic, key=b"k%d" % i, value=b"v%d" % i).get(10).offset for i in range(20)]
p.close()
c = KafkaConsumer(topic, bootstrap_servers=b, group_id=group, auto_offset_reset="earliest",
                  consumer_timeout_ms=8000, enable_auto_commit=False)
got = [(m.key, m.value) for m in c]
assert sorted(got) == sorted((b"k%d" % i, b"v%d" % i) for i in range(20)), got
c.commit()
tp = list(c.assignment())[0]
assert c.committed(tp) == 20, c.committed(tp)
c.close()
a = KafkaAdminClient(bootstrap_servers=b)
a.create_topics([NewTopic(topic + "-admin", 2, 1)])
assert topic + "-admin" in a.list_topics()
a.delete_topics([topic + "-admin"])
print("ALL OK")
'''


def test_kafka_python_2_0_2(cluster, topic, group):
    py = Path(os.environ.get("STROM_CACHE", str(Path.home() / ".cache" / "strom"))) / "venv-kafka-python-2.0.2" / "bin" / "python"
    if not py.exists():
        pytest.skip("kafka-python 2.0.2 venv not installed (tests/lib/install.sh)")
    import broker_kafkautil as ku
    ku.create_topic(cluster.bootstrap, topic, partitions=1)
    r = subprocess.run([str(py), "-c", SCRIPT, cluster.bootstrap, topic, group], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "ALL OK" in r.stdout, r.stdout + r.stderr[-3000:]
    assert "inferred (2, " in r.stdout or "inferred (3, " in r.stdout, r.stdout
