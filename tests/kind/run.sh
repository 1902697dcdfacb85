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
# The real-pod tests with the chart's operator running in the cluster. The LogPipeline test writes
# into Elasticsearch from its official image when STROM_KIND_ES_IMAGE names it (pulled unless
# present, loaded into kind, run as one node in namespace es; tests/kind/elasticsearch.yaml), and
# otherwise into the stand-in on this host at the kind network's gateway.
export STROM_E2E_HELM_ARGS="--set image.tag=$version"
if [ -n "${STROM_KIND_ES_IMAGE:-}" ]; then
  docker image inspect "$STROM_KIND_ES_IMAGE" >/dev/null 2>&1 || docker pull "$STROM_KIND_ES_IMAGE"
  kind load docker-image --name "$name" "$STROM_KIND_ES_IMAGE"
  sed "s|image: IMAGE|image: $STROM_KIND_ES_IMAGE|" tests/kind/elasticsearch.yaml | kubectl apply -f -
  kubectl -n es rollout status deployment/elasticsearch --timeout=300s
  node_ip=$(docker inspect "$name-control-plane" -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' | awk '{print $1}')
  export STROM_E2E_ES_URL="http://$node_ip:30920" STROM_E2E_ES_POD_URL="http://elasticsearch.es.svc.cluster.local:9200"
  curl -sf --retry 30 --retry-delay 2 --retry-all-errors "$STROM_E2E_ES_URL/" >/dev/null
  echo "kind e2e: Elasticsearch $STROM_KIND_ES_IMAGE at $STROM_E2E_ES_URL"
else
  echo "kind e2e: the LogPipeline test writes into the Elasticsearch stand-in (STROM_KIND_ES_IMAGE names Elasticsearch's official image to use it instead)"
  export STROM_E2E_HOST_IP=$(docker network inspect kind -f '{{range .IPAM.Config}}{{.Gateway}} {{end}}' | tr ' ' '\n' | grep -m1 '\.')
fi
cargo test --quiet -p strom-e2e --test real_pods -- --test-threads=1 --nocapture "$@"
