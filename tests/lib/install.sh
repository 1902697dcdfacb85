#!/usr/bin/env bash
# Installs what the tests need, idempotently: Debian packages, Python packages.
# Sourced by tests/run.sh and tests/bench.sh.
set -euo pipefail

need_debs=()
for pkg in zookeeper kcat netcat-openbsd curl; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_debs+=("$pkg")
done
if [ ${#need_debs[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${need_debs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_debs[@]}" >/dev/null
fi

python3 - <<'PY' || { echo "== installing Python packages"; python3 -m pip install -q --disable-pip-version-check kazoo pytest; }
import importlib.util, sys
sys.exit(0 if all(importlib.util.find_spec(m) for m in ("kazoo", "pytest")) else 1)
PY
