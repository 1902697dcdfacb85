#!/usr/bin/env bash
# Runs a pytest suite inside a fresh user+mount+net+pid namespace, where we are root without
# being root: the suite's servers get network namespaces of their own and links can be cut. When
# pytest ends, or this script is interrupted or killed, the pid namespace's init exits, the kernel
# kills every process left in it (JVMs included), and the namespaces and mounts go with it.
#
# Usage: tests/lib/netns-pytest.sh NAME SUITE_DIR [pytest args...]
#   NAME (ENSEMBLE, REPLICATION): inside, STROM_<NAME>_NETNS=1 tells the suite it may create
#   namespaces; STROM_<NAME>_KEEP=1 keeps the temporary files even after a passing run.
# Temporary files live in one directory, removed after a passing run and kept (path printed) after
# a failing one.
set -euo pipefail
NAME=$1 SUITE=$2
shift 2
inside_var="STROM_${NAME}_NETNS"
keep_var="STROM_${NAME}_KEEP"
lower=$(echo "$NAME" | tr 'A-Z' 'a-z')

if [ "${!inside_var:-}" != 1 ]; then
  command -v unshare >/dev/null || { echo "unshare (util-linux) is missing" >&2; exit 1; }
  command -v ip >/dev/null || { echo "ip (iproute2) is missing" >&2; exit 1; }
  run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/${lower}-run-XXXXXX")
  # unshare ignores SIGINT/SIGTERM while it waits; killing it makes --kill-child SIGKILL the
  # namespace's init, and with it everything inside.
  unshare --user --map-root-user --mount --net --pid --fork --mount-proc --kill-child \
    env "$inside_var=1" TMPDIR="$run_tmp" bash "$0" "$NAME" "$SUITE" "$@" &
  child=$!
  trap 'kill -KILL $child 2>/dev/null || true' INT TERM HUP
  rc=0
  wait $child || rc=$?
  wait $child 2>/dev/null || true  # after a trapped signal the first wait returns early
  if [ $rc = 0 ] && [ "${!keep_var:-}" != 1 ]; then rm -rf "$run_tmp"; else echo "$lower test files kept in $run_tmp" >&2; fi
  exit $rc
fi

# Inside: bash is pid 1 of the new pid namespace and stays so (it reaps orphans); pytest is its child.
ip link set lo up
ip -o link show lo | grep -q 'UP' || { echo "loopback did not come up in the test namespace" >&2; exit 1; }
# `ip netns add` needs /run/netns; a private tmpfs on /run keeps the host's /run untouched.
mount -t tmpfs -o mode=0755 "strom-$lower-run" /run
mkdir -p /run/netns
# The whole suite unless a test path (file, dir or node id) is given.
paths=()
for a in "$@"; do
  case "$a" in -*) ;; *) [ -e "${a%%::*}" ] && paths=(x) ;; esac
done
[ ${#paths[@]} -gt 0 ] || set -- "$SUITE" "$@"
rc=0
python3 -m pytest -p no:cacheprovider "$@" || rc=$?
exit $rc
