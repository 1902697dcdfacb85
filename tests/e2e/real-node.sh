#!/usr/bin/env bash
# Real pods: the component cluster (tests/k8s/cluster.sh, no fake nodes) with one real node
# (tests/k8s/node.sh: kubelet, kube-proxy, containerd, runc, CNI, CoreDNS) running the images
# tests/images.sh built from this checkout. Checks: a coordinator pod reached by its pod DNS name
# (tests/k8s/node-check.sh), then the e2e suite's real-pod tests (tests/e2e/tests/real_pods.rs)
# with the chart's operator in the cluster: clients in pods through the deletion of the ensemble
# leader's pod and a broker pod, the ensemble scaled 3 -> 5 -> 3 by reconfig, and a LogPipeline
# from node log files to an Elasticsearch stand-in on this host. Then the in-cluster operator's
# reconcile durations (its /metrics, through the API server's pod proxy). Everything is torn down
# afterwards, whatever happened.
#
# Usage: tests/e2e/real-node.sh [cargo test filter]   (after tests/images.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
ip=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
[ -n "$ip" ] || ip=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -v '^127\.' | head -1)
[ -n "$ip" ] || { echo "real-node e2e: no non-loopback IPv4 address for pods to reach the API server" >&2; exit 1; }
export STROM_K8S_DIR="${STROM_K8S_DIR:-$(mktemp -d /tmp/strom-k8s-node.XXXXXX)}"
export STROM_K8S_ADVERTISE_IP=$ip STROM_K8S_NODES=0 STROM_K8S_VOLUMES="${STROM_K8S_VOLUMES:-40}"
cleanup() {
  rc=$?
  if [ $rc != 0 ]; then
    for f in "$STROM_K8S_DIR"/node/logs/*.log "$STROM_K8S_DIR"/logs/*.log; do [ -f "$f" ] && { echo "-- $f"; tail -n 12 "$f"; }; done
  fi
  bash tests/k8s/node.sh down || rc=1
  # what the pipeline test left on the node (its log directory, the shippers' registry)
  rm -rf /tmp/strom-e2e-logs-* /var/lib/strom/e2e-real-*
  bash tests/k8s/cluster.sh down || rc=1
  exit $rc
}
trap cleanup EXIT
t0=$(date +%s)
eval "$(bash tests/k8s/cluster.sh up)"
bash tests/k8s/node.sh up
echo "real-node e2e: cluster and node up in $(( $(date +%s) - t0 )) s"
bash tests/k8s/node-check.sh
STROM_E2E_HOST_IP=$ip cargo test --quiet -p strom-e2e --test real_pods -- --test-threads=1 --nocapture "$@"
# The reconciles the in-cluster operator did during the suite, by how long they took.
. tests/k8s/versions.sh
pod=$("$KUBECTL" -n strom-system get pods -l app.kubernetes.io/name=strom-operator -o jsonpath='{.items[0].metadata.name}')
"$KUBECTL" get --raw "/api/v1/namespaces/strom-system/pods/$pod:8080/proxy/metrics" | awk '
  function kind() { match($0, /kind="[^"]*"/); return substr($0, RSTART + 6, RLENGTH - 7) }
  /^strom_operator_reconcile_duration_seconds_bucket/ {
    k = kind(); match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
    n[k, le] = $NF; if (le == "+Inf") all[k] = $NF
  }
  /^strom_operator_reconcile_duration_seconds_sum/ { sum[kind()] = $NF }
  END {
    for (k in all) printf "real-node e2e: in-cluster operator: %s: %d reconciles, %d under 1 s (%d under 0.1 s, %d under 0.5 s, %d under 2.5 s, %d under 5 s), mean %.3f s\n", k, all[k], n[k, "1.0"], n[k, "0.1"], n[k, "0.5"], n[k, "2.5"], n[k, "5.0"], (all[k] ? sum[k] / all[k] : 0)
  }'
"$KUBECTL" -n strom-system logs "$pod" | grep 'took over a second' | sed 's/\x1b\[[0-9;]*m//g' | tail -n 30 || true
