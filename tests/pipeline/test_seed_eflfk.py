"""The seed's EFLFK scenario end to end, every piece real but Elasticsearch: Debian's nginx on
loopback serves requests made by `ab`; `strom-pipeline ship` tails its access and error logs
(tags `access` and `error`, topic from `fields.log_topic` as the seed's filebeat.yml does) into
three strom-brokers; `strom-pipeline process` routes them into the Elasticsearch stand-in's
`nginx_access-YYYY.MM.dd` / `nginx_error-YYYY.MM.dd` with the lines parsed. Every log line must
arrive once, in the daily index of its own time. Then rsyslog's omkafka (a real librdkafka-based
shipper) feeds the processor too."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter
from datetime import datetime, timezone

import pytest

from conftest import binary
from test_process import Processor, config, make_topic, wait_for

pytestmark = pytest.mark.skipif(not (shutil.which("nginx") and shutil.which("ab")), reason="nginx and ab (tests/lib/install.sh installs them)")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


@pytest.fixture
def nginx(tmp_path):
    root = tmp_path / "nginx"
    for d in ("html", "logs", "tmp"):
        (root / d).mkdir(parents=True)
    os.chmod(tmp_path, 0o755)
    os.chmod(root, 0o755)
    os.chmod(root / "html", 0o755)
    (root / "html" / "index.html").write_text("<h1>seed</h1>\n")
    os.chmod(root / "html" / "index.html", 0o644)
    port = free_port()
    conf = root / "nginx.conf"
    # as root, nginx's workers drop to www-data, who cannot enter pytest's private tmp dir
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(f"""
{user}
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/logs/error.log error;
events {{ worker_connections 128; }}
http {{
  access_log {root}/logs/access.log combined;
  client_body_temp_path {root}/tmp/body;
  proxy_temp_path {root}/tmp/proxy;
  fastcgi_temp_path {root}/tmp/fastcgi;
  uwsgi_temp_path {root}/tmp/uwsgi;
  scgi_temp_path {root}/tmp/scgi;
  server {{
    listen 127.0.0.1:{port};
    root {root}/html;
    location / {{ }}
  }}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(root)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("nginx did not start: %s" % proc.stderr.read().decode()[-2000:])
            time.sleep(0.1)
    yield {"url": "http://127.0.0.1:%d" % port, "access": root / "logs" / "access.log", "error": root / "logs" / "error.log"}
    proc.send_signal(signal.SIGQUIT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def ship_config(tmp_path, cluster, logs, topic):
    path = tmp_path / "ship.yaml"
    brokers = ", ".join(json.dumps(b.bootstrap) for b in cluster.brokers.values())
    path.write_text(f"""
ship:
  inputs:
    - id: nginx-access
      paths: ["{logs['access']}"]
      tags: [access]
      fields: {{log_topic: {topic}}}
      scan_frequency: 1s
    - id: nginx-error
      paths: ["{logs['error']}"]
      tags: [error]
      fields: {{log_topic: {topic}}}
      scan_frequency: 1s
      multiline: {{pattern: '^\\d{{4}}/\\d{{2}}/\\d{{2}} ', negate: true, match: after}}
  output:
    kafka:
      brokers: [{brokers}]
      topic: "%{{[fields][log_topic]}}"
      acks: all
  registry: {tmp_path}/registry.json
""")
    return path


def local_offset():
    """The machine's UTC offset as +HH:MM: nginx writes error-log times in local time."""
    z = time.strftime("%z")
    return z[:3] + ":" + z[3:]


def process_config(tmp_path, cluster, es, topic):
    return config(tmp_path, cluster, es, topic, "seed-logstash", error_tz=local_offset())


def access_index(line):
    t = datetime.strptime(re.search(r"\[([^\]]+)\]", line).group(1), "%d/%b/%Y:%H:%M:%S %z")
    return "nginx_access-" + t.astimezone(timezone.utc).strftime("%Y.%m.%d")


def error_index(line):
    t = datetime.strptime(line[:19], "%Y/%m/%d %H:%M:%S").astimezone()  # local time, as nginx writes it
    return "nginx_error-" + t.astimezone(timezone.utc).strftime("%Y.%m.%d")


def test_nginx_logs_through_three_brokers_into_daily_indices(cluster, es, nginx, tmp_path):
    topic = "nginx-" + uuid.uuid4().hex[:6]
    make_topic(cluster, topic)
    ship = subprocess.Popen([str(binary("strom-pipeline")), "ship", "--config", str(ship_config(tmp_path, cluster, nginx, topic))],
                            stdout=open(tmp_path / "ship.log", "wb"), stderr=subprocess.STDOUT)
    proc = Processor(process_config(tmp_path, cluster, es, topic), tmp_path / "process.log")
    try:
        # the load: pages that exist (access log) and pages that do not (access and error logs)
        for path, n in (("/index.html", 400), ("/missing.html", 60), ("/index.html?q=%d" % os.getpid(), 100)):
            subprocess.run(["ab", "-q", "-n", str(n), "-c", "4", nginx["url"] + path], check=True, stdout=subprocess.DEVNULL)
        access = nginx["access"].read_text().splitlines()
        errors = [l for l in nginx["error"].read_text().splitlines() if l.strip()]
        assert len(access) == 560 and len(errors) == 60, (len(access), len(errors))
        wait_for(lambda: sum(es.indices().values()) >= len(access) + len(errors), 90,
                 "%d access and %d error lines in the stand-in" % (len(access), len(errors)))
        time.sleep(1)  # any duplicate would show now
    finally:
        ship.send_signal(signal.SIGTERM)
        assert ship.wait(timeout=30) == 0, (tmp_path / "ship.log").read_text()[-3000:]
        assert proc.stop() == 0, (tmp_path / "process.log").read_text()[-3000:]
    want = Counter(access_index(l) for l in access) + Counter(error_index(l) for l in errors)
    assert es.indices() == dict(want), (es.indices(), dict(want))
    for index in want:
        docs = es.docs(index)
        lines = access if index.startswith("nginx_access") else errors
        assert sorted(d.get("event", {}).get("original") or d["message"] for d in docs) == sorted(l for l in lines if (access_index(l) if index.startswith("nginx_access") else error_index(l)) == index), index
    a = es.docs(next(i for i in want if i.startswith("nginx_access")))
    statuses = Counter(d["http"]["response"]["status_code"] for d in a)
    assert statuses == Counter({200: 500, 404: 60}), statuses
    assert all(d["http"]["request"]["method"] == "GET" and d["user_agent"]["original"].startswith("ApacheBench") and d["source"]["address"] == "127.0.0.1" for d in a)
    assert all(d["log"]["file"]["path"] == str(nginx["access"]) and d["tags"] == ["access"] for d in a)
    e = es.docs(next(i for i in want if i.startswith("nginx_error")))
    assert all(d["log"]["level"] == "error" and "missing.html" in d["message"] and "error" in d["tags"] for d in e), e[:1]


def test_rsyslog_omkafka_feeds_the_processor(cluster, es, tmp_path):
    """rsyslog (imfile → omkafka, librdkafka inside) ships a file as JSON; the processor indexes it."""
    if not shutil.which("rsyslogd") or not os.path.exists("/usr/lib/x86_64-linux-gnu/rsyslog/omkafka.so"):
        pytest.skip("rsyslog-kafka is not installed (tests/lib/install.sh installs it)")
    topic = "app-" + uuid.uuid4().hex[:6]
    make_topic(cluster, topic)
    work = tmp_path / "rsyslog"
    work.mkdir()
    log = tmp_path / "app.log"
    log.write_text("")
    brokers = ", ".join('"%s"' % b.bootstrap for b in cluster.brokers.values())
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(f"""
global(workDirectory="{work}")
module(load="imfile" PollingInterval="1")
module(load="omkafka")
template(name="ecs" type="list" option.jsonf="on") {{
  property(outname="@timestamp" name="timegenerated" dateFormat="rfc3339" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
  property(outname="tags" name="syslogtag" format="jsonf")
}}
input(type="imfile" File="{log}" Tag="app" ruleset="ship")
ruleset(name="ship") {{
  action(type="omkafka" broker=[{brokers}] topic="{topic}" template="ecs" confParam=["acks=all"])
}}
""")
    rs = subprocess.Popen(["rsyslogd", "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslog.pid")],
                          stdout=open(tmp_path / "rsyslog.out", "wb"), stderr=subprocess.STDOUT)
    pconf = tmp_path / "process.yaml"
    bl = ", ".join(json.dumps(b.bootstrap) for b in cluster.brokers.values())
    pconf.write_text(f"""
process:
  input:
    kafka: {{brokers: [{bl}], topics: [{topic}], group_id: rsyslog, codec: json, auto_offset_reset: earliest}}
  outputs:
    - elasticsearch: {{hosts: ["{es.url}"], index: "app-%{{+YYYY.MM.dd}}"}}
""")
    p = Processor(pconf, tmp_path / "process.log")
    try:
        time.sleep(2)  # imfile starts watching
        with open(log, "a") as f:
            for i in range(200):
                f.write("app line %03d\n" % i)
        wait_for(lambda: sum(es.indices().values()) >= 200, 60, "200 rsyslog events in the stand-in")
    finally:
        rs.send_signal(signal.SIGTERM)
        rs.wait(timeout=20)
        assert p.stop() == 0, (tmp_path / "process.log").read_text()[-3000:]
    docs = es.docs()
    assert sorted(d["message"] for d in docs) == ["app line %03d" % i for i in range(200)], (tmp_path / "rsyslog.out").read_text()[-2000:]
    today = datetime.now(timezone.utc).strftime("%Y.%m.%d")
    assert list(es.indices()) == ["app-" + today] or all(n.startswith("app-") for n in es.indices())
    assert not any("_jsonparsefailure" in d.get("tags", []) for d in docs)
