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

phase "benchmark smoke runs"
bash tests/bench.sh --smoke

phase "done in $(( $(date +%s) - start ))s"
