#!/usr/bin/env bash
# On the real node of tests/k8s/node.sh: the chart installed with helm (strom-operator in-cluster,
# image strom/strom-operator:<version> imported by node.sh), a CoordinatorEnsemble of 3 applied, and
# its 3 real coordinator pods forming a quorum: by pod DNS name each answers `srvr` with one leader
# and two followers, and the operator (which reaches the servers by the same names) reports them;
# then a BrokerCluster of 3 on it and a Topic (3 partitions, replication 3) Available; then client
# traffic through the cluster as a user's pods would send it: a producer pod (stromctl produce,
# acks=all, idempotent) sending 3,000 numbered records while the ensemble leader's pod and a broker
# pod are deleted, ending with every record acknowledged, and a consumer pod reading every one of
# them back from the beginning.
# Usage: tests/k8s/node-ensemble-check.sh   (cluster and node up; STROM_K8S_DIR as for them)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/versions.sh"
DIR="${STROM_K8S_DIR:-/tmp/strom-k8s}"
export KUBECONFIG="$DIR/admin.kubeconfig"
NS=ensemble-check
k() { timeout 120 "$KUBECTL" "$@"; }
fail() {
  echo "node-ensemble-check: $*" >&2
  k -n "$NS" get pods -o wide >&2 || true
  for p in $(k -n "$NS" get pods -o name 2>/dev/null); do
    echo "-- logs of $p (last 25 lines)" >&2; k -n "$NS" logs "$p" --tail 25 >&2 2>&1 || true
  done
  exit 1
}
t0=$(date +%s.%N)
el() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
"$HELM" upgrade --install strom "$ROOT/charts/strom" -n strom-system --create-namespace --wait --timeout 120s >/dev/null
echo "node-ensemble-check: operator Deployment available after $(el) s"
k create namespace "$NS" >/dev/null
trap 'k delete namespace "$NS" --wait=false >/dev/null 2>&1 || true; "$HELM" uninstall strom -n strom-system >/dev/null 2>&1 || true' EXIT
k -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: strom.io/v1alpha1
kind: CoordinatorEnsemble
metadata: {name: zk}
spec:
  replicas: 3
  storage: {size: 1Gi}
EOF
for _ in $(seq 1 60); do k -n "$NS" get pod zk-0 zk-1 zk-2 >/dev/null 2>&1 && break; sleep 1; done
k -n "$NS" wait --for=condition=Ready pod/zk-0 pod/zk-1 pod/zk-2 --timeout=120s >/dev/null || fail "pods not Ready"
echo "node-ensemble-check: 3 coordinator pods Ready after $(el) s"
modes=""
for _ in $(seq 1 90); do
  modes=$(for i in 0 1 2; do
    k -n "$NS" exec zk-0 -- bash -c "exec 3<>/dev/tcp/zk-$i.zk-headless.$NS.svc.cluster.local/2181 && printf srvr >&3 && timeout 3 cat <&3" 2>/dev/null | sed -n 's/^Mode: //p'
  done | sort | tr '\n' ' ' || true)
  [ "$modes" = "follower follower leader " ] && break
  sleep 1
done
[ "$modes" = "follower follower leader " ] || fail "no quorum by DNS names (modes: $modes)"
echo "node-ensemble-check: quorum (leader + 2 followers, asked by pod DNS names) after $(el) s"
leader=""
for _ in $(seq 1 90); do
  leader=$(k -n "$NS" get coordinatorensemble zk -o jsonpath='{.status.leader}')
  [ -n "$leader" ] && [ "$leader" != null ] && break
  sleep 1
done
[ -n "$leader" ] && [ "$leader" != null ] || fail "the operator reports no leader: $(k -n "$NS" get coordinatorensemble zk -o jsonpath='{.status}')"
echo "node-ensemble-check: the in-cluster operator reports leader $leader: $(k -n "$NS" get coordinatorensemble zk -o jsonpath='{.status.members}') after $(el) s"
k -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: strom.io/v1alpha1
kind: BrokerCluster
metadata: {name: kafka}
spec:
  replicas: 3
  coordinator: {ensemble: zk}
  storage: {size: 1Gi}
  config: {numPartitions: 3, defaultReplicationFactor: 3, minInsyncReplicas: 2}
---
apiVersion: strom.io/v1alpha1
kind: Topic
metadata: {name: t1}
spec: {cluster: kafka, partitions: 3, replicationFactor: 3}
EOF
k -n "$NS" wait --for=condition=Available brokercluster/kafka --timeout=180s >/dev/null || fail "BrokerCluster not Available"
echo "node-ensemble-check: BrokerCluster of 3 real brokers Available after $(el) s"
k -n "$NS" wait --for=condition=Available topic/t1 --timeout=120s >/dev/null || fail "Topic not Available: $(k -n "$NS" get topic t1 -o jsonpath='{.status}')"
echo "node-ensemble-check: Topic t1 (3 partitions, replication 3) Available after $(el) s"

# --- client traffic through pod deletions -------------------------------------------------------
# pod_end POD SECONDS: the pod's phase once it ended (Succeeded or Failed), or what it was at the end.
pod_end() {
  local phase=""
  for _ in $(seq 1 "$2"); do
    phase=$(k -n "$NS" get pod "$1" -o jsonpath='{.status.phase}')
    case "$phase" in Succeeded|Failed) break ;; esac
    sleep 1
  done
  echo "$phase"
}
BOOT="kafka-bootstrap.$NS.svc.cluster.local:9092"
IMAGE="strom/strom:$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)"
N_RECORDS=3000
k -n "$NS" run producer --image "$IMAGE" --image-pull-policy Never --restart Never --command -- \
  bash -c "for i in \$(seq 1 $N_RECORDS); do echo \$i; sleep 0.01; done | stromctl produce --topic t1 --bootstrap-server $BOOT --acks all --timeout 120" >/dev/null
k -n "$NS" wait --for=condition=Ready pod/producer --timeout=60s >/dev/null || fail "producer pod not running"
sleep 4
leader=$(k -n "$NS" get coordinatorensemble zk -o jsonpath='{.status.leader}')
k -n "$NS" delete pod "$leader" --wait=false >/dev/null
echo "node-ensemble-check: deleted the ensemble leader's pod $leader under load after $(el) s"
sleep 4
k -n "$NS" delete pod kafka-1 --wait=false >/dev/null
echo "node-ensemble-check: deleted broker pod kafka-1 under load after $(el) s"
phase=$(pod_end producer 240)
[ "$phase" = Succeeded ] || fail "producer ended $phase: $(k -n "$NS" logs producer 2>&1 | tail -n 20)"
echo "node-ensemble-check: the producer had all $N_RECORDS records acknowledged (exit 0) after $(el) s; its stderr: $(k -n "$NS" logs producer 2>&1 | grep -c . ) line(s)"
k -n "$NS" run consumer --image "$IMAGE" --image-pull-policy Never --restart Never --command -- \
  stromctl consume --topic t1 --from-beginning --max-messages "$N_RECORDS" --timeout-ms 60000 --bootstrap-server "$BOOT" >/dev/null
phase=$(pod_end consumer 120)
got=$(k -n "$NS" logs consumer -c consumer 2>/dev/null | grep -E '^[0-9]+$' | sort -n | uniq | wc -l)
[ "$phase" = Succeeded ] && [ "$got" = "$N_RECORDS" ] || fail "consumer ($phase) read $got distinct of $N_RECORDS records: $(k -n "$NS" logs consumer 2>&1 | tail -n 5)"
echo "node-ensemble-check: a consumer pod read all $N_RECORDS records back after $(el) s"
k -n "$NS" wait --for=condition=Available coordinatorensemble/zk brokercluster/kafka --timeout=180s >/dev/null || fail "not Available again after the deletions"
echo "node-ensemble-check: ensemble and brokers Available again (pods $leader and kafka-1 recreated) after $(el) s"
