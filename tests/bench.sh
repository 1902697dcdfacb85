#!/usr/bin/env bash
# Benchmarks: our figures next to the reference system's, measured in the same run.
# Prints, asserts nothing. Usage: tests/bench.sh [--smoke] [coordinator]
#   --smoke   tiny load on a debug build, so tests/run.sh keeps the tooling working.
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
[ ${#names[@]} -gt 0 ] || names=(coordinator)

bash tests/lib/install.sh
source tests/lib/servers.sh

if [ "$SMOKE" = 1 ]; then
  cargo build --quiet -p strom-coordinator --bins
  BIN="$ROOT/target/debug"; SECS=0.3; CLIENTS="1 2"; MIXES="70"
else
  cargo build --quiet --release -p strom-coordinator --bins
  BIN="$ROOT/target/release"; SECS=${BENCH_SECONDS:-10}; CLIENTS="1 32"; MIXES="100 0 70"
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
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

for n in "${names[@]}"; do
  case "$n" in
    coordinator) bench_coordinator ;;
    *) echo "unknown benchmark: $n (known: coordinator)" >&2; exit 2 ;;
  esac
done
