#!/usr/bin/env bash
# One real node, real-0, for the component cluster of tests/k8s/cluster.sh: Debian's containerd +
# runc + CNI plugins (bridge, host-local, portmap, loopback), kubelet and kube-proxy (iptables mode)
# built from the cluster's Kubernetes module, and CoreDNS (Deployment + Service 10.0.0.10) so pods
# get cluster DNS. No image is pulled from anywhere: the sandbox (pause) and CoreDNS images are
# made here from single static binaries, our images come from the Docker engine tests/images.sh
# builds them with (`docker save | ctr import`).
#
# Usage: STROM_K8S_ADVERTISE_IP=<this machine's address> STROM_K8S_NODES=0 tests/k8s/cluster.sh up
#        tests/k8s/node.sh up      builds the node binaries once (tests/k8s/build.sh node), starts
#                                  containerd, kubelet, kube-proxy, CoreDNS; real-0 Ready
#        tests/k8s/node.sh down    deletes the node's pods, stops everything it started, removes its
#                                  mounts, network namespaces, bridge, iptables chains and cgroups
# Everything lives in $STROM_K8S_DIR/node. Pods get addresses from 10.88.0.0/16 on bridge strom0.
# STROM_NODE_IMAGES: images to copy from Docker (default strom/strom:<v> strom/strom-operator:<v>).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/versions.sh"
. "$HERE/pki.sh"
DIR="${STROM_K8S_DIR:-/tmp/strom-k8s}"
N="$DIR/node"
NODE=real-0
POD_CIDR=10.88.0.0/16
BRIDGE=strom0
DNS_IP=10.0.0.10
SOCK="$N/containerd/containerd.sock"
APISERVER=https://127.0.0.1:$((16443 + ${STROM_K8S_PORT_OFFSET:-0}))
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)
IMAGES="${STROM_NODE_IMAGES:-strom/strom:$VERSION strom/strom-operator:$VERSION}"
k() { timeout 60 "$KUBECTL" --kubeconfig "$DIR/admin.kubeconfig" "$@"; }
ctr_() { ctr --address "$SOCK" -n k8s.io "$@"; }
say() { echo "tests/k8s/node.sh: $*" >&2; }

start() { # name command...
  local name=$1; shift
  setsid "$@" > "$N/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$N/pids/$name"
}

wait_for() { # what seconds command...
  local what=$1 end=$((SECONDS + $2)); shift 2
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $end ]; then
      say "$what not ready in time; its log:"
      tail -n 30 "$N/logs/$what.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.2
  done
}

# An image of one static binary, as a `docker save` archive ctr can import.
mkimage() { # tag binary out.tar entrypoint-args...
  local tag=$1 bin=$2 out=$3; shift 3
  local w; w=$(mktemp -d)
  mkdir -p "$w/rootfs/bin" "$w/rootfs/etc" "$w/rootfs/tmp"
  cp "$bin" "$w/rootfs/bin/"
  tar -C "$w/rootfs" --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$w/layer.tar" .
  local diff; diff=$(sha256sum "$w/layer.tar" | cut -d' ' -f1)
  local ep; ep=$(printf '"/bin/%s"' "$(basename "$bin")"); local a
  for a in "$@"; do ep="$ep,\"$a\""; done
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":[%s],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$ep" "$diff" > "$w/config.json"
  local cfg; cfg=$(sha256sum "$w/config.json" | cut -d' ' -f1)
  mv "$w/config.json" "$w/$cfg.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' "$cfg" "$tag" > "$w/manifest.json"
  tar -C "$w" -cf "$out" manifest.json "$cfg.json" layer.tar
  rm -rf "$w"
}

# Our images, from the running Docker engine or the one tests/images.sh starts (started here too).
docker_save() { # out.tar images...
  local out=$1; shift
  local cache="$K8S_CACHE/docker" started=""
  if ! docker info >/dev/null 2>&1; then
    export DOCKER_HOST="unix://$cache/docker.sock"
    if ! docker info >/dev/null 2>&1; then
      [ -d "$cache/data" ] || { say "no Docker engine and no images from tests/images.sh"; return 1; }
      rm -f "$cache/docker.sock"
      dockerd --data-root "$cache/data" --exec-root "$cache/exec" --pidfile "$cache/dockerd.pid" \
        --storage-driver vfs --iptables=false --ip6tables=false --bridge=none --host "$DOCKER_HOST" >"$N/logs/dockerd.log" 2>&1 &
      started=$!
      wait_for dockerd 30 docker info
    fi
  fi
  local rc=0
  docker save -o "$out" "$@" || rc=$?
  if [ -n "$started" ]; then kill "$started" 2>/dev/null || true; wait "$started" 2>/dev/null || true; fi
  return $rc
}

certs() {
  local p="$DIR/pki" who
  pki_cert "$p" "kubelet-$NODE" "/O=system:nodes/CN=system:node:$NODE" "$PKI_CLIENT"
  pki_cert "$p" "kubelet-$NODE-serving" "/CN=$NODE" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:$NODE,IP:$NODE_IP,IP:127.0.0.1"
  pki_cert "$p" kube-proxy "/CN=system:kube-proxy" "$PKI_CLIENT"
  for who in "kubelet-$NODE" kube-proxy; do
    pki_kubeconfig "$N/$who.kubeconfig" "$APISERVER" "$p" "$who"
  done
}

configs() {
  mkdir -p "$N/containerd" "$N/cni/net.d" "$N/cni/ipam" "$N/kubelet" "$N/pod-logs"
  cat > "$N/containerd/config.toml" <<EOF
version = 2
root = "$N/containerd/root"
state = "$N/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$N/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  enable_selinux = false
  # This machine's root lacks CAP_SYS_RESOURCE: no process may lower its oom_score_adj, and runc
  # fails on the sandbox's -998 ("failed to update /proc/self/oom_score_adj: Permission denied").
  # Clamp every container's to containerd's own (as rootless setups do).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$N/cni/net.d"
EOF
  cat > "$N/cni/net.d/10-strom.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "strom",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$N/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat > "$N/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $DIR/pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $DIR/pki/kubelet-$NODE-serving.crt
tlsPrivateKeyFile: $DIR/pki/kubelet-$NODE-serving.key
containerRuntimeEndpoint: unix://$SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
clusterDNS: [$DNS_IP]
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
podLogsDir: $N/pod-logs
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
protectKernelDefaults: false
serializeImagePulls: false
maxPods: 110
podPidsLimit: -1
EOF
  cat > "$N/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $N/kube-proxy.kubeconfig}
hostnameOverride: $NODE
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
EOF
}

coredns() {
  k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "system:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "system:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:53 {
        errors
        health {
            lameduck 5s
        }
        ready
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
            ttl 30
        }
        forward . /etc/resolv.conf
        cache 30
        loop
        reload
        loadbalance
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      dnsPolicy: Default
      nodeSelector: {kubernetes.io/hostname: $NODE}
      containers:
      - name: coredns
        image: $COREDNS_IMAGE
        imagePullPolicy: Never
        args: [-conf, /etc/coredns/Corefile]
        volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
        ports:
        - {name: dns, containerPort: 53, protocol: UDP}
        - {name: dns-tcp, containerPort: 53, protocol: TCP}
        readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
        livenessProbe: {httpGet: {path: /health, port: 8080}, periodSeconds: 10, failureThreshold: 5}
      volumes:
      - name: config
        configMap: {name: coredns, items: [{key: Corefile, path: Corefile}]}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $DNS_IP
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
EOF
}

up() {
  [ -f "$DIR/admin.kubeconfig" ] || { say "no cluster in $DIR (tests/k8s/cluster.sh up first)"; exit 1; }
  if [ -f "$N/pids/kubelet" ] && kill -0 "$(cat "$N/pids/kubelet")" 2>/dev/null; then
    say "the node is already running in $N (down first)"; exit 1
  fi
  NODE_IP="${STROM_K8S_NODE_IP:-$(ip -4 route get 1.1.1.1 | sed -n 's/.* src \([0-9.]*\).*/\1/p')}"
  local adv; adv=$(k get endpoints kubernetes -o jsonpath='{.subsets[0].addresses[0].ip}')
  if [ "$adv" = 127.0.0.1 ]; then
    say "the API server advertises 127.0.0.1, which pods cannot reach: bring the cluster up with STROM_K8S_ADVERTISE_IP=$NODE_IP"
    exit 1
  fi
  bash "$HERE/build.sh" node >&2
  local t0; t0=$(date +%s.%N)
  rm -rf "$N"; mkdir -p "$N/logs" "$N/pids" "$N/images"
  ls /run/netns 2>/dev/null > "$N/netns-before" || true
  PAUSE_IMAGE="strom/pause:$K8S_VERSION" COREDNS_IMAGE="strom/coredns:$COREDNS_VERSION"
  certs
  configs
  # Bridged pod traffic must cross iptables (Service replies between two pods on the bridge).
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  start containerd containerd --config "$N/containerd/config.toml"
  wait_for containerd 30 ctr_ version
  mkimage "$PAUSE_IMAGE" "$PAUSE_BIN/pause" "$N/images/pause.tar"
  mkimage "$COREDNS_IMAGE" "$COREDNS_BIN/coredns" "$N/images/coredns.tar"
  ctr_ images import "$N/images/pause.tar" >/dev/null
  ctr_ images import "$N/images/coredns.tar" >/dev/null
  # shellcheck disable=SC2086
  if docker_save "$N/images/strom.tar" $IMAGES; then
    ctr_ images import "$N/images/strom.tar" >/dev/null
  else
    say "our images ($IMAGES) not imported: run tests/images.sh first"
  fi
  rm -f "$N/images/"*.tar
  start kubelet "$K8S_BIN/kubelet" --config "$N/kubelet.yaml" --kubeconfig "$N/kubelet-$NODE.kubeconfig" \
    --root-dir "$N/kubelet" --cert-dir "$N/kubelet/pki" --hostname-override "$NODE" --node-ip "$NODE_IP" \
    --node-labels "topology.kubernetes.io/zone=zone-real"
  start kube-proxy "$K8S_BIN/kube-proxy" --config "$N/kube-proxy.yaml"
  wait_for kubelet 60 k get node "$NODE"
  wait_for kubelet 90 k wait --for=condition=Ready node "$NODE" --timeout=1s
  # The cluster's pre-made hostPath volumes now get written: world-writable (fsGroup does not
  # apply to hostPath), so the non-root servers can use them.
  local v
  for v in $(k get pv -o jsonpath='{.items[*].spec.hostPath.path}'); do
    case "$v" in "$DIR"/*) mkdir -p "$v" && chmod 1777 "$v" ;; esac
  done
  coredns
  wait_for kubelet 120 k -n kube-system wait --for=condition=Available deployment/coredns --timeout=1s
  say "node $NODE Ready with CoreDNS at $DNS_IP in $(awk -v a="$t0" -v b="$(date +%s.%N)" "BEGIN{printf \"%.1f\", b-a}") s"
  ctr_ images ls -q | grep -v '^sha256:' >&2
}

# Removes the rules jumping to, then the chains named, prefix* in one table (iptables and ip6tables).
drop_chains() { # table prefix
  local ipt rule chain chains
  for ipt in iptables ip6tables; do
    "$ipt" -t "$1" -S 2>/dev/null | { grep -E "^-A .* -j $2" || true; } | sed 's/^-A /-D /' | while read -r rule; do
      eval "$ipt" -t "$1" "$rule" 2>/dev/null || true
    done
    chains=$("$ipt" -t "$1" -S 2>/dev/null | sed -n "s/^-N \($2[^ ]*\)/\1/p")
    for chain in $chains; do "$ipt" -t "$1" -F "$chain" 2>/dev/null || true; done
    for chain in $chains; do "$ipt" -t "$1" -X "$chain" 2>/dev/null || true; done
  done
}

stop() { # name
  local pid
  [ -f "$N/pids/$1" ] || return 0
  pid=$(cat "$N/pids/$1")
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$N/pids/$1"
}

down() {
  [ -d "$N" ] || { say "no node in $N"; return 0; }
  local left=0
  if [ -f "$N/pids/kubelet" ] && kill -0 "$(cat "$N/pids/kubelet")" 2>/dev/null && k get --raw /readyz >/dev/null 2>&1; then
    # Let the kubelet stop its pods itself (their sandboxes' networks torn down through CNI).
    k cordon "$NODE" >/dev/null 2>&1 || true
    k -n kube-system delete deployment coredns --wait=false >/dev/null 2>&1 || true
    k delete pods -A --field-selector "spec.nodeName=$NODE" --grace-period=1 --wait=false >/dev/null 2>&1 || true
    for _ in $(seq 1 150); do
      ctr_ tasks ls 2>/dev/null | grep -q RUNNING || break
      sleep 0.2
    done
  fi
  stop kubelet
  stop kube-proxy
  stop containerd
  # Whatever survived: shims (their command line names our socket), then the pods' processes.
  local pid
  for pid in $(pgrep -f -- "$N/" || true); do kill -KILL "$pid" 2>/dev/null || true; done
  local d
  for d in /sys/fs/cgroup/*/kubepods; do
    [ -d "$d" ] || continue
    find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done
  done
  sleep 0.5
  for d in /sys/fs/cgroup/*/kubepods; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  "$K8S_BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  # The bridge plugin's masquerading and portmap's chains; the kubelet's own KUBE-FIREWALL and
  # canaries (kube-proxy --cleanup leaves those).
  local t
  for t in nat filter mangle; do drop_chains "$t" CNI-; drop_chains "$t" KUBE-; done
  # Mounts: container root filesystems, sandbox /dev/shm, pod volumes, the kubelet's shared root.
  local m
  for _ in 1 2 3 4 5; do
    m=$(awk -v n="$N/" 'index($2, n) == 1 {print $2}' /proc/self/mounts | sort -r)
    [ -n "$m" ] || break
    for d in $m; do umount "$d" 2>/dev/null || umount -l "$d" 2>/dev/null || true; done
  done
  if [ -d /run/netns ]; then
    for d in $(ls /run/netns); do
      case "$d" in cni-*) grep -qx "$d" "$N/netns-before" 2>/dev/null || { umount "/run/netns/$d" 2>/dev/null; rm -f "/run/netns/$d"; } ;; esac
    done
  fi
  rmdir /run/netns 2>/dev/null || true   # containerd made it; only if empty
  # The runc shim keeps its runc root at /run/containerd/runc/<namespace> whatever the state dir.
  rmdir /run/containerd/runc/k8s.io 2>/dev/null && rmdir /run/containerd/runc 2>/dev/null || true
  ip link del "$BRIDGE" 2>/dev/null || true
  k delete node "$NODE" --wait=false >/dev/null 2>&1 || true
  k -n kube-system delete service kube-dns --wait=false >/dev/null 2>&1 || true
  if pgrep -f -- "$N/" >/dev/null; then say "processes left:"; pgrep -af -- "$N/" >&2; left=1; fi
  if awk -v n="$N/" 'index($2, n) == 1' /proc/self/mounts | grep -q .; then say "mounts left:"; awk -v n="$N/" 'index($2, n) == 1' /proc/self/mounts >&2; left=1; fi
  if ip link show "$BRIDGE" >/dev/null 2>&1; then say "bridge $BRIDGE left"; left=1; fi
  rm -rf "$N"
  return $left
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: tests/k8s/node.sh up|down" >&2; exit 2 ;;
esac
