#!/usr/bin/env bash
# Builds every image for real and runs each binary inside once (--version).
#   - a Docker engine: the running one, or Debian's dockerd started here (vfs storage, no
#     iptables or bridge, its socket and data under $STROM_CACHE) and stopped afterwards;
#   - the base image strom/debian:bookworm-minbase: debootstrap (the mirror apt uses) +
#     docker import, the rootfs tarball cached under $STROM_CACHE;
#   - images/strom.Dockerfile and images/operator.Dockerfile from the binaries the tests use
#     (target/debug, stripped), tagged strom/strom:<version> and strom/strom-operator:<version>.
# Where no engine can start it says so in one line and exits 0 (nothing else to show).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CACHE="${STROM_CACHE:-$HOME/.cache/strom}"
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
BIN="${STROM_BIN_DIR:-$ROOT/target/debug}"
STARTED=""
WORK=$(mktemp -d)
cleanup() {
  if [ -n "$STARTED" ]; then kill "$STARTED" 2>/dev/null || true; wait "$STARTED" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null; then
    echo "images: no Docker engine and no dockerd (Debian's docker.io) to start; images not built"
    exit 0
  fi
  sock="$CACHE/docker/docker.sock"
  mkdir -p "$CACHE/docker/data"
  export DOCKER_HOST="unix://$sock"
  if ! docker info >/dev/null 2>&1; then
    rm -f "$sock"
    dockerd --data-root "$CACHE/docker/data" --exec-root "$CACHE/docker/exec" --pidfile "$CACHE/docker/dockerd.pid" \
      --storage-driver vfs --iptables=false --ip6tables=false --bridge=none --host "$DOCKER_HOST" >"$WORK/dockerd.log" 2>&1 &
    STARTED=$!
    for _ in $(seq 1 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
    if ! docker info >/dev/null 2>&1; then
      echo "images: dockerd could not start here ($(tail -n 1 "$WORK/dockerd.log" | cut -c1-200)); images not built"
      exit 0
    fi
  fi
fi

BASE=strom/debian:bookworm-minbase
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  tarball="$CACHE/rootfs-bookworm-minbase.tar"
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || { echo "images: debootstrap is missing (Debian package debootstrap)" >&2; exit 1; }
    mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    echo "== debootstrap bookworm (minbase) for the base image"
    debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
      || { tail -n 20 "$WORK/debootstrap.log" >&2; exit 1; }
    tar -C "$WORK/rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$WORK/rootfs"
  fi
  docker import "$tarball" "$BASE" >/dev/null
fi

ctx="$WORK/context"
mkdir -p "$ctx/bin"
for b in strom-coordinator strom-broker strom-pipeline stromctl strom-operator; do
  [ -x "$BIN/$b" ] || { echo "images: $BIN/$b is not built (cargo build --workspace --bins)" >&2; exit 1; }
  objcopy --strip-debug "$BIN/$b" "$ctx/bin/$b"
done
for spec in "strom.Dockerfile strom/strom" "operator.Dockerfile strom/strom-operator"; do
  set -- $spec
  docker build -q --network none -f "images/$1" -t "$2:$VERSION" "$ctx" >"$WORK/build.log" 2>&1 \
    || { echo "images: building $2 failed:" >&2; grep -v -i 'deprecated\|buildx\|BuildKit' "$WORK/build.log" >&2; exit 1; }
done
docker image prune -f >/dev/null 2>&1 || true   # earlier builds of the same tags
for b in strom-coordinator strom-broker strom-pipeline stromctl; do
  got=$(docker run --rm --network none "strom/strom:$VERSION" "$b" --version)
  [ "$got" = "$b $VERSION" ] || { echo "images: $b in strom/strom:$VERSION says '$got'" >&2; exit 1; }
done
got=$(docker run --rm --network none "strom/strom-operator:$VERSION" --version)
[ "$got" = "strom-operator $VERSION" ] || { echo "images: the operator image says '$got'" >&2; exit 1; }
uid=$(docker run --rm --network none "strom/strom:$VERSION" sh -c 'id -u' 2>/dev/null || docker inspect -f '{{.Config.User}}' "strom/strom:$VERSION")
case "$uid" in 0|root) echo "images: strom/strom runs as root" >&2; exit 1 ;; esac
echo "images: strom/strom:$VERSION and strom/strom-operator:$VERSION built; every binary starts inside (user $uid)"
