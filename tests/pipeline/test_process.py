"""strom-pipeline process (Logstash's role) end to end: Filebeat-shaped nginx events in topic
`nginx` on three strom-brokers, processed into the Elasticsearch stand-in by the seed's routing
(`if "access" in [tags]` → nginx_access-YYYY.MM.dd, `"error"` → nginx_error-YYYY.MM.dd) with the
log lines parsed; then the loss cases: 429/503 answers for a while, items refused with 400 (into the
dead-letter topic), the processor SIGKILLed mid-stream; and the seed's Logstash pipeline file
accepted as is and giving the same indices."""

import json
import os
import signal
import subprocess
import time
import uuid
from datetime import datetime, timezone

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import binary, HERE

ACCESS = '10.0.0.%d - - [27/Nov/2026:10:%02d:%02d +0800] "GET /page/%d HTTP/1.1" 200 %d "-" "curl/8.5.0"'
ERROR = '2026/11/27 10:%02d:%02d [error] 12#0: *%d open() "/usr/share/nginx/html/missing%d" failed (2: No such file or directory)'


def make_topic(cluster, name, partitions=3):
    a = AdminClient({"bootstrap.servers": cluster.all_bootstrap})
    for f in a.create_topics([NewTopic(name, partitions, 2)]).values():
        f.result(30)


def filebeat_event(i, kind):
    line = ACCESS % (i % 250, i // 60 % 60, i % 60, i, 100 + i) if kind == "access" else ERROR % (i // 60 % 60, i % 60, i, i)
    return {
        "@timestamp": "2026-11-27T02:%02d:%02d.000Z" % (i // 60 % 60, i % 60),
        "message": line, "tags": [kind], "fields": {"log_topic": "nginx"},
        "log": {"file": {"path": "/var/log/nginx/%s.log" % kind}, "offset": i * 100},
        "input": {"type": "filestream"}, "host": {"name": "web-1"},
        "agent": {"type": "filebeat", "version": "8.13.0"}, "ecs": {"version": "8.0.0"},
        "seq": i,
    }


def produce(cluster, topic, events):
    p = Producer({"bootstrap.servers": cluster.all_bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5})
    for e in events:
        p.produce(topic, json.dumps(e).encode())
    assert p.flush(60) == 0


def config(tmp_path, cluster, es, topic, group, dead_letter=None, retry="200ms", error_tz="+08:00"):
    """The seed's processing: access and error lines parsed by tag, into daily indices. nginx
    writes error-log times without an offset: `error_tz` is the zone they are in."""
    dl = "dead_letter: {topic: %s}\n" % dead_letter if dead_letter else ""
    text = f"""
process:
  input:
    kafka:
      brokers: [{', '.join(json.dumps(b.bootstrap) for b in cluster.brokers.values())}]
      topics: [{topic}]
      group_id: {group}
      codec: json
      auto_offset_reset: earliest
  filters:
    - branches:
        - when: '"access" in [tags]'
          filters:
            - nginx_combined: {{}}
            - date: {{field: timestamp, formats: ["dd/MMM/yyyy:HH:mm:ss Z"]}}
        - when: '"error" in [tags]'
          filters:
            - nginx_error: {{}}
            - date: {{field: timestamp, formats: ["yyyy/MM/dd HH:mm:ss"], timezone: "{error_tz}"}}
  outputs:
    - when: '"access" in [tags]'
      elasticsearch: {{hosts: ["{es.url}"], index: "nginx_access-%{{+YYYY.MM.dd}}", retry_initial_interval: {retry}, retry_max_interval: 1s}}
    - when: '"error" in [tags]'
      elasticsearch: {{hosts: ["{es.url}"], index: "nginx_error-%{{+YYYY.MM.dd}}", retry_initial_interval: {retry}, retry_max_interval: 1s}}
  {dl}"""
    path = tmp_path / ("%s.yaml" % group)
    path.write_text(text)
    return path


class Processor:
    def __init__(self, cfg, log, *extra):
        self.log = open(log, "ab")
        self.proc = subprocess.Popen([str(binary("strom-pipeline")), "process", "--config", str(cfg), *extra], stdout=self.log, stderr=self.log)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


def seqs(docs):
    return [d["seq"] for d in docs]


def test_the_seeds_routing_into_daily_indices_with_parsed_fields(cluster, es, tmp_path):
    topic = "nginx-" + uuid.uuid4().hex[:6]
    make_topic(cluster, topic)
    events = [filebeat_event(i, "access" if i % 3 else "error") for i in range(300)]
    produce(cluster, topic, events)
    p = Processor(config(tmp_path, cluster, es, topic, "g-route"), tmp_path / "process.log", "--metrics-addr", "127.0.0.1:0")
    try:
        wait_for(lambda: sum(es.indices().values()) >= 300, 60, "300 documents in the stand-in")
    finally:
        assert p.stop() == 0, (tmp_path / "process.log").read_text()[-3000:]
    # the log lines' own times: 10:mm:ss +08:00 is 02:mm:ss UTC, on 2026-11-27
    assert es.indices() == {"nginx_access-2026.11.27": 200, "nginx_error-2026.11.27": 100}, es.indices()
    access = es.docs("nginx_access-2026.11.27")
    assert sorted(seqs(access)) == [i for i in range(300) if i % 3]
    a = next(d for d in access if d["seq"] == 1)
    assert a["http"]["response"]["status_code"] == 200 and a["url"]["original"] == "/page/1"
    assert a["source"]["address"] == "10.0.0.1" and a["user_agent"]["original"] == "curl/8.5.0"
    assert a["@timestamp"] == "2026-11-27T02:00:01.000Z"
    assert a["log"]["file"]["path"] == "/var/log/nginx/access.log" and "access" in a["tags"]
    assert not any(t.startswith("_") for d in access for t in d["tags"]), "no parse failures"
    err = es.docs("nginx_error-2026.11.27")
    e = next(d for d in err if d["seq"] == 3)
    assert e["log"]["level"] == "error" and e["@timestamp"] == "2026-11-27T02:00:03.000Z"
    assert "@metadata" not in e


def test_429_and_503_for_a_while_then_400_items_go_to_the_dead_letter_topic(cluster, es, tmp_path):
    topic = "nginx-" + uuid.uuid4().hex[:6]
    dlq = topic + "-dead"
    make_topic(cluster, topic)
    make_topic(cluster, dlq, 1)
    events = [filebeat_event(i, "access") for i in range(200)]
    for e in events:
        if e["seq"] % 50 == 7:
            e["bad"] = "yes"
    es.call("POST", "/_standin/fail", {"status": 429, "count": 3})
    es.call("POST", "/_standin/fail", {"status": 503, "count": 2})
    es.call("POST", "/_standin/fail", {"field": "bad", "value": "yes", "status": 400, "count": -1})
    produce(cluster, topic, events)
    p = Processor(config(tmp_path, cluster, es, topic, "g-retry", dead_letter=dlq), tmp_path / "process.log")
    try:
        wait_for(lambda: sum(es.indices().values()) >= 196, 90, "196 documents in the stand-in")
    finally:
        assert p.stop() == 0, (tmp_path / "process.log").read_text()[-3000:]
    stored = seqs(es.docs())
    refused = [i for i in range(200) if i % 50 == 7]
    assert sorted(stored) == [i for i in range(200) if i not in refused], "each accepted event once"
    c = Consumer({"bootstrap.servers": cluster.all_bootstrap, "group.id": "dlq-" + topic, "auto.offset.reset": "earliest"})
    c.subscribe([dlq])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < len(refused) and time.monotonic() < deadline:
        m = c.poll(1)
        if m is not None and not m.error():
            got.append(json.loads(m.value()))
    c.close()
    assert sorted(d["event"]["seq"] for d in got) == refused
    assert all(d["error"]["status"] == 400 and d["error"]["type"] == "mapper_parsing_exception" and d["index"] == "nginx_access-2026.11.27" for d in got), got[:2]


def test_a_processor_killed_mid_stream_loses_nothing(cluster, es, tmp_path):
    topic = "nginx-" + uuid.uuid4().hex[:6]
    make_topic(cluster, topic)
    n = 3000
    produce(cluster, topic, [filebeat_event(i, "access") for i in range(n)])
    cfg = config(tmp_path, cluster, es, topic, "g-kill")
    # each bulk answer comes 500 ms after its documents are stored: a kill right after a batch
    # shows up in the stand-in lands before the processor could commit it
    es.call("POST", "/_standin/delay", {"ms": 500})
    p = Processor(cfg, tmp_path / "process.log")
    wait_for(lambda: sum(es.indices().values()) >= 1000, 60, "1000 documents before the kill")
    p.stop(signal.SIGKILL)
    es.call("POST", "/_standin/delay", {"ms": 0})
    before = sum(es.indices().values())
    p = Processor(cfg, tmp_path / "process.log")
    try:
        wait_for(lambda: set(seqs(es.docs())) >= set(range(n)), 90, "every event after the restart")
    finally:
        assert p.stop() == 0
    stored = seqs(es.docs())
    dups = len(stored) - len(set(stored))
    print("\nprocessor SIGKILL after %d of %d documents: %d duplicates (bound: one batch of 500)" % (before, n, dups))
    assert dups <= 500, "more duplicates than one uncommitted batch: %d" % dups


def test_the_seeds_logstash_file_gives_the_same_indices(cluster, es, tmp_path):
    topic = "nginx-" + uuid.uuid4().hex[:6]
    make_topic(cluster, topic)
    produce(cluster, topic, [filebeat_event(i, "access" if i % 2 else "error") for i in range(40)])
    seed = (HERE.parent.parent / "pipeline" / "tests" / "fixtures" / "seed-nginx-fixed.conf").read_text()
    # the seed's file as is, but for its addresses: our brokers, the stand-in, this test's topic
    # and a group reading from the start
    import re
    text = seed
    text = re.sub(r'bootstrap_servers\s*=>\s*"[^"]*"', 'bootstrap_servers => "%s"' % cluster.all_bootstrap, text)
    text = re.sub(r'topics\s*=>\s*(\[[^\]]*\]|"[^"]*")', 'topics => ["%s"]' % topic, text)
    text = re.sub(r'hosts\s*=>\s*\[[^\]]*\]', 'hosts => ["%s"]' % es.url, text)
    text = text.replace('auto_offset_reset => "latest"', 'auto_offset_reset => "earliest"\n      group_id => "g-seed"')
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    p = Processor(conf, tmp_path / "process.log", "--from", "logstash")
    try:
        wait_for(lambda: sum(es.indices().values()) >= 40, 60, "40 documents")
    finally:
        assert p.stop() == 0, (tmp_path / "process.log").read_text()[-3000:]
    names = es.indices()
    assert names == {"nginx_access-2026.11.27": 20, "nginx_error-2026.11.27": 20}, (names, text)
