#!/usr/bin/env bash
# Runs the broker replication fault suite (tests/replication) inside a fresh user+mount+net+pid
# namespace (tests/lib/netns-pytest.sh): three coordinators and three brokers get network
# namespaces of their own and links can be cut.
#
# Usage: [STROM_KAFKA_TARGET=strom|kafka] [STROM_ZK_TARGET=strom|zookeeper] \
#        tests/replication/run.sh [pytest args...]
# Temporary files are removed after a passing run and kept (path printed) after a failing one, or
# always with STROM_REPLICATION_KEEP=1.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
if [ "${STROM_KAFKA_TARGET:-strom}" = kafka ]; then
  # Fetch the reference's jars out here, where the network is (a no-op when cached).
  bash "$HERE/../lib/kafka.sh" fetch 3 >/dev/null
fi
exec bash "$HERE/../lib/netns-pytest.sh" REPLICATION "$HERE" "$@"
