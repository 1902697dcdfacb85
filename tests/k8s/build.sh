#!/usr/bin/env bash
# Builds the component cluster's binaries from Go sources through the Go module proxy, once:
# kube-apiserver, kube-controller-manager, kube-scheduler, and for the real node (tests/k8s/node.sh)
# kubelet and kube-proxy (k8s.io/kubernetes at one pinned release,
# staging modules pinned by replace directives in tests/k8s/go.mod.k8s-$K8S_VERSION), kwok and etcd.
# Binaries are cached outside the checkout, keyed by version; a second run only checks they exist.
#
# Usage: tests/k8s/build.sh        (prints the cache directory's paths it fills)
#        tests/k8s/build.sh node   also kubelet, kube-proxy, CoreDNS and pause for tests/k8s/node.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/versions.sh"

command -v go >/dev/null || { echo "tests/k8s/build.sh: no Go toolchain on PATH (go 1.24 or newer builds Kubernetes $K8S_VERSION)" >&2; exit 1; }
export GOMODCACHE="$K8S_CACHE/gomod" GOCACHE="$K8S_CACHE/gocache" GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOTOOLCHAIN=local
# Builds run beside other work on small machines: lowest priority, two packages at a time.
build() { nice -n 19 go build -p 2 -trimpath "$@"; }

K8S_CMDS="kube-apiserver kube-controller-manager kube-scheduler"
[ "${1:-}" != node ] || K8S_CMDS="$K8S_CMDS kubelet kube-proxy"
missing=""
for c in $K8S_CMDS; do [ -x "$K8S_BIN/$c" ] || missing="$missing $c"; done
if [ -n "$missing" ]; then
  echo "== building Kubernetes $K8S_VERSION:$missing into $K8S_BIN (first run only: kube-apiserver about 7 minutes on 2 cores, the others about 2 more)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cp "$HERE/go.mod.k8s-$K8S_VERSION" "$work/go.mod"
  cat > "$work/tools.go" <<'EOF'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
EOF
  v=${K8S_VERSION#v}
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags="$ldflags -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=${v%%.*} -X $pkg.gitMinor=$(echo "$v" | cut -d. -f2) -X $pkg.gitTreeState=clean"
  done
  (cd "$work" && go mod tidy >/dev/null 2>&1 || go mod tidy)
  mkdir -p "$K8S_BIN.tmp"
  for c in $missing; do
    t0=$(date +%s)
    (cd "$work" && build -ldflags "$ldflags" -o "$K8S_BIN.tmp/$c" "k8s.io/kubernetes/cmd/$c")
    echo "   $c built in $(( $(date +%s) - t0 )) s"
  done
  mkdir -p "$K8S_BIN" && mv "$K8S_BIN.tmp"/* "$K8S_BIN/" && rmdir "$K8S_BIN.tmp"
  rm -rf "$work"; trap - EXIT
fi

if [ ! -x "$KWOK_BIN/kwok" ]; then
  echo "== building kwok $KWOK_VERSION into $KWOK_BIN"
  t0=$(date +%s)
  mkdir -p "$KWOK_BIN.tmp"
  GOBIN="$KWOK_BIN.tmp" nice -n 19 go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  mkdir -p "$KWOK_BIN" && mv "$KWOK_BIN.tmp/kwok" "$KWOK_BIN/" && rmdir "$KWOK_BIN.tmp"
  echo "   kwok built in $(( $(date +%s) - t0 )) s"
fi
if [ ! -s "$KWOK_BIN/stages.yaml" ]; then
  # kwok v0.8 has no built-in stages: the "fast" node and pod lifecycles its module ships
  # (node ready at once with a lease heartbeat; pod running and ready at once, completed, deleted).
  (cd "$KWOK_BIN" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" >/dev/null)
  s="$GOMODCACHE/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
  { for f in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
      echo "---"; cat "$s/$f.yaml"
    done; } > "$KWOK_BIN/stages.yaml.tmp"
  mv "$KWOK_BIN/stages.yaml.tmp" "$KWOK_BIN/stages.yaml"
fi

if [ ! -x "$ETCD_BIN/etcd" ]; then
  # Debian's etcd 3.4 lacks the watch progress requests kube-apiserver 1.34's watch cache
  # relies on (kwok's informers then never see pods): etcd 3.6 from its Go module.
  echo "== building etcd $ETCD_VERSION into $ETCD_BIN"
  t0=$(date +%s)
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && go mod init strom.local/etcdbuild >/dev/null 2>&1 \
    && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1 \
    && mkdir -p "$ETCD_BIN.tmp" && build -ldflags "-s -w" -o "$ETCD_BIN.tmp/etcd" go.etcd.io/etcd/server/v3)
  mkdir -p "$ETCD_BIN" && mv "$ETCD_BIN.tmp/etcd" "$ETCD_BIN/" && rmdir "$ETCD_BIN.tmp"
  rm -rf "$work"; trap - EXIT
  echo "   etcd built in $(( $(date +%s) - t0 )) s"
fi
if [ "${1:-}" = node ]; then
  if [ ! -x "$COREDNS_BIN/coredns" ]; then
    # CoreDNS's main package is its module's root; its go.mod has no replace directives.
    echo "== building CoreDNS $COREDNS_VERSION into $COREDNS_BIN"
    t0=$(date +%s)
    mkdir -p "$COREDNS_BIN.tmp"
    GOBIN="$COREDNS_BIN.tmp" nice -n 19 go install -p 2 -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
    mkdir -p "$COREDNS_BIN" && mv "$COREDNS_BIN.tmp/coredns" "$COREDNS_BIN/" && rmdir "$COREDNS_BIN.tmp"
    echo "   coredns built in $(( $(date +%s) - t0 )) s"
  fi
  if [ ! -x "$PAUSE_BIN/pause" ]; then
    # The sandbox image's one binary, as Kubernetes builds it (static C): no registry to pull it from.
    command -v gcc >/dev/null || { echo "tests/k8s/build.sh: gcc is needed for the pause binary" >&2; exit 1; }
    (cd "$K8S_CACHE" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null)
    mkdir -p "$PAUSE_BIN"
    gcc -Os -static -DVERSION="$K8S_VERSION" -o "$PAUSE_BIN/pause.tmp" "$GOMODCACHE/k8s.io/kubernetes@$K8S_VERSION/build/pause/linux/pause.c"
    strip "$PAUSE_BIN/pause.tmp" && mv "$PAUSE_BIN/pause.tmp" "$PAUSE_BIN/pause"
  fi
  echo "real node binaries: $K8S_BIN/{kubelet,kube-proxy} $COREDNS_BIN/coredns $PAUSE_BIN/pause"
fi
echo "component cluster binaries: $K8S_BIN $KWOK_BIN $ETCD_BIN"
