"""Helpers for tests/bench.sh's pipeline benchmark (shippers file -> Kafka, processors Kafka -> outputs).

    gen --out FILE --lines N          an nginx access log in the combined format (deterministic)
    watch --pid PID --t0 T ...        polls until a run is complete, then measures the process
    hwm --bootstrap B --topic T       the sum of the topic's high watermarks
    sample --bootstrap B --topic T    the mean size of the first records' values, in bytes

`watch` is given the PID of a process the benchmark started at T (seconds since the epoch) and one
completion condition:
    --registry PATH --file LOG        strom-pipeline ship's registry has LOG acknowledged to its end
    --hwm BOOTSTRAP --topic T         the topic's high watermarks add up to --count
    --lines FILE                      FILE (an output written by lines) has --count lines
    --standin URL                     the Elasticsearch stand-in's indices hold --count documents
When the condition holds it reads the process's CPU time (user+sys, /proc/PID/stat) and peak resident
memory (VmHWM), waits --rest seconds and reads its resident memory at rest (VmRSS); with --peer PID
it also gives the CPU time that process spent from the start to completion. It prints one line,
`RESULT key=value ...`, and exits 0; on --timeout, or when the process ends first, it prints the
same line with done=0 and exits 1. Timings are measured, never judged.
"""

import argparse
import json
import os
import random
import sys
import time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15)


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# --- gen ------------------------------------------------------------------------------------------

AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "curl/8.5.0",
    "Go-http-client/1.1",
    "kube-probe/1.29",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
]
PATHS = ["/", "/index.html", "/api/v1/orders/%d", "/api/v1/items?page=%d", "/static/app.%d.js", "/img/p/%d.webp", "/healthz"]
REFERERS = ["-", "-", "https://shop.example.com/", "https://shop.example.com/cart?step=%d"]
METHODS = ["GET"] * 8 + ["POST", "PUT"]
STATUSES = [200] * 14 + [301, 304, 404, 500]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def gen(args):
    rnd = random.Random(9)
    t = time.gmtime()
    day = "%02d/%s/%d" % (t.tm_mday, MONTHS[t.tm_mon - 1], t.tm_year)
    total = 0
    with open(args.out, "w") as f:
        chunk = []
        for i in range(args.lines):
            path = rnd.choice(PATHS)
            if "%d" in path:
                path = path % rnd.randrange(1, 99999)
            ref = rnd.choice(REFERERS)
            if "%d" in ref:
                ref = ref % rnd.randrange(1, 5)
            s = i * 86000 // max(args.lines, 1)  # every line of one UTC day, in order
            line = '%d.%d.%d.%d - - [%s:%02d:%02d:%02d +0000] "%s %s HTTP/1.1" %d %d "%s" "%s"\n' % (
                rnd.choice((10, 172, 192, 203)), rnd.randrange(256), rnd.randrange(256), rnd.randrange(1, 255),
                day, s // 3600, s // 60 % 60, s % 60, rnd.choice(METHODS), path, rnd.choice(STATUSES),
                rnd.randrange(0, 60000), ref, rnd.choice(AGENTS))
            chunk.append(line)
            total += len(line)
            if len(chunk) == 10000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))
    print("LINES %d BYTES %d" % (args.lines, total))


# --- Kafka ----------------------------------------------------------------------------------------

def watermarks(consumer, topic):
    from confluent_kafka import TopicPartition
    md = consumer.list_topics(topic, timeout=10)
    return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in md.topics[topic].partitions)


def consumer(bootstrap):
    from confluent_kafka import Consumer
    return Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-pipeline-probe", "enable.auto.commit": False, "log_level": 3})


def hwm(args):
    c = consumer(args.bootstrap)
    print(watermarks(c, args.topic))
    c.close()


def sample(args):
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition
    c = consumer(args.bootstrap)
    parts = c.list_topics(args.topic, timeout=10).topics[args.topic].partitions
    want = min(args.n, watermarks(c, args.topic))
    c.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in parts])
    sizes, deadline = [], time.monotonic() + 15
    while len(sizes) < want and time.monotonic() < deadline:
        for m in c.consume(500, timeout=1):
            if m.error() is None:
                sizes.append(len(m.value() or b""))
    c.close()
    print("%.0f" % (sum(sizes) / len(sizes)) if sizes else "?")


# --- watch ----------------------------------------------------------------------------------------

class Lines:
    """Counts the complete lines of a file that grows, reading only what is new."""

    def __init__(self, path):
        self.path, self.f, self.n = path, None, 0

    def count(self):
        if self.f is None:
            try:
                self.f = open(self.path, "rb")
            except FileNotFoundError:
                return 0
        while True:
            b = self.f.read(1 << 22)
            if not b:
                return self.n
            self.n += b.count(b"\n")


def progress(args):
    """A function giving (done, count so far)."""
    if args.registry:
        size = os.path.getsize(args.file)

        def reg():
            try:
                with open(args.registry) as f:
                    files = json.load(f).get("files", {})
            except (OSError, ValueError):
                return False, 0
            off = max([e["offset"] for e in files.values() if e.get("path") == args.file] or [0])
            return off >= size, off
        return reg
    if args.hwm:
        c = consumer(args.hwm)

        def wm():
            try:
                n = watermarks(c, args.topic)
            except Exception:  # noqa: BLE001 - not there yet; the timeout decides
                return False, 0
            return n >= args.count, n
        return wm
    if args.lines:
        lines = Lines(args.lines)
        return lambda: (lines.count() >= args.count, lines.n)
    if args.standin:
        def es():
            try:
                with urllib.request.urlopen(args.standin + "/_standin/indices", timeout=10) as r:
                    n = sum(json.load(r)["indices"].values())
            except OSError:
                return False, 0
            return n >= args.count, n
        return es
    sys.exit("watch: no completion condition")


def watch(args):
    check = progress(args)
    peer0 = cpu_seconds(args.peer) if args.peer else 0.0
    deadline = args.t0 + args.timeout
    done, count = False, 0
    while True:
        done, count = check()
        now = time.time()
        if done or now > deadline or not alive(args.pid):
            break
        time.sleep(args.interval)
    out = {"done": int(done), "count": count, "secs": "%.2f" % (now - args.t0)}
    if alive(args.pid):
        cpu = cpu_seconds(args.pid)
        secs = now - args.t0
        out.update(cpu="%.2f" % cpu, cpu_pct="%.0f" % (100 * cpu / secs), hwm="%.1f" % (status_kib(args.pid, "VmHWM") / 1024))
        if args.peer and alive(args.peer):
            out["peer_cpu"] = "%.2f" % (cpu_seconds(args.peer) - peer0)
        if done:
            out.update(rate="%.0f" % (args.count / secs), mibs="%.2f" % (args.bytes / secs / 1048576))
            time.sleep(args.rest)
            if alive(args.pid):
                out["rest"] = "%.1f" % (status_kib(args.pid, "VmRSS") / 1024)
    else:
        out["exited"] = 1
    print("RESULT " + " ".join("%s=%s" % kv for kv in out.items()), flush=True)
    return 0 if done else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--out", required=True)
    g.add_argument("--lines", type=int, required=True)
    for name in ("hwm", "sample"):
        s = sub.add_parser(name)
        s.add_argument("--bootstrap", required=True)
        s.add_argument("--topic", required=True)
        s.add_argument("--n", type=int, default=2000)
    w = sub.add_parser("watch")
    w.add_argument("--pid", type=int, required=True)
    w.add_argument("--t0", type=float, required=True)
    w.add_argument("--timeout", type=float, required=True)
    w.add_argument("--rest", type=float, default=5)
    w.add_argument("--interval", type=float, default=0.05)
    w.add_argument("--peer", type=int)
    w.add_argument("--count", type=int, default=0, help="events expected (also the rate's numerator)")
    w.add_argument("--bytes", type=int, default=0, help="bytes those events stand for (the MiB/s figure)")
    w.add_argument("--registry")
    w.add_argument("--file")
    w.add_argument("--hwm")
    w.add_argument("--topic")
    w.add_argument("--lines")
    w.add_argument("--standin")
    args = p.parse_args()
    sys.exit({"gen": gen, "hwm": hwm, "sample": sample, "watch": watch}[args.cmd](args) or 0)


if __name__ == "__main__":
    main()
