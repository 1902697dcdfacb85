#!/usr/bin/env bash
# The e2e suite (tests/e2e) on a kind cluster, for machines with kind and a Docker engine that
# allows privileged containers (kind's nodes are privileged containers). Elsewhere it prints one
# line saying why it skipped and exits 0; tests/run.sh calls it after the component-cluster run.
#
# What it does: builds the images (tests/images.sh), creates the kind cluster `strom-e2e`, loads
# the images into it (`kind load docker-image`), then runs the same suite as on the component
# cluster: the chart installed by the suite with the operator Deployment scaled to 0
# (the suite runs and kills its own operators), the pods now real containers of our image; then
# the real-pod tests (tests/e2e/tests/real_pods.rs) with the operator running in the cluster.
# The cluster is deleted afterwards whatever happened.
set -euo pipefail
cd "$(dirname "$0")/../.."
skip() { echo "kind e2e: skipped: $1"; exit 0; }
command -v kind >/dev/null 2>&1 || skip "no kind binary on PATH (go install sigs.k8s.io/kind@latest provides one)"
docker info >/dev/null 2>&1 || skip "no running Docker engine"
base=strom/debian:bookworm-minbase
if docker image inspect "$base" >/dev/null 2>&1; then
  docker run --rm --privileged "$base" true >/dev/null 2>&1 || skip "this Docker engine refuses privileged containers, which kind's nodes are"
fi
bash tests/images.sh
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
name=strom-e2e
cleanup() { kind delete cluster --name "$name" >/dev/null 2>&1 || true; rm -f "$kubeconfig"; }
kubeconfig=$(mktemp)
trap cleanup EXIT
kind create cluster --name "$name" --kubeconfig "$kubeconfig" --wait 180s
kind load docker-image --name "$name" "strom/strom:$version" "strom/strom-operator:$version"
export KUBECONFIG="$kubeconfig"
export STROM_E2E_HELM_ARGS="--set replicas=0 --set image.tag=$version"
cargo build --quiet -p strom-operator --bin strom-operator
cargo test --quiet -p strom-e2e --test operator -- --test-threads=1 "$@"
# The real-pod tests with the chart's operator running in the cluster, the Elasticsearch stand-in
# on this host at the kind network's gateway.
export STROM_E2E_HELM_ARGS="--set image.tag=$version"
STROM_E2E_HOST_IP=$(docker network inspect kind -f '{{range .IPAM.Config}}{{.Gateway}} {{end}}' | tr ' ' '\n' | grep -m1 '\.') \
  cargo test --quiet -p strom-e2e --test real_pods -- --test-threads=1 --nocapture "$@"
