#!/usr/bin/env bash
# Runs the ensemble fault suite (tests/ensemble) inside a fresh user+mount+net+pid namespace
# (tests/lib/netns-pytest.sh): the servers get network namespaces of their own and links can be cut.
#
# Usage: [STROM_ZK_TARGET=strom|zookeeper] tests/ensemble/run.sh [pytest args...]
# Temporary files are removed after a passing run and kept (path printed) after a failing one, or
# always with STROM_ENSEMBLE_KEEP=1.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
exec bash "$HERE/../lib/netns-pytest.sh" ENSEMBLE "$HERE" "$@"
