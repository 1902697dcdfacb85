#!/usr/bin/env bash
# Benchmarks: our figures next to the reference system's, measured in the same run.
# Prints, asserts nothing about speed. Usage: tests/bench.sh [--smoke] [coordinator] [ensemble] [broker] [replication] [up] [pipeline] [operator]
#   (no name: all of them)
#   --smoke   tiny load on a debug build, so tests/run.sh keeps the tooling working.
#   coordinator  strom-coordinator vs Apache ZooKeeper 3.8 (strom-zkbench); BENCH_SECONDS per run
#   ensemble     three strom-coordinators vs three Apache ZooKeeper 3.8 servers (one ensemble each, every
#                server on its own loopback address): write/read/mixed ops/s with clients spread over the
#                servers, p50/p99, leader failover time (kill -9 → first successful write), memory
#   broker       strom-broker (on strom-coordinator) vs Apache Kafka 4.x (one KRaft node) with Kafka's
#                own Java tools; BENCH_RECORDS records per 100 B produce run (a quarter as many of
#                1 KiB). It exits non-zero, after the table, only when a tool run fails outright.
#   replication  three strom-brokers (over a three-server strom-coordinator ensemble) vs three Apache
#                Kafka 4.x broker+controller nodes (one KRaft quorum): replication factor 3,
#                min.insync.replicas=2, acks=all. Produce (BENCH_RECORDS x 100 B, a quarter as many
#                of 1 KiB), end-to-end latency, RSS, and failover time (SIGKILL of a partition leader
#                under an idempotent acks=all producer -> first write acknowledged by the new leader),
#                with each system's default session timeouts and with both at 6 s. One cluster runs
#                at a time. Exits non-zero, after the table, when a tool run or a failover fails.
#   up           stromctl up examples/: time to ready and the six servers' memory at rest.
#   pipeline     strom-pipeline ship vs rsyslog (imfile -> omkafka, librdkafka inside) shipping the
#                same generated nginx access log (BENCH_LINES lines) with acks=all to three
#                strom-brokers (lines/s, MiB/s, CPU, peak and idle RSS), with Vector's and Filebeat's
#                published file->TCP figures beside them; then strom-pipeline process parsing that
#                topic (nginx_combined + date) into a file and into the Elasticsearch stand-in. Exits
#                non-zero, after the tables, when a run did not deliver every line.
#   operator     strom-operator on the component Kubernetes cluster (tests/k8s/cluster.sh, fake nodes)
#                managing 1 and then 50 ensembles each with a broker cluster: time to every child
#                object and to Available, RSS (peak, at rest), CPU, reconciles under a second.
#                No JVM operator (Strimzi) runs here to compare with: the targets are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SMOKE=0
names=()
for a in "$@"; do
  case "$a" in
    --smoke) SMOKE=1 ;;
    *) names+=("$a") ;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=(coordinator ensemble broker replication up pipeline operator)

for n in "${names[@]}"; do
  case "$n" in coordinator|ensemble|broker|replication|up|pipeline|operator) ;; *) echo "unknown benchmark: $n (known: coordinator, ensemble, broker, replication, up, pipeline, operator)" >&2; exit 2 ;; esac
done

bash tests/lib/install.sh
source tests/lib/servers.sh
source tests/lib/kafka.sh

# One cargo build for every benchmark asked for.
pkgs=(-p strom-coordinator)
for n in "${names[@]}"; do
  case "$n" in broker|replication|up|pipeline) [[ " ${pkgs[*]} " == *" strom-broker "* ]] || pkgs+=(-p strom-broker) ;; esac
  [ "$n" = up ] && pkgs+=(-p stromctl -p strom-pipeline)   # examples/ has a LogPipeline
  [ "$n" = pipeline ] && pkgs+=(-p strom-pipeline)
  [ "$n" = operator ] && pkgs+=(-p strom-operator)
done
# Where cargo puts the binaries: CARGO_TARGET_DIR when set (relative to the checkout, as cargo takes it here).
TARGET_DIR=${CARGO_TARGET_DIR:-target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
if [ "$SMOKE" = 1 ]; then
  cargo build --quiet "${pkgs[@]}" --bins
  BIN="$TARGET_DIR/debug"; SECS=0.3; CLIENTS="1 2"; MIXES="70"
else
  cargo build --quiet --release "${pkgs[@]}" --bins
  BIN="$TARGET_DIR/release"; SECS=${BENCH_SECONDS:-10}; CLIENTS="1 32"; MIXES="100 0 70"
fi

WORK=$(mktemp -d)
PIDS=()        # servers, stopped first
LATE_PIDS=()   # coordinators the servers above use, stopped after them
# stop_pids PID...: SIGTERM to all, wait up to 30s (they were started from command substitutions,
# so they are not this shell's children to `wait` for), then SIGKILL what is left.
stop_pids() {
  local p i alive
  for p in "$@"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for i in $(seq 1 150); do
    alive=()
    for p in "$@"; do if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then alive+=("$p"); fi; done
    [ ${#alive[@]} = 0 ] && return 0
    sleep 0.2
  done
  for p in "${alive[@]}"; do kill -9 "$p" 2>/dev/null || true; done
}
cleanup() {
  stop_pids "${PIDS[@]:-}"
  stop_pids "${LATE_PIDS[@]:-}"
  wait 2>/dev/null || true
  if declare -F br_save_logs >/dev/null; then br_save_logs; fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

bench_coordinator() {
  local sp ap zp zap spid zpid
  sp=$(free_port); ap=$(free_port); zp=$(free_port); zap=$(free_port)
  spid=$(start_strom_zk "$BIN" "$WORK/strom" "$sp" "$ap"); PIDS+=("$spid")
  zpid=$(start_apache_zk "$WORK/zookeeper" "$zp" "$zap"); PIDS+=("$zpid")
  wait_ruok "$sp"; wait_ruok "$zp"
  echo "coordinator benchmark: strom-coordinator vs Apache ZooKeeper 3.8 (standalone, fsync on, same load tool, ${SECS}s per run)"
  echo "idle RSS: strom $(rss_mib "$spid") MiB, zookeeper $(rss_mib "$zpid") MiB"
  for mix in $MIXES; do
    for c in $CLIENTS; do
      for target in strom zookeeper; do
        port=$sp; [ "$target" = zookeeper ] && port=$zp
        "$BIN/strom-zkbench" --server "127.0.0.1:$port" --clients "$c" --read-pct "$mix" --size 1024 \
          --seconds "$SECS" --label "$target reads=${mix}% c=$c"
      done
    done
  done
  echo "RSS after load: strom $(rss_mib "$spid") MiB, zookeeper $(rss_mib "$zpid") MiB"
}

# --- ensemble -------------------------------------------------------------------------------------
# write_member_cfg DIR ID PREFIX: server ID of a three-server ensemble whose members listen on
# PREFIX1..PREFIX3 (client port 2181, quorum 3188, election 3288), the seed's layout.
write_member_cfg() {
  local d=$1 id=$2 prefix=$3 j
  mkdir -p "$d/data" "$d/log"
  echo "$id" > "$d/data/myid"
  {
    printf '%s\n' "tickTime=2000" "initLimit=10" "syncLimit=5" "dataDir=$d/data" "dataLogDir=$d/log" \
      "clientPort=2181" "clientPortAddress=$prefix$id" "maxClientCnxns=0" "4lw.commands.whitelist=*" \
      "admin.enableServer=false"
    for j in 1 2 3; do echo "server.$j=$prefix$j:3188:3288"; done
  } > "$d/zoo.cfg"
}

# srvr_mode ADDR: the Mode of a member (empty when it does not answer or does not serve).
srvr_mode() { printf srvr | nc -q 2 -w 2 "$1" 2181 2>/dev/null | sed -n 's/^Mode: //p'; }

# wait_ensemble PREFIX: until one member leads and two follow.
wait_ensemble() {
  local i modes
  for i in $(seq 1 300); do
    modes="$(srvr_mode "${1}1") $(srvr_mode "${1}2") $(srvr_mode "${1}3")"
    if [ "$(tr ' ' '\n' <<<"$modes" | grep -c '^leader$')" = 1 ] && [ "$(tr ' ' '\n' <<<"$modes" | grep -c '^follower$')" = 2 ]; then
      return 0
    fi
    sleep 0.2
  done
  echo "ensemble ${1}x did not form: $modes" >&2
  return 1
}

bench_ensemble() {
  local target prefix i d pid leader others mix c rss
  local -A PFX=([strom]=127.0.1. [zookeeper]=127.0.2.)
  local -A EPIDS=()
  for target in strom zookeeper; do
    prefix=${PFX[$target]}
    for i in 1 2 3; do
      d="$WORK/ensemble-$target/s$i"
      write_member_cfg "$d" "$i" "$prefix"
      if [ "$target" = strom ]; then
        "$BIN/strom-coordinator" "$d/zoo.cfg" >"$d/server.log" 2>&1 &
      else
        java -Xmx1g -Dzookeeper.admin.enableServer=false -cp "$ZK_CP" \
          org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg" >"$d/server.log" 2>&1 &
      fi
      pid=$!; PIDS+=("$pid"); EPIDS[$target$i]=$pid
    done
  done
  wait_ensemble 127.0.1.; wait_ensemble 127.0.2.
  echo "ensemble benchmark: three strom-coordinators vs three Apache ZooKeeper 3.8 servers (fsync on, same load tool, clients spread over the three servers, ${SECS}s per run)"
  for target in strom zookeeper; do
    rss=0; for i in 1 2 3; do rss=$(awk -v a="$rss" -v b="$(rss_mib "${EPIDS[$target$i]}")" 'BEGIN {print a + b}'); done
    echo "idle RSS, three servers together: $target $rss MiB"
  done
  for mix in $MIXES; do
    for c in $CLIENTS; do
      for target in strom zookeeper; do
        prefix=${PFX[$target]}
        "$BIN/strom-zkbench" --server "${prefix}1:2181,${prefix}2:2181,${prefix}3:2181" --clients "$c" --read-pct "$mix" \
          --size 1024 --seconds "$SECS" --label "$target reads=${mix}% c=$c"
      done
    done
  done
  for target in strom zookeeper; do
    rss=0; for i in 1 2 3; do rss=$(awk -v a="$rss" -v b="$(rss_mib "${EPIDS[$target$i]}")" 'BEGIN {print a + b}'); done
    echo "RSS after load, three servers together: $target $rss MiB"
  done
  # Failover: kill -9 the leader, then time the first write that succeeds through the others.
  for target in strom zookeeper; do
    prefix=${PFX[$target]}; leader=""; others=""
    for i in 1 2 3; do
      if [ "$(srvr_mode "$prefix$i")" = leader ]; then leader=$i; else others="$others${others:+,}$prefix$i:2181"; fi
    done
    if [ -z "$leader" ]; then echo "$target: no leader to kill" >&2; continue; fi
    kill -9 "${EPIDS[$target$leader]}"
    "$BIN/strom-zkbench" --probe-write --server "$others" --label "$target failover (leader $leader killed)"
  done
}

# --- broker ---------------------------------------------------------------------------------------
# Kafka's own load tools from the Kafka 4.x jars (one client, one set of settings) against
# strom-broker on strom-coordinator and against Apache Kafka 4.x (one combined KRaft node), started
# side by side on loopback. Results go in BR["target|key"]; rows are printed in BR_KEYS order.
declare -A BR=()
BR_KEYS=(); BR_LABELS=()
BR_TOOL_OPTS="-Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true"
if [ "$SMOKE" = 1 ]; then BR_TOOL_OPTS+=" -XX:TieredStopAtLevel=1"; fi   # quicker JVM start-up for tiny runs
BR_LOGS="$ROOT/target/bench-logs/broker"   # tool output and server logs of the last run, kept

br_row() { BR_KEYS+=("$1"); BR_LABELS+=("$2"); }   # KEY LABEL

# br_tool TARGET NAME CLASS ARGS...: one run of org.apache.kafka.tools.CLASS, its output in
# $BR_LOGS/TARGET-NAME.log. Error lines are shown; a non-zero exit counts as a failed run.
br_tool() {
  local target=$1 name=$2 cls=$3 out rc=0 errs
  shift 3
  out="$BR_LOGS/$target-$name.log"
  # shellcheck disable=SC2086
  timeout "$BR_TOOL_TIMEOUT" java $BR_TOOL_OPTS -Dlog4j2.configurationFile="$BR_LOGS/tools-log4j2.properties" \
    -cp "$BR_CP" "org.apache.kafka.tools.$cls" "$@" >"$out" 2>&1 || rc=$?
  errs=$(grep -cE 'Exception|ERROR|WARN' "$out" || true)
  if [ "$rc" != 0 ] || [ "$errs" != 0 ]; then
    echo "  $cls $name against $target: exit $rc, $errs warning/error line(s) (${out#"$ROOT"/}):" >&2
    { grep -m 6 -E 'Exception|ERROR|WARN' "$out" || tail -n 6 "$out"; } | cut -c1-300 | sed 's/^/    /' >&2
  fi
  if [ "$rc" != 0 ]; then BROKER_FAILED=$((BROKER_FAILED + 1)); return 1; fi
}

# br_create_topics [--rf N] [--config KEY=VALUE]... BOOTSTRAP TOPIC...: 3 partitions, replication N
# (default 1), through the Admin API (confluent-kafka, the same calls for both brokers), then waits
# until every partition has a leader and N in-sync replicas.
br_create_topics() {
  python3 - "$@" <<'PY'
import sys, time
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
args, rf, config = sys.argv[1:], 1, {}
while args[0].startswith("--"):
    if args[0] == "--rf":
        rf = int(args[1])
    elif args[0] == "--config":
        k, v = args[1].split("=", 1)
        config[k] = v
    else:
        sys.exit("br_create_topics: unknown option " + args[0])
    args = args[2:]
bootstrap, topics = args[0], args[1:]
admin = AdminClient({"bootstrap.servers": bootstrap})
deadline = time.time() + 60
pending = list(topics)
while pending:
    futures = admin.create_topics([NewTopic(t, num_partitions=3, replication_factor=rf, config=config)
                                   for t in pending], operation_timeout=30)
    retry = []
    for t, f in futures.items():
        try:
            f.result()
        except KafkaException as e:
            err = e.args[0]
            if err.name() == "TOPIC_ALREADY_EXISTS":
                continue
            if time.time() > deadline:
                sys.exit("creating topic %s on %s: %s" % (t, bootstrap, err))
            retry.append(t)
    pending = retry
    if pending:
        time.sleep(0.5)
while True:
    md = admin.list_topics(timeout=10)
    if all(t in md.topics and md.topics[t].error is None and len(md.topics[t].partitions) == 3
           and all(p.leader >= 0 and len(p.isrs) >= rf for p in md.topics[t].partitions.values())
           for t in topics):
        break
    if time.time() > deadline:
        sys.exit("topics on %s not ready after 60s: %s" % (bootstrap, topics))
    time.sleep(0.2)
PY
}

# br_init_logs DIR: an empty DIR with the tools' log4j2 configuration (warnings and errors to stderr).
br_init_logs() {
  rm -rf "$1"; mkdir -p "$1"
  printf '%s\n' 'status = error' 'appender.err.type = Console' 'appender.err.name = STDERR' \
    'appender.err.target = SYSTEM_ERR' 'appender.err.layout.type = PatternLayout' \
    'appender.err.layout.pattern = [%d] %p %m (%c)%n' 'rootLogger.level = warn' \
    'rootLogger.appenderRef.err.ref = STDERR' > "$1/tools-log4j2.properties"
}

br_save_logs() {
  [ -d "$BR_LOGS" ] || return 0
  cp "$WORK/strom-coordinator/server.log" "$BR_LOGS/strom-coordinator.log" 2>/dev/null || true
  cp "$WORK/strom-broker/server.log" "$BR_LOGS/strom-broker.log" 2>/dev/null || true
  cp "$WORK/kafka/server.log" "$BR_LOGS/kafka.log" 2>/dev/null || true
}

bench_broker() {
  local kv zp zap bp kp kcp zpid bpid kpid n100 sizes e2e e2e_acks size n acks a target out line i
  local -a f
  local -A boot=()
  kv=$(kafka_version 4)
  kafka_fetch 4
  BR_CP=$(kafka_classpath 4)
  if [ "$SMOKE" = 1 ]; then
    n100=${BENCH_RECORDS:-400}; sizes="100"; e2e=50; e2e_acks="1"; BR_TOOL_TIMEOUT=120
  else
    n100=${BENCH_RECORDS:-2000000}; sizes="100 1024"; e2e=${BENCH_E2E_RECORDS:-5000}; e2e_acks="1 all"; BR_TOOL_TIMEOUT=600
  fi
  br_init_logs "$BR_LOGS"

  zp=$(free_port); zap=$(free_port); bp=$(free_port); kp=$(free_port); kcp=$(free_port)
  zpid=$(start_strom_zk "$BIN" "$WORK/strom-coordinator" "$zp" "$zap"); LATE_PIDS+=("$zpid")
  wait_ruok "$zp"
  mkdir -p "$WORK/strom-broker"
  # The settings tests/lib/kafka.sh gives Kafka, minus the KRaft keys.
  printf '%s\n' "broker.id=0" "listeners=PLAINTEXT://127.0.0.1:$bp" "advertised.listeners=PLAINTEXT://127.0.0.1:$bp" \
    "log.dirs=$WORK/strom-broker/logs" "zookeeper.connect=127.0.0.1:$zp" "num.partitions=3" \
    "default.replication.factor=1" "offsets.topic.replication.factor=1" \
    "transaction.state.log.replication.factor=1" "transaction.state.log.min.isr=1" \
    "group.initial.rebalance.delay.ms=0" "auto.create.topics.enable=true" > "$WORK/strom-broker/server.properties"
  "$BIN/strom-broker" "$WORK/strom-broker/server.properties" >"$WORK/strom-broker/server.log" 2>&1 &
  bpid=$!; PIDS+=("$bpid")
  kafka_wait_ready "$bp" 60 || { tail -n 30 "$WORK/strom-broker/server.log" >&2; return 1; }
  # A cluster id written ahead saves kafka.sh a JVM start (StorageTool random-uuid).
  mkdir -p "$WORK/kafka"
  kafka_cluster_id > "$WORK/kafka/server.properties.cluster-id"
  kpid=$(kafka_start_kraft 4 "$WORK/kafka" "$kp" "$kcp" 1 num.partitions=3 2>"$WORK/kafka-start.err") \
    || { cat "$WORK/kafka-start.err" >&2; return 1; }
  PIDS+=("$kpid")
  boot[strom]="127.0.0.1:$bp"; boot[kafka]="127.0.0.1:$kp"

  local topics=(bench-e2e)
  for size in $sizes; do topics+=("bench-$size-acks1" "bench-$size-acksall"); done
  for target in strom kafka; do br_create_topics "${boot[$target]}" "${topics[@]}"; done

  echo "broker benchmark: strom-broker (on strom-coordinator) vs Apache Kafka $kv (one KRaft broker+controller node), same machine"
  echo "  client: Kafka $kv's own tools (ProducerPerformance, ConsumerPerformance, EndToEndLatency), client defaults"
  echo "  apart from acks; topics of 3 partitions, replication 1; neither broker fsyncs per write (Kafka's defaults)"
  local load="$n100 x 100 B"
  if [[ " $sizes " == *" 1024 "* ]]; then load+=" and $((n100 / 4)) x 1 KiB"; fi
  echo "  load: $load records per produce run, $e2e round trips for latency; MB = 2^20 B"
  if [ "$SMOKE" = 1 ]; then echo "  (smoke: debug build, tiny load; the figures mean nothing)"; fi
  br_row rss0 "RSS idle, MiB"
  BR["strom|rss0"]=$(rss_mib "$bpid"); BR["kafka|rss0"]=$(rss_mib "$kpid")

  # Produce: one producer, unthrottled.
  for size in $sizes; do
    n=$n100; [ "$size" = 100 ] || n=$((n100 / 4))
    for acks in 1 -1; do
      a=$acks; [ "$acks" = -1 ] && a=all
      br_row "p$size$a-mb" "produce $size B acks=$acks, MB/s"
      br_row "p$size$a-rec" "produce $size B acks=$acks, records/s"
      for target in strom kafka; do
        out="$BR_LOGS/$target-produce-$size-acks$a.log"
        BR["$target|p$size$a-mb"]=failed; BR["$target|p$size$a-rec"]=failed
        br_tool "$target" "produce-$size-acks$a" ProducerPerformance --topic "bench-$size-acks$a" \
          --num-records "$n" --record-size "$size" --throughput -1 \
          --producer-props "bootstrap.servers=${boot[$target]}" "acks=$acks" || continue
        # "N records sent, R records/sec (M MB/sec), A ms avg latency, ..."
        line=$(grep 'records sent' "$out" | tail -n 1 || true)
        BR["$target|p$size$a-rec"]=$(sed -nE 's/.* records sent, ([0-9.]+) records\/sec.*/\1/p' <<<"$line" | awk '{printf "%.0f", $1}')
        BR["$target|p$size$a-mb"]=$(sed -nE 's/.*\(([0-9.]+) MB\/sec\).*/\1/p' <<<"$line")
      done
    done
  done

  # Consume what the acks=1 runs wrote, from the start, one consumer in a fresh group.
  for size in $sizes; do
    n=$n100; [ "$size" = 100 ] || n=$((n100 / 4))
    br_row "c$size-mb" "consume $size B, MB/s"
    br_row "c$size-rec" "consume $size B, records/s"
    br_row "c$size-fmb" "consume $size B, MB/s after join"
    br_row "c$size-join" "consume $size B, group join ms"
    for target in strom kafka; do
      out="$BR_LOGS/$target-consume-$size.log"
      BR["$target|c$size-mb"]=failed; BR["$target|c$size-rec"]=failed
      BR["$target|c$size-fmb"]=failed; BR["$target|c$size-join"]=failed
      br_tool "$target" "consume-$size" ConsumerPerformance --bootstrap-server "${boot[$target]}" \
        --topic "bench-$size-acks1" --messages "$n" --group "bench-consume-$size" --timeout 30000 || continue
      # start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec,
      # rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
      line=$(grep -A1 '^start.time' "$out" | tail -n 1 || true)
      IFS=',' read -r -a f <<<"$line"
      [ "${#f[@]}" -ge 10 ] || continue
      BR["$target|c$size-mb"]=$(awk '{printf "%.2f", $1}' <<<"${f[3]}")
      BR["$target|c$size-rec"]=$(awk '{printf "%.0f", $1}' <<<"${f[5]}")
      BR["$target|c$size-join"]=$(awk '{printf "%.0f", $1}' <<<"${f[6]}")
      BR["$target|c$size-fmb"]=$(awk '{printf "%.2f", $1}' <<<"${f[8]}")
      if [ "$(tr -d ' ' <<<"${f[4]}")" != "$n" ]; then
        echo "  ConsumerPerformance consume-$size against $target: read$(tr -s ' ' <<<"${f[4]}") of $n records" >&2
        BR["$target|c$size-rec"]="${BR["$target|c$size-rec"]}*"
      fi
    done
  done

  # End-to-end latency: one 100 B record at a time, sent synchronously, then polled back.
  for a in $e2e_acks; do
    br_row "e$a-p50" "e2e latency acks=$a, p50 ms"
    br_row "e$a-p99" "e2e latency acks=$a, p99 ms"
    br_row "e$a-avg" "e2e latency acks=$a, mean ms"
    for target in strom kafka; do
      out="$BR_LOGS/$target-e2e-acks$a.log"
      BR["$target|e$a-p50"]=failed; BR["$target|e$a-p99"]=failed; BR["$target|e$a-avg"]=failed
      br_tool "$target" "e2e-acks$a" EndToEndLatency "${boot[$target]}" bench-e2e "$e2e" "$a" 100 || continue
      # "Avg latency: X ms" / "Percentiles: 50th = A, 99th = B, 99.9th = C"
      BR["$target|e$a-avg"]=$(sed -nE 's/^Avg latency: ([0-9.]+) ms.*/\1/p' "$out" | awk '{printf "%.2f", $1}')
      BR["$target|e$a-p50"]=$(sed -nE 's/^Percentiles: 50th = ([0-9]+),.*/\1/p' "$out")
      BR["$target|e$a-p99"]=$(sed -nE 's/^Percentiles: .*, 99th = ([0-9]+),.*/\1/p' "$out")
    done
  done

  br_row rss1 "RSS after load, MiB"
  BR["strom|rss1"]=$(rss_mib "$bpid"); BR["kafka|rss1"]=$(rss_mib "$kpid")

  echo
  printf '%-36s %14s %14s\n' "" "strom-broker" "kafka $kv"
  for i in "${!BR_KEYS[@]}"; do
    printf '%-36s %14s %14s\n' "${BR_LABELS[$i]}" "${BR["strom|${BR_KEYS[$i]}"]:-?}" "${BR["kafka|${BR_KEYS[$i]}"]:-?}"
  done
  echo "  RSS: the strom-broker process only (strom-coordinator, not counted: $(rss_mib "$zpid") MiB); Kafka: its one JVM"
  echo "  ($KAFKA_HEAP_OPTS). e2e p50/p99 are whole milliseconds, truncated, as EndToEndLatency prints them."
  if grep -q '\*' <<<"${BR[*]}"; then echo "  * fewer records read than written (see above)"; fi
  if declare -F br_save_logs >/dev/null; then br_save_logs; fi
  echo "  tool output and server logs: ${BR_LOGS#"$ROOT"/}/"
}

# --- replication ----------------------------------------------------------------------------------
# Three strom-brokers, ids 0-2 on 127.0.4.1-3:9092, over a three-server strom-coordinator ensemble on
# 127.0.4.1-3:2181, against three Apache Kafka 4.x combined broker+controller nodes, ids 1-3 on
# 127.0.5.1-3:9092 forming one KRaft quorum on :9093. Topics of 3 partitions, replication factor 3,
# min.insync.replicas=2 (as the topic's config and the brokers' default); every producer acks=all.
# One cluster runs at a time, so an idle one takes no CPU from the other. The load tools are the
# broker benchmark's (br_tool, results in BR); the failover probe is tests/lib/bench_failover.py.
# Servers are disowned: no job notice when the probe SIGKILLs one (bash still reaps them).
RP_LOGS="$ROOT/target/bench-logs/replication"   # tool output and server logs of the last run, kept
declare -A RP_BPID=()   # broker id -> PID, of the cluster running now
RP_CPIDS=()             # its coordinators (strom)
RP_BOOT=""; RP_ZK=""; RP_KDIRS=""
RP_NOTES=()             # lines printed under the table

# rp_wait_brokers BOOTSTRAP N SECONDS: until the cluster's Metadata lists N brokers.
rp_wait_brokers() {
  python3 - "$@" <<'PY'
import sys, time
from confluent_kafka.admin import AdminClient
bootstrap, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 2})   # no "connection refused" noise
deadline, seen = time.time() + secs, None
while time.time() < deadline:
    try:
        seen = sorted(admin.list_topics(timeout=5).brokers)
        if len(seen) >= n:
            sys.exit(0)
    except Exception as e:  # noqa: BLE001 - not up yet
        seen = str(e)
    time.sleep(0.3)
sys.exit("cluster %s: %s brokers expected, seen after %.0fs: %s" % (bootstrap, n, secs, seen))
PY
}

# rp_start_strom PHASE [KEY=VALUE...]: the ensemble, then the three brokers with the extra settings.
rp_start_strom() {
  local phase=$1 i d pid dir logs
  shift
  dir="$WORK/replication-strom-$phase"; logs="$RP_LOGS/strom-$phase"; mkdir -p "$logs"
  RP_BPID=(); RP_CPIDS=()
  for i in 1 2 3; do
    d="$dir/coordinator-$i"
    write_member_cfg "$d" "$i" 127.0.4.
    "$BIN/strom-coordinator" "$d/zoo.cfg" >"$logs/coordinator-$i.log" 2>&1 &
    pid=$!; disown "$pid"; LATE_PIDS+=("$pid"); RP_CPIDS+=("$pid")
  done
  wait_ensemble 127.0.4. || return 1
  RP_ZK=127.0.4.1:2181,127.0.4.2:2181,127.0.4.3:2181
  for i in 0 1 2; do
    d="$dir/broker-$i"; mkdir -p "$d"
    printf '%s\n' "broker.id=$i" "listeners=PLAINTEXT://127.0.4.$((i + 1)):9092" \
      "advertised.listeners=PLAINTEXT://127.0.4.$((i + 1)):9092" "log.dirs=$d/logs" "zookeeper.connect=$RP_ZK" \
      "${RP_COMMON[@]}" "$@" > "$d/server.properties"
    "$BIN/strom-broker" "$d/server.properties" >"$logs/broker-$i.log" 2>&1 &
    pid=$!; disown "$pid"; PIDS+=("$pid"); RP_BPID[$i]=$pid
  done
  RP_BOOT=127.0.4.1:9092,127.0.4.2:9092,127.0.4.3:9092
  rp_wait_brokers "$RP_BOOT" 3 60 || { tail -n 20 "$logs"/broker-*.log >&2; return 1; }
}

# rp_start_kafka PHASE [KEY=VALUE...]: three combined nodes, one cluster id, storage formatted (the
# three in parallel), then started together (a node waits for a quorum before it serves).
rp_start_kafka() {
  local phase=$1 i d pid dir logs cid voters
  local -a fmt=()
  shift
  dir="$WORK/replication-kafka-$phase"; logs="$RP_LOGS/kafka-$phase"; mkdir -p "$logs"
  RP_BPID=(); RP_CPIDS=(); RP_KDIRS=""
  cid=$(kafka_cluster_id)
  voters="1@127.0.5.1:9093,2@127.0.5.2:9093,3@127.0.5.3:9093"
  for i in 1 2 3; do
    d="$dir/node-$i"
    kafka_write_kraft_props "$d" 9092 9093 "$i" "controller.quorum.voters=$voters" \
      "listeners=PLAINTEXT://127.0.5.$i:9092,CONTROLLER://127.0.5.$i:9093" \
      "advertised.listeners=PLAINTEXT://127.0.5.$i:9092" "${RP_COMMON[@]}" \
      "share.coordinator.state.topic.replication.factor=3" "share.coordinator.state.topic.min.isr=2" "$@"
    echo "$cid" > "$d/server.properties.cluster-id"
    kafka_format_kraft 4 "$d/server.properties" >"$logs/format-$i.log" 2>&1 &
    fmt+=($!)
    RP_KDIRS+="${RP_KDIRS:+,}$d/logs"
  done
  for pid in "${fmt[@]}"; do wait "$pid" || { cat "$logs"/format-*.log >&2; return 1; }; done
  for i in 1 2 3; do
    ( kafka_run_kraft 4 "$dir/node-$i/server.properties" ) >"$logs/node-$i.log" 2>&1 &
    pid=$!; disown "$pid"; PIDS+=("$pid"); RP_BPID[$i]=$pid
  done
  RP_BOOT=127.0.5.1:9092,127.0.5.2:9092,127.0.5.3:9092
  rp_wait_brokers "$RP_BOOT" 3 120 || { tail -n 20 "$logs"/node-*.log >&2; return 1; }
}

# rp_stop: the running cluster's brokers (SIGTERM: each system's controlled shutdown), then its
# coordinators.
rp_stop() {
  stop_pids "${RP_BPID[@]}"
  stop_pids "${RP_CPIDS[@]:-}"
  RP_BPID=(); RP_CPIDS=()
}

rp_rss_sum() { # PID...: MiB, together
  local p t=0
  for p in "$@"; do t=$(awk -v a="$t" -v b="$(rss_mib "$p")" 'BEGIN {print a + b}'); done
  echo "$t"
}

# rp_load TARGET: produce runs and end-to-end latency into BR, then the RSS after load.
rp_load() {
  local target=$1 size n out line
  BR["$target|rss0"]=$(rp_rss_sum "${RP_BPID[@]}")
  # Not measured: a first run warms the JVMs' JIT (Kafka's, and the tool's own is fresh each run anyway).
  if [ "$RP_WARM" -gt 0 ]; then
    br_tool "$target" produce-warmup ProducerPerformance --topic rep-warmup --num-records "$RP_WARM" \
      --record-size 100 --throughput -1 --producer-props "bootstrap.servers=$RP_BOOT" acks=all || true
  fi
  for size in $RP_SIZES; do
    n=$RP_N100; [ "$size" = 100 ] || n=$((RP_N100 / 4))
    out="$BR_LOGS/$target-produce-$size.log"
    for k in rec mb p50 p99; do BR["$target|p$size-$k"]=failed; done
    br_tool "$target" "produce-$size" ProducerPerformance --topic "rep-$size" --num-records "$n" \
      --record-size "$size" --throughput -1 --producer-props "bootstrap.servers=$RP_BOOT" acks=all || continue
    # "N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency, P ms 50th, ..., Q ms 99th, ..."
    line=$(grep 'records sent' "$out" | tail -n 1 || true)
    BR["$target|p$size-rec"]=$(sed -nE 's/.* records sent, ([0-9.]+) records\/sec.*/\1/p' <<<"$line" | awk '{printf "%.0f", $1}')
    BR["$target|p$size-mb"]=$(sed -nE 's/.*\(([0-9.]+) MB\/sec\).*/\1/p' <<<"$line")
    BR["$target|p$size-p50"]=$(sed -nE 's/.* ([0-9]+) ms 50th.*/\1/p' <<<"$line")
    BR["$target|p$size-p99"]=$(sed -nE 's/.* ([0-9]+) ms 99th.*/\1/p' <<<"$line")
  done
  out="$BR_LOGS/$target-e2e.log"
  BR["$target|e-p50"]=failed; BR["$target|e-p99"]=failed; BR["$target|e-avg"]=failed
  if br_tool "$target" e2e EndToEndLatency "$RP_BOOT" rep-e2e "$RP_E2E" all 100; then
    # "Avg latency: X ms" / "Percentiles: 50th = A, 99th = B, 99.9th = C"
    BR["$target|e-avg"]=$(sed -nE 's/^Avg latency: ([0-9.]+) ms.*/\1/p' "$out" | awk '{printf "%.2f", $1}')
    BR["$target|e-p50"]=$(sed -nE 's/^Percentiles: 50th = ([0-9]+),.*/\1/p' "$out")
    BR["$target|e-p99"]=$(sed -nE 's/^Percentiles: .*, 99th = ([0-9]+),.*/\1/p' "$out")
  fi
  BR["$target|rss1"]=$(rp_rss_sum "${RP_BPID[@]}")
  if [ "$target" = strom ]; then
    RP_NOTES+=("  strom-coordinator ensemble after load (not counted above): $(rp_rss_sum "${RP_CPIDS[@]}") MiB for the three")
  fi
}

# rp_failover TARGET PHASE: SIGKILL the leader of a partition (not the controller's) under an
# idempotent acks=all producer; seconds to the first write acknowledged by the new leader into BR.
rp_failover() {
  local target=$1 phase=$2 out line secs id pids="" ctl
  for id in "${!RP_BPID[@]}"; do pids+="${pids:+,}$id:${RP_BPID[$id]}"; done
  if [ "$target" = strom ]; then ctl=(--controller-zk "$RP_ZK"); else ctl=(--controller-kraft "$RP_KDIRS"); fi
  out="$BR_LOGS/$target-failover-$phase.log"
  BR["$target|fo-$phase"]=failed
  python3 "$ROOT/tests/lib/bench_failover.py" --bootstrap "$RP_BOOT" --topic rep-failover --pids "$pids" \
    "${ctl[@]}" --warmup "$RP_WARMUP" --timeout "$RP_FO_TIMEOUT" >"$out" 2>&1 || true
  line=$(grep -m1 '^FAILOVER' "$out" || true)
  secs=$(sed -nE 's/.* seconds=([0-9.]+) .*/\1/p' <<<"$line")
  if [ -n "$secs" ]; then
    BR["$target|fo-$phase"]=$secs
  else
    BROKER_FAILED=$((BROKER_FAILED + 1))
    echo "  failover ($phase) on $target: no write acknowledged by a new leader (${out#"$ROOT"/}):" >&2
    { [ -n "$line" ] && echo "$line" || tail -n 6 "$out"; } | cut -c1-400 | sed 's/^/    /' >&2
  fi
  RP_NOTES+=("  $target, $phase: ${line#FAILOVER }")
}

bench_replication() {
  local kv target phase first size i
  local -a topics
  local -a phases
  local BR_LOGS=$RP_LOGS BR_TOOL_TIMEOUT RP_N100 RP_SIZES RP_E2E RP_WARM RP_WARMUP RP_FO_TIMEOUT
  local KAFKA_HEAP_OPTS="-Xms512m -Xmx768m"
  # Both: the 6 s rows' settings (Kafka's heartbeat interval is its default, 2 s, said explicitly).
  local -a low_strom=(zookeeper.session.timeout.ms=6000)
  local -a low_kafka=(broker.session.timeout.ms=6000 broker.heartbeat.interval.ms=2000)
  RP_COMMON=(num.partitions=3 default.replication.factor=3 min.insync.replicas=2
    offsets.topic.replication.factor=3 transaction.state.log.replication.factor=3
    transaction.state.log.min.isr=2 group.initial.rebalance.delay.ms=0 auto.create.topics.enable=true)
  kv=$(kafka_version 4)
  kafka_fetch 4
  BR_CP=$(kafka_classpath 4)
  if [ "$SMOKE" = 1 ]; then
    RP_N100=${BENCH_RECORDS:-400}; RP_SIZES="100"; RP_E2E=50; RP_WARM=0; BR_TOOL_TIMEOUT=120
    RP_WARMUP=0.5; RP_FO_TIMEOUT=45; phases=(low)
    KAFKA_HEAP_OPTS+=" -XX:TieredStopAtLevel=1"
  else
    RP_N100=${BENCH_RECORDS:-1000000}; RP_SIZES="100 1024"; RP_E2E=${BENCH_E2E_RECORDS:-5000}; RP_WARM=$((RP_N100 / 2))
    BR_TOOL_TIMEOUT=600; RP_WARMUP=2; RP_FO_TIMEOUT=120; phases=(default low)
  fi
  br_init_logs "$RP_LOGS"
  BR=(); BR_KEYS=(); BR_LABELS=(); RP_NOTES=()

  echo "replication benchmark: three strom-brokers (over a three-server strom-coordinator ensemble) vs"
  echo "  three Apache Kafka $kv broker+controller nodes (one KRaft quorum), same machine, one cluster at a time"
  echo "  topics of 3 partitions, replication factor 3, min.insync.replicas=2; every producer acks=all"
  echo "  client: Kafka $kv's own tools (ProducerPerformance, EndToEndLatency), client defaults apart from acks"
  local load="$RP_N100 x 100 B"
  if [[ " $RP_SIZES " == *" 1024 "* ]]; then load+=" and $((RP_N100 / 4)) x 1 KiB"; fi
  echo "  load: $load records per produce run, $RP_E2E round trips for latency; MB = 2^20 B"
  if [ "$RP_WARM" -gt 0 ]; then echo "  first, not measured: $RP_WARM x 100 B produced to warm up the brokers (the JVMs' JIT)"; fi
  if [ "$SMOKE" = 1 ]; then echo "  (smoke: debug build, tiny load, 6 s session timeouts only; the figures mean nothing)"; fi
  local load0; load0=$(cut -d' ' -f1-3 /proc/loadavg)

  br_row rss0 "RSS idle, 3 brokers, MiB"
  for size in $RP_SIZES; do
    br_row "p$size-rec" "produce $size B, records/s"
    br_row "p$size-mb" "produce $size B, MB/s"
    br_row "p$size-p50" "produce $size B, latency p50 ms"
    br_row "p$size-p99" "produce $size B, latency p99 ms"
  done
  br_row e-p50 "e2e latency, p50 ms"
  br_row e-p99 "e2e latency, p99 ms"
  br_row e-avg "e2e latency, mean ms"
  br_row rss1 "RSS after load, 3 brokers, MiB"
  for phase in "${phases[@]}"; do
    case "$phase" in
      default) br_row fo-default "failover s, default session timeouts" ;;
      low) br_row fo-low "failover s, session timeouts 6 s" ;;
    esac
  done

  first=1
  for phase in "${phases[@]}"; do
    for target in strom kafka; do
      echo "  ... $target, $phase session timeouts" >&2
      if [ "$target" = strom ]; then
        if [ "$phase" = low ]; then rp_start_strom "$phase" "${low_strom[@]}"; else rp_start_strom "$phase"; fi
      else
        if [ "$phase" = low ]; then rp_start_kafka "$phase" "${low_kafka[@]}"; else rp_start_kafka "$phase"; fi
      fi || { BROKER_FAILED=$((BROKER_FAILED + 1)); echo "  $target cluster ($phase) did not start" >&2; rp_stop; continue; }
      if [ "$first" = 1 ]; then
        topics=(rep-e2e rep-failover rep-warmup)
        for size in $RP_SIZES; do topics+=("rep-$size"); done
        br_create_topics --rf 3 --config min.insync.replicas=2 "$RP_BOOT" "${topics[@]}" \
          || { BROKER_FAILED=$((BROKER_FAILED + 1)); rp_stop; continue; }
        rp_load "$target"
      else
        br_create_topics --rf 3 --config min.insync.replicas=2 "$RP_BOOT" rep-failover \
          || { BROKER_FAILED=$((BROKER_FAILED + 1)); rp_stop; continue; }
      fi
      rp_failover "$target" "$phase"
      rp_stop
    done
    first=0
  done

  echo
  printf '%-40s %18s %18s\n' "" "strom (3 brokers)" "kafka $kv (3 nodes)"
  for i in "${!BR_KEYS[@]}"; do
    printf '%-40s %18s %18s\n' "${BR_LABELS[$i]}" "${BR["strom|${BR_KEYS[$i]}"]:-?}" "${BR["kafka|${BR_KEYS[$i]}"]:-?}"
  done
  echo "  failover: SIGKILL of the leader of one partition (not the controller: strom's /controller, Kafka's"
  echo "  KRaft quorum leader) while an idempotent acks=all librdkafka producer writes to it every 2 ms, to the"
  echo "  first write acknowledged under a newer leader epoch (client metadata refresh included)."
  for phase in "${phases[@]}"; do
    case "$phase" in
      default) echo "  default session timeouts: strom zookeeper.session.timeout.ms=18000, Kafka broker.session.timeout.ms=9000" \
        "with broker.heartbeat.interval.ms=2000 (each system's default)" ;;
      low) echo "  session timeouts 6 s: strom zookeeper.session.timeout.ms=6000, Kafka broker.session.timeout.ms=6000" \
        "with broker.heartbeat.interval.ms=2000" ;;
    esac
  done
  echo "  RSS: the three broker processes together; Kafka's include its controllers (JVMs $KAFKA_HEAP_OPTS)."
  echo "  e2e p50/p99 are whole milliseconds, truncated, as EndToEndLatency prints them."
  printf '%s\n' "${RP_NOTES[@]}"
  echo "  machine load average (1/5/15 min): $load0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end ($(nproc) CPUs)"
  echo "  tool output and server logs: ${RP_LOGS#"$ROOT"/}/"
}

BROKER_FAILED=0
# --- up ---------------------------------------------------------------------------------------------
# `stromctl up examples/` (three coordinators, three brokers, two topics) from nothing to ready, and
# the resident memory of the six servers at rest. Targets (issue 8): ready in under 10 s, under
# 200 MiB together. No reference system: this is the local runtime's own cost.
bench_up() {
  local state="$WORK/up-state" t0 t1 ready total pid rss
  "$BIN/stromctl" down --state-dir "$state" --purge >/dev/null 2>&1 || true
  t0=$(date +%s.%N)
  "$BIN/stromctl" up examples/ --state-dir "$state" --detach >"$WORK/up.out" 2>&1 \
    || { echo "stromctl up failed:" >&2; cat "$WORK/up.out" >&2; return 1; }
  t1=$(date +%s.%N)
  ready=$(sed -n 's/^ready in \([0-9.]*\)s.*/\1/p' "$WORK/up.out")
  sleep 3
  total=0; pipes=0
  # servers: zoo.cfg / server.properties in their command line; the pipeline's two processes apart
  for pid in $(pgrep -f "$state/"); do
    rss=$(rss_mib "$pid")
    if grep -qa 'strom-pipeline' "/proc/$pid/cmdline" 2>/dev/null; then
      pipes=$(awk -v a="$pipes" -v b="$rss" 'BEGIN {print a + b}')
    else
      total=$(awk -v a="$total" -v b="$rss" 'BEGIN {print a + b}')
    fi
  done
  "$BIN/stromctl" down --state-dir "$state" --purge >/dev/null
  echo "up benchmark: stromctl up examples/ (3 coordinators, 3 brokers, 2 topics, the nginx LogPipeline; $(basename "$BIN") binaries)"
  printf '  %-52s %8s\n' "ready (stromctl's own figure), s" "$ready" \
    "command returned (up --detach, wall), s" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')" \
    "RSS of the six servers at rest, MiB" "$total" \
    "RSS of the pipeline's shipper and processor, MiB" "$pipes"
}

# --- operator -------------------------------------------------------------------------------------
# A component cluster of its own (tests/k8s/cluster.sh), the chart installed, one strom-operator on
# this host (tests/e2e/examples/operator_scale.rs measures), the cluster removed afterwards.
bench_operator() {
  local dir="$WORK/k8s" sizes vols profile=() rc=0
  if [ "$SMOKE" = 1 ]; then sizes="1 2"; vols=20; else sizes="1 50"; vols=400; profile=(--release); fi
  STROM_K8S_DIR="$dir" STROM_K8S_VOLUMES=$vols bash tests/k8s/cluster.sh up > "$WORK/k8s.env" || return 1
  ( eval "$(cat "$WORK/k8s.env")"
    cargo build --quiet "${profile[@]}" -p strom-e2e --example operator_scale
    STROM_BIN_DIR="$BIN" "$TARGET_DIR/$(basename "$BIN")/examples/operator_scale" $sizes ) || rc=$?
  STROM_K8S_DIR="$dir" bash tests/k8s/cluster.sh down || rc=1
  return $rc
}

# --- pipeline -------------------------------------------------------------------------------------
# Shippers, file -> Kafka: strom-pipeline ship and rsyslog (imfile -> omkafka, librdkafka inside),
# one at a time, ship the same generated nginx access log (every line ~160 B, combined format) as one
# JSON object per line, acks=all, no compression, to a topic of its own (3 partitions, replication
# factor 3, min.insync.replicas=2) on three strom-brokers over one strom-coordinator, on loopback.
# Done when strom-pipeline's registry has the whole file acknowledged, or when rsyslog's topic's high
# watermarks add up to the line count. Then processors, Kafka -> outputs: strom-pipeline process reads
# strom-pipeline's topic in a fresh group, parses every line as the seed's Logstash does (nginx_combined
# and date) and writes a file, then (another group) the Elasticsearch stand-in's _bulk. Done when the
# file has, or the stand-in holds, every event. tests/lib/bench_pipeline.py polls and measures (CPU
# user+sys from /proc/PID/stat, VmHWM, VmRSS after PL_REST idle seconds). Results go in PL.
declare -A PL=()
PL_LOGS="$ROOT/target/bench-logs/pipeline"   # configs and process output of the last run, kept
PIPELINE_FAILED=0

# pl_run KEY LOG [watch options...] -- COMMAND...: starts COMMAND (output in LOG), lets
# bench_pipeline.py watch it to completion, records its RESULT in PL["KEY|..."], stops it. A run that
# did not complete, or a strom-pipeline that does not exit 0 on SIGTERM, counts as failed.
pl_run() {
  local key=$1 log=$2 t0 pid out line kv rc=0 code=0
  shift 2
  local -a watch=()
  while [ "$1" != -- ]; do watch+=("$1"); shift; done
  shift
  t0=$(date +%s.%N)
  "$@" >"$log" 2>&1 &
  pid=$!; PIDS+=("$pid")
  out=$(python3 "$ROOT/tests/lib/bench_pipeline.py" watch --pid "$pid" --t0 "$t0" --timeout "$PL_TIMEOUT" \
    --rest "$PL_REST" "${watch[@]}") || rc=$?
  line=$(grep -m1 '^RESULT ' <<<"$out" || true)
  for kv in ${line#RESULT }; do PL["$key|${kv%%=*}"]=${kv#*=}; done
  stop_pids "$pid"
  wait "$pid" 2>/dev/null || code=$?
  if [ "$rc" != 0 ]; then
    PIPELINE_FAILED=$((PIPELINE_FAILED + 1))
    echo "  $key: not complete after ${PL["$key|secs"]:-?}s ($line) (${log#"$ROOT"/}):" >&2
    tail -n 8 "$log" | cut -c1-300 | sed 's/^/    /' >&2
  elif [[ "$1" == */strom-pipeline ]] && [ "$code" != 0 ]; then
    PIPELINE_FAILED=$((PIPELINE_FAILED + 1))
    echo "  $key: strom-pipeline exited $code on SIGTERM (${log#"$ROOT"/}):" >&2
    tail -n 8 "$log" | cut -c1-300 | sed 's/^/    /' >&2
  fi
}

bench_pipeline() {
  local n zp zap zpid i d port boot="" brokers_yaml="" brokers_rs="" log bytes rsv es_pid es_url load0 k ev
  local PL_TIMEOUT PL_REST
  if [ "$SMOKE" = 1 ]; then
    n=${BENCH_LINES:-3000}; PL_TIMEOUT=30; PL_REST=1
  else
    n=${BENCH_LINES:-1000000}; PL_TIMEOUT=300; PL_REST=5
  fi
  rm -rf "$PL_LOGS"; mkdir -p "$PL_LOGS"
  PL=()
  load0=$(cut -d' ' -f1-3 /proc/loadavg)

  zp=$(free_port); zap=$(free_port)
  zpid=$(start_strom_zk "$BIN" "$WORK/pl-coordinator" "$zp" "$zap"); LATE_PIDS+=("$zpid")
  wait_ruok "$zp" || { PIPELINE_FAILED=$((PIPELINE_FAILED + 1)); return 1; }
  for i in 0 1 2; do
    d="$WORK/pl-broker-$i"; mkdir -p "$d"; port=$(free_port)
    printf '%s\n' "broker.id=$i" "listeners=PLAINTEXT://127.0.0.1:$port" "advertised.listeners=PLAINTEXT://127.0.0.1:$port" \
      "log.dirs=$d/logs" "zookeeper.connect=127.0.0.1:$zp" num.partitions=3 default.replication.factor=3 \
      min.insync.replicas=2 offsets.topic.replication.factor=3 group.initial.rebalance.delay.ms=0 \
      auto.create.topics.enable=false > "$d/server.properties"
    "$BIN/strom-broker" "$d/server.properties" >"$PL_LOGS/broker-$i.log" 2>&1 &
    PIDS+=($!)
    boot+="${boot:+,}127.0.0.1:$port"; brokers_yaml+="${brokers_yaml:+, }\"127.0.0.1:$port\""
  done
  brokers_rs=$brokers_yaml
  rp_wait_brokers "$boot" 3 60 && br_create_topics --rf 3 --config min.insync.replicas=2 "$boot" pl-strom pl-rsyslog \
    || { PIPELINE_FAILED=$((PIPELINE_FAILED + 1)); tail -n 20 "$PL_LOGS"/broker-*.log >&2; return 1; }

  log="$WORK/access.log"
  python3 "$ROOT/tests/lib/bench_pipeline.py" gen --out "$log" --lines "$n" >/dev/null
  bytes=$(stat -c %s "$log")
  rsv=$(rsyslogd -v | awk 'NR == 1 {print $2}')

  echo "pipeline benchmark: $n generated nginx access lines (combined format, $(awk -v b="$bytes" 'BEGIN {printf "%.1f MiB, %.0f B", b / 1048576, b / '"$n"'}') a line)"
  echo "  three strom-brokers over one strom-coordinator on loopback; topics of 3 partitions, replication factor 3,"
  echo "  min.insync.replicas=2; shippers send acks=all, no compression, one JSON object per line; $(basename "$BIN") binaries"
  if [ "$SMOKE" = 1 ]; then echo "  (smoke: debug build, tiny file; the figures mean nothing, delivery is checked)"; fi

  # 1. Shippers.
  cat > "$PL_LOGS/ship.yaml" <<YAML
ship:
  inputs:
    - id: access
      paths: ["$log"]
      tags: [access]
      fields: {log_topic: pl-strom}
      scan_frequency: 1s
  output:
    kafka:
      brokers: [$brokers_yaml]
      topic: pl-strom
      acks: all
      compression: none
  registry: $WORK/ship-registry.json
YAML
  echo "  ... strom-pipeline ship" >&2
  pl_run ship "$PL_LOGS/ship.log" --count "$n" --bytes "$bytes" --registry "$WORK/ship-registry.json" --file "$log" \
    -- "$BIN/strom-pipeline" ship --config "$PL_LOGS/ship.yaml"
  PL["ship|events"]=$(python3 "$ROOT/tests/lib/bench_pipeline.py" hwm --bootstrap "$boot" --topic pl-strom)
  PL["ship|size"]=$(python3 "$ROOT/tests/lib/bench_pipeline.py" sample --bootstrap "$boot" --topic pl-strom)

  # rsyslog: the same file, the same kind of event (Filebeat's field names, flat), the same acks and
  # codec; acks also as a topic setting, which is where omkafka's own topic object takes it from.
  mkdir -p "$WORK/rsyslog"
  cat > "$PL_LOGS/rsyslog.conf" <<CONF
global(workDirectory="$WORK/rsyslog")
module(load="imfile" PollingInterval="1")
module(load="omkafka")
template(name="event" type="list" option.jsonf="on") {
  property(outname="@timestamp" name="timegenerated" dateFormat="rfc3339" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
  property(outname="log.file.path" name="\$!metadata!filename" format="jsonf")
  property(outname="log.offset" name="\$!metadata!fileoffset" format="jsonf")
  property(outname="host.name" name="hostname" format="jsonf")
  constant(outname="tags" value="access" format="jsonf")
  constant(outname="fields.log_topic" value="pl-rsyslog" format="jsonf")
}
input(type="imfile" File="$log" Tag="access" addMetadata="on" ruleset="ship")
ruleset(name="ship") {
  action(type="omkafka" broker=[$brokers_rs] topic="pl-rsyslog" template="event"
         confParam=["acks=all", "compression.codec=none"] topicConfParam=["acks=all"])
}
CONF
  echo "  ... rsyslog $rsv" >&2
  pl_run rsyslog "$PL_LOGS/rsyslog.log" --count "$n" --bytes "$bytes" --hwm "$boot" --topic pl-rsyslog --interval 0.1 \
    -- rsyslogd -n -f "$PL_LOGS/rsyslog.conf" -i "$WORK/rsyslog/rsyslogd.pid"
  PL["rsyslog|events"]=$(python3 "$ROOT/tests/lib/bench_pipeline.py" hwm --bootstrap "$boot" --topic pl-rsyslog)
  PL["rsyslog|size"]=$(python3 "$ROOT/tests/lib/bench_pipeline.py" sample --bootstrap "$boot" --topic pl-rsyslog)

  # 2. Processors: strom-pipeline's topic, parsed as the seed's Logstash does.
  ev=$(awk -v n="$n" -v s="${PL["ship|size"]}" 'BEGIN {printf "%.0f", n * s}')
  for k in file es; do
    {
      echo "process:"
      echo "  input:"
      echo "    kafka: {brokers: [$brokers_yaml], topics: [pl-strom], group_id: pl-$k, codec: json, auto_offset_reset: earliest}"
      echo "  filters:"
      echo "    - branches:"
      echo "        - when: '\"access\" in [tags]'"
      echo "          filters:"
      echo "            - nginx_combined: {}"
      echo "            - date: {field: timestamp, formats: [\"dd/MMM/yyyy:HH:mm:ss Z\"]}"
      echo "  outputs:"
      if [ "$k" = file ]; then
        echo "    - file: {path: \"$WORK/processed.jsonl\"}"
      else
        echo "    - elasticsearch: {hosts: [\"@ES@\"], index: \"nginx_access-%{+YYYY.MM.dd}\"}"
      fi
    } > "$PL_LOGS/process-$k.yaml"
  done
  echo "  ... strom-pipeline process, file output" >&2
  pl_run process-file "$PL_LOGS/process-file.log" --count "$n" --bytes "$ev" --lines "$WORK/processed.jsonl" \
    -- "$BIN/strom-pipeline" process --config "$PL_LOGS/process-file.yaml"
  PL["process-file|events"]=0
  [ -f "$WORK/processed.jsonl" ] && PL["process-file|events"]=$(wc -l < "$WORK/processed.jsonl")
  # Every line was generated valid: a parse failure would mean the benchmark measured the wrong work.
  PL["process-file|failures"]=$(grep -c -E '_grokparsefailure|_dateparsefailure|_jsonparsefailure' "$WORK/processed.jsonl" 2>/dev/null || true)
  if [ "${PL["process-file|failures"]:-0}" != 0 ]; then
    PIPELINE_FAILED=$((PIPELINE_FAILED + 1))
    echo "  process-file: ${PL["process-file|failures"]} events tagged with a parse failure, e.g.:" >&2
    grep -m1 -E '_grokparsefailure|_dateparsefailure|_jsonparsefailure' "$WORK/processed.jsonl" | cut -c1-400 | sed 's/^/    /' >&2
  fi
  rm -f "$WORK/processed.jsonl"

  python3 "$ROOT/tests/pipeline/es_standin.py" --port 0 --port-file "$WORK/es-port" --count-only 2>"$PL_LOGS/es-standin.log" &
  es_pid=$!; PIDS+=("$es_pid")
  for i in $(seq 1 100); do [ -s "$WORK/es-port" ] && break; sleep 0.1; done
  es_url="http://127.0.0.1:$(cat "$WORK/es-port" 2>/dev/null)"
  sed -i "s|@ES@|$es_url|" "$PL_LOGS/process-es.yaml"
  echo "  ... strom-pipeline process, Elasticsearch stand-in" >&2
  pl_run process-es "$PL_LOGS/process-es.log" --count "$n" --bytes "$ev" --standin "$es_url" --peer "$es_pid" --interval 0.2 \
    -- "$BIN/strom-pipeline" process --config "$PL_LOGS/process-es.yaml"
  PL["process-es|events"]=$(curl -sf "$es_url/_standin/indices" | python3 -c 'import json, sys; print(sum(json.load(sys.stdin)["indices"].values()))' || echo "?")
  PL["process-es|indices"]=$(curl -sf "$es_url/_standin/indices" | python3 -c 'import json, sys; print(" ".join(sorted(json.load(sys.stdin)["indices"])))' || echo "?")
  stop_pids "$es_pid"

  echo
  echo "1. shippers, file -> Kafka"
  printf '  %-44s %20s %20s\n' "" "strom-pipeline ship" "rsyslog $rsv"
  pl_rows ship rsyslog \
    "rate|lines/s" "mibs|MiB/s (of the log file)" "cpu|CPU s (user+sys)" "cpu_pct|CPU, % of one core" \
    "hwm|peak RSS, MiB (VmHWM)" "rest|RSS at rest after the run, MiB" "events|events in the topic" \
    "size|event size on the topic, B (mean)"
  echo "  strom-pipeline: done when its registry has the whole file acknowledged; rsyslog (imfile PollingInterval=1,"
  echo "  omkafka) when its topic's high watermarks add up to $n. Both start at t=0 with the file complete."
  echo "  published, not measured here (vector-test-harness, file_to_tcp_performance, its own machines and"
  echo "  setup: file -> TCP, no Kafka): Vector 76.7 MiB/s, Filebeat 7.8 MiB/s"
  echo
  echo "2. processor, Kafka -> outputs: strom-pipeline process reading the first topic (a fresh group each,"
  echo "   from the earliest offset), nginx_combined + date on every event; from start-up and group join on"
  printf '  %-44s %20s %20s\n' "" "file output" "ES stand-in (_bulk)"
  pl_rows process-file process-es \
    "rate|events/s" "mibs|MiB/s (of the Kafka records read)" "cpu|CPU s (user+sys)" "cpu_pct|CPU, % of one core" \
    "hwm|peak RSS, MiB (VmHWM)" "rest|RSS at rest after the run, MiB" "events|events delivered"
  echo "  the ES stand-in is one Python process (tests/pipeline/es_standin.py --count-only) that decodes every"
  echo "  document (${PL["process-es|peer_cpu"]:-?} CPU s meanwhile), and the processor waits for each _bulk answer (one"
  echo "  batch of up to 500 at a time): the stand-in likely bounds that column, which says nothing of Elasticsearch."
  echo "  indices written: ${PL["process-es|indices"]:-?}"
  echo "  machine load average (1/5/15 min): $load0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end ($(nproc) CPUs)"
  echo "  configs and logs: ${PL_LOGS#"$ROOT"/}/"
  # A run that completed and still shows fewer events than lines (a run that did not complete
  # was counted as failed by pl_run).
  for k in ship rsyslog process-file process-es; do
    if [ "${PL["$k|done"]:-0}" = 1 ] && ! [ "${PL["$k|events"]:-0}" -ge "$n" ] 2>/dev/null; then
      PIPELINE_FAILED=$((PIPELINE_FAILED + 1))
      echo "  $k: ${PL["$k|events"]:-?} of $n lines delivered" >&2
    fi
  done
}

# pl_rows LEFT RIGHT KEY|LABEL...: one row per key, the two runs side by side.
pl_rows() {
  local a=$1 b=$2 r
  shift 2
  for r in "$@"; do
    printf '  %-44s %20s %20s\n' "${r#*|}" "${PL["$a|${r%%|*}"]:-failed}" "${PL["$b|${r%%|*}"]:-failed}"
  done
}

for n in "${names[@]}"; do
  case "$n" in
    coordinator) bench_coordinator ;;
    ensemble) bench_ensemble ;;
    broker) bench_broker ;;
    replication) bench_replication ;;
    up) bench_up ;;
    pipeline) bench_pipeline || true ;;
    operator) bench_operator ;;
    *) echo "unknown benchmark: $n (known: coordinator, ensemble, broker, replication, up, pipeline, operator)" >&2; exit 2 ;;
  esac
done
[ "$BROKER_FAILED" = 0 ] || { echo "broker/replication benchmark: $BROKER_FAILED run(s) failed (see above)" >&2; exit 1; }
[ "$PIPELINE_FAILED" = 0 ] || { echo "pipeline benchmark: $PIPELINE_FAILED run(s) failed (see above)" >&2; exit 1; }
