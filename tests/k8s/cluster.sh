#!/usr/bin/env bash
# A Kubernetes test cluster from components on this machine, no containers needed:
# etcd, kube-apiserver (certificates, service-account keys, RBAC + Node authorization, the default
# admission plugins plus NodeRestriction), kube-controller-manager (every controller, garbage
# collector included), kube-scheduler, and kwok running fake nodes whose pods are scheduled, become
# Running and Ready, and are deleted and recreated as on real nodes (no process runs in them).
#
# Usage: tests/k8s/cluster.sh up     builds the binaries once (tests/k8s/build.sh), starts the
#                                    cluster, prints `export KUBECONFIG=...`
#        tests/k8s/cluster.sh env    prints the export line of a running cluster
#        tests/k8s/cluster.sh down   stops every process and removes the cluster's directory
# STROM_K8S_DIR (default /tmp/strom-k8s) holds certificates, data, logs; STROM_K8S_NODES (3) fake
# nodes named kwok-node-0.. labelled topology.kubernetes.io/zone=zone-<n>. STROM_K8S_ADVERTISE_IP: an
# address of this machine pods can reach (tests/k8s/node.sh: the real node's pods reach the API
# through the kubernetes Service, whose endpoint is this address); the API server then listens on
# every address (default: 127.0.0.1 only). STROM_K8S_VOLUMES (400) pre-made volumes;
# STROM_K8S_PORT_OFFSET (0) added to every port.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/versions.sh"
. "$HERE/pki.sh"
DIR="${STROM_K8S_DIR:-/tmp/strom-k8s}"
NODES="${STROM_K8S_NODES:-3}"
IP=127.0.0.1
ADVERTISE_IP="${STROM_K8S_ADVERTISE_IP:-$IP}"
BIND_IP=$IP; [ "$ADVERTISE_IP" = "$IP" ] || BIND_IP=0.0.0.0
# STROM_K8S_PORT_OFFSET moves every port, so that two clusters can run side by side.
o=${STROM_K8S_PORT_OFFSET:-0}
ETCD_PORT=$((23790 + o)) APISERVER_PORT=$((16443 + o)) KCM_PORT=$((10357 + o)) SCHED_PORT=$((10359 + o)) KWOK_PORT=$((10347 + o))
export KUBECONFIG="$DIR/admin.kubeconfig"
k() { timeout 60 "$KUBECTL" --kubeconfig "$DIR/admin.kubeconfig" "$@"; }

# Starts a component in a process group of its own, its pid recorded for `down`.
start() { # name command...
  local name=$1; shift
  setsid "$@" > "$DIR/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$DIR/pids/$name"
}

wait_for() { # what seconds command...
  local what=$1 secs=$2; shift 2
  local t=$((secs * 5))
  until "$@" >/dev/null 2>&1; do
    t=$((t - 1))
    if [ $t -le 0 ]; then
      echo "tests/k8s/cluster.sh: $what not ready after ${secs}s; its log:" >&2
      tail -n 30 "$DIR/logs/$what.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.2
  done
}

certs() {
  local p="$DIR/pki" who
  mkdir -p "$p"
  ( cd "$p"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 30 -subj "/CN=strom-test-ca" 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null )
  pki_cert "$p" apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:$IP,IP:$ADVERTISE_IP,IP:10.0.0.1"
  pki_cert "$p" admin "/O=system:masters/CN=admin" "$PKI_CLIENT"
  pki_cert "$p" controller-manager "/CN=system:kube-controller-manager" "$PKI_CLIENT"
  pki_cert "$p" scheduler "/CN=system:kube-scheduler" "$PKI_CLIENT"
  pki_cert "$p" apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$PKI_CLIENT"
  pki_cert "$p" kwok "/O=system:masters/CN=kwok-controller" "$PKI_CLIENT"
  for who in admin controller-manager scheduler kwok; do
    pki_kubeconfig "$DIR/$who.kubeconfig" "https://$IP:$APISERVER_PORT" "$p" "$who"
  done
}

up() {
  if [ -f "$DIR/pids/apiserver" ] && kill -0 "$(cat "$DIR/pids/apiserver")" 2>/dev/null; then
    echo "tests/k8s/cluster.sh: a cluster is already running in $DIR (down first)" >&2
    exit 1
  fi
  [ -x "$KUBECTL" ] || { echo "tests/k8s/cluster.sh: kubectl missing at $KUBECTL (tests/lib/install.sh installs it)" >&2; exit 1; }
  bash "$HERE/build.sh" >&2
  local t0; t0=$(date +%s.%N)
  rm -rf "$DIR"; mkdir -p "$DIR/logs" "$DIR/pids"
  certs
  local p="$DIR/pki"
  start etcd "$ETCD_BIN/etcd" --name s1 --data-dir "$DIR/etcd" \
    --listen-client-urls "http://$IP:$ETCD_PORT" --advertise-client-urls "http://$IP:$ETCD_PORT" \
    --listen-peer-urls "http://$IP:$((ETCD_PORT + 10))" --initial-advertise-peer-urls "http://$IP:$((ETCD_PORT + 10))" \
    --initial-cluster "s1=http://$IP:$((ETCD_PORT + 10))" --listen-metrics-urls "http://$IP:$((ETCD_PORT + 20))" \
    --unsafe-no-fsync --quota-backend-bytes 1073741824
  wait_for etcd 30 curl -sf "http://$IP:$((ETCD_PORT + 20))/health"
  start apiserver "$K8S_BIN/kube-apiserver" \
    --etcd-servers "http://$IP:$ETCD_PORT" --advertise-address "$ADVERTISE_IP" --bind-address "$BIND_IP" --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" --client-ca-file "$p/ca.crt" \
    --kubelet-client-certificate "$p/apiserver-kubelet-client.crt" --kubelet-client-key "$p/apiserver-kubelet-client.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
    --service-cluster-ip-range 10.0.0.0/24 --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction --allow-privileged=true --cert-dir "$DIR/apiserver-certs" \
    --kubelet-preferred-address-types InternalIP,Hostname
  wait_for apiserver 60 k get --raw /readyz
  start controller-manager "$K8S_BIN/kube-controller-manager" \
    --kubeconfig "$DIR/controller-manager.kubeconfig" --authentication-kubeconfig "$DIR/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$DIR/controller-manager.kubeconfig" --bind-address "$IP" --secure-port "$KCM_PORT" \
    --service-account-private-key-file "$p/sa.key" --root-ca-file "$p/ca.crt" \
    --cluster-signing-cert-file "$p/ca.crt" --cluster-signing-key-file "$p/ca.key" \
    --use-service-account-credentials --controllers '*' --leader-elect=false --service-cluster-ip-range 10.0.0.0/24
  start scheduler "$K8S_BIN/kube-scheduler" \
    --kubeconfig "$DIR/scheduler.kubeconfig" --authentication-kubeconfig "$DIR/scheduler.kubeconfig" \
    --authorization-kubeconfig "$DIR/scheduler.kubeconfig" --bind-address "$IP" --secure-port "$SCHED_PORT" --leader-elect=false
  start kwok "$KWOK_BIN/kwok" --kubeconfig "$DIR/kwok.kubeconfig" --config "$KWOK_BIN/stages.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-lease-duration-seconds 40 --cidr 10.244.0.0/16 --node-ip "$IP" --server-address "$IP:$KWOK_PORT"
  wait_for controller-manager 60 curl -skf "https://$IP:$KCM_PORT/healthz"
  wait_for scheduler 60 curl -skf "https://$IP:$SCHED_PORT/healthz"
  local n
  for n in $(seq 0 $((NODES - 1))); do
    k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$n
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels:
    kubernetes.io/hostname: kwok-node-$n
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    topology.kubernetes.io/zone: zone-$n
    type: kwok
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "250"}
  capacity: {cpu: "32", memory: 256Gi, pods: "250"}
EOF
  done
  # Volumes: fake nodes have no storage provisioner, so a pool of pre-made volumes of the default
  # StorageClass, bound to claims by the controller-manager as on a real cluster (nothing is
  # ever written to their paths: no process runs in a fake pod).
  { cat <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: Immediate
reclaimPolicy: Retain
EOF
    for n in $(seq 1 "${STROM_K8S_VOLUMES:-400}"); do
      printf -- '---\napiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pv-%s}\nspec: {capacity: {storage: 1Ti}, accessModes: [ReadWriteOnce], storageClassName: standard, persistentVolumeReclaimPolicy: Retain, hostPath: {path: %s/volumes/%s}}\n' "$n" "$DIR" "$n"
    done; } | k apply -f - >/dev/null
  [ "$NODES" = 0 ] || wait_for kwok 60 k wait --for=condition=Ready node --all --timeout=1s
  # The default ServiceAccount exists once the controller-manager's token controller ran.
  wait_for controller-manager 60 k get serviceaccount default -n default
  echo "component cluster up in $(awk -v a="$t0" -v b="$(date +%s.%N)" "BEGIN{printf \"%.1f\", b-a}") s ($NODES fake nodes, Kubernetes $K8S_VERSION)" >&2
  echo "export KUBECONFIG=$DIR/admin.kubeconfig"
}

down() {
  local name pid
  for name in kwok scheduler controller-manager apiserver etcd; do
    [ -f "$DIR/pids/$name" ] || continue
    pid=$(cat "$DIR/pids/$name")
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  # Nothing of ours may survive: any process still running a binary from the caches with this
  # directory in its arguments is a leak.
  if pgrep -f -- "$DIR/" >/dev/null 2>&1; then
    echo "tests/k8s/cluster.sh: processes left after down:" >&2
    pgrep -af -- "$DIR/" >&2
    pkill -KILL -f -- "$DIR/" || true
    rm -rf "$DIR"
    return 1
  fi
  rm -rf "$DIR"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env)
    [ -f "$DIR/admin.kubeconfig" ] || { echo "tests/k8s/cluster.sh: no cluster in $DIR" >&2; exit 1; }
    echo "export KUBECONFIG=$DIR/admin.kubeconfig" ;;
  *) echo "usage: tests/k8s/cluster.sh up|down|env" >&2; exit 2 ;;
esac
