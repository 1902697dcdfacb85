#!/usr/bin/env bash
# The one test command: installs what the tests need, builds, runs every suite, cleans up.
# Usage: tests/run.sh            (everything)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
start=$(date +%s)
phase() { echo; echo "== $1 ($(( $(date +%s) - start ))s)"; }

phase "install"
bash tests/lib/install.sh

phase "build"
cargo build --workspace --bins --quiet

phase "unit and integration tests (cargo)"
cargo test --workspace --quiet

export STROM_BIN_DIR="$ROOT/target/debug"

if [ -d tests/coordinator ]; then
  phase "coordinator with real ZooKeeper clients (kazoo, zkCli.sh, raw wire)"
  STROM_ZK_TARGET=strom python3 -m pytest -q -p no:cacheprovider tests/coordinator
fi

phase "the README's run command"
# Exactly the first command of README.md, from the repository root, then a client's view of it.
run_cmd=$(grep -m1 -o 'cargo run --release -p strom-coordinator -- examples/local/zoo.cfg' README.md)
rm -rf .strom
cargo build --release --quiet -p strom-coordinator --bin strom-coordinator
$run_cmd > target/readme-run.log 2>&1 &
readme_pid=$!
ok=0
for _ in $(seq 1 300); do
  if [ "$(printf ruok | nc -q 2 -w 2 127.0.0.1 2181 2>/dev/null)" = imok ]; then ok=1; break; fi
  sleep 0.2
done
if [ $ok = 1 ]; then
  python3 -c 'from kazoo.client import KazooClient as K; z=K("127.0.0.1:2181"); z.start(10); z.create("/hello", b"world"); assert z.get("/hello")[0] == b"world"; z.stop()'
  curl -sf http://127.0.0.1:8080/commands/monitor | grep -q '"server_state": "standalone"' || ok=0
fi
kill "$readme_pid" 2>/dev/null || true
pkill -f 'strom-coordinator examples/local/zoo.cfg' 2>/dev/null || true
wait "$readme_pid" 2>/dev/null || true
rm -rf .strom
if [ $ok != 1 ]; then echo "README run command failed:"; cat target/readme-run.log; exit 1; fi
echo "README run command: served kazoo and the admin endpoint"

phase "benchmark smoke runs"
bash tests/bench.sh --smoke

phase "done in $(( $(date +%s) - start ))s"
