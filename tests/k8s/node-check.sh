#!/usr/bin/env bash
# Checks the real node of tests/k8s/node.sh: a strom-coordinator pod (standalone, tiny zoo.cfg) and
# a client pod on real-0, both Running and Ready; the client resolves the coordinator's pod DNS name
# (hostname + headless Service subdomain) through CoreDNS and gets `srvr` from it by that name.
# Usage: tests/k8s/node-check.sh   (the cluster and node up; STROM_K8S_DIR as for them)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/versions.sh"
DIR="${STROM_K8S_DIR:-/tmp/strom-k8s}"
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$HERE/../../Cargo.toml" | head -1)
NS=node-check
k() { timeout 120 "$KUBECTL" --kubeconfig "$DIR/admin.kubeconfig" "$@"; }
t0=$(date +%s.%N)
k create namespace "$NS" >/dev/null
trap 'k delete namespace "$NS" --wait=false >/dev/null 2>&1 || true' EXIT
k -n "$NS" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: zk}
spec:
  clusterIP: None
  selector: {app: node-check}
  ports: [{name: client, port: 2181}]
---
apiVersion: v1
kind: Pod
metadata: {name: coordinator, labels: {app: node-check}}
spec:
  hostname: coordinator
  subdomain: zk
  nodeSelector: {kubernetes.io/hostname: real-0}
  containers:
  - name: coordinator
    image: strom/strom:$VERSION
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir -p /tmp/zk && printf "tickTime=2000\ndataDir=/tmp/zk\nclientPort=2181\n" > /tmp/zoo.cfg && exec strom-coordinator /tmp/zoo.cfg']
    readinessProbe: {tcpSocket: {port: 2181}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeSelector: {kubernetes.io/hostname: real-0}
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: strom/strom:$VERSION
    imagePullPolicy: Never
    command: [sleep, infinity]
EOF
k -n "$NS" wait --for=condition=Ready pod/coordinator pod/client --timeout=90s >/dev/null
name="coordinator.zk.$NS.svc.cluster.local"
ip=$(k -n "$NS" exec client -- getent hosts "$name" | awk '{print $1}')
want=$(k -n "$NS" get pod coordinator -o jsonpath='{.status.podIP}')
[ "$ip" = "$want" ] || { echo "node-check: $name resolved to '$ip', the pod's IP is $want" >&2; exit 1; }
srvr=$(k -n "$NS" exec client -- bash -c "exec 3<>/dev/tcp/$name/2181; printf srvr >&3; timeout 5 cat <&3")
grep -q '^Mode: standalone' <<<"$srvr" || { echo "node-check: srvr through $name said: $srvr" >&2; exit 1; }
echo "node-check: pods Ready on real-0, $name -> $ip through CoreDNS, srvr answered ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s)"
