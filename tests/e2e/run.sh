#!/usr/bin/env bash
# The end-to-end suite against the component cluster: brings the cluster up (tests/k8s/cluster.sh),
# runs tests/e2e (the chart installed with helm, strom-operator on this host under the chart's
# ServiceAccount), and tears the cluster down whatever happened. With KUBECONFIG already set to a
# cluster (kind, tests/kind/run.sh), use `cargo test -p strom-e2e -- --test-threads=1` directly.
#
# Usage: tests/e2e/run.sh [cargo test filter]
set -euo pipefail
cd "$(dirname "$0")/../.."
export STROM_K8S_DIR="${STROM_K8S_DIR:-$(mktemp -d /tmp/strom-k8s.XXXXXX)}"
cleanup() {
  rc=$?
  if [ $rc != 0 ]; then
    echo "== e2e failed: the cluster's logs (last lines)"
    for f in "$STROM_K8S_DIR"/logs/*.log; do [ -f "$f" ] && { echo "-- $f"; tail -n 15 "$f"; }; done
    for f in /tmp/strom-e2e-*/operators/*.log; do [ -f "$f" ] && { echo "-- $f"; tail -n 40 "$f"; }; done
  fi
  bash tests/k8s/cluster.sh down || rc=1
  rm -rf /tmp/strom-e2e-*
  exit $rc
}
trap cleanup EXIT
eval "$(bash tests/k8s/cluster.sh up)"
cargo build --quiet -p strom-operator --bin strom-operator
cargo test --quiet -p strom-e2e --test operator -- --test-threads=1 "$@"
