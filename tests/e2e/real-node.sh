#!/usr/bin/env bash
# Real pods: the component cluster (tests/k8s/cluster.sh, no fake nodes) with one real node
# (tests/k8s/node.sh: kubelet, kube-proxy, containerd, runc, CNI, CoreDNS) running the images
# tests/images.sh built from this checkout. Checks: a coordinator pod reached by its pod DNS name
# (tests/k8s/node-check.sh); the chart's in-cluster operator forming a three-server ensemble, a
# three-broker cluster and a topic, then a producer pod's 3,000 acks=all records all acknowledged
# and read back by a consumer pod while the ensemble leader's pod and a broker pod are deleted
# (tests/k8s/node-ensemble-check.sh). Everything is torn down afterwards, whatever happened.
#
# Usage: tests/e2e/real-node.sh   (after tests/images.sh)
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
  bash tests/k8s/cluster.sh down || rc=1
  exit $rc
}
trap cleanup EXIT
t0=$(date +%s)
eval "$(bash tests/k8s/cluster.sh up)"
bash tests/k8s/node.sh up
echo "real-node e2e: cluster and node up in $(( $(date +%s) - t0 )) s"
bash tests/k8s/node-check.sh
bash tests/k8s/node-ensemble-check.sh
