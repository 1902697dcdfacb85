#!/usr/bin/env bash
# The one test command: installs what the tests need, builds, runs every suite, cleans up.
# Usage: tests/run.sh            (everything)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
start=$(date +%s)
phase() { echo; echo "== $1 ($(( $(date +%s) - start ))s)"; }

phase "install"
bash tests/lib/install.sh

# The Kubernetes phases' binaries (tests/k8s/build.sh node: kube-apiserver, controller-manager,
# scheduler, kubelet, kube-proxy, kwok, etcd, CoreDNS from Go sources) take about 20 minutes of CPU
# on 2 cores on a machine's first run, and are cached outside the checkout after it (then this only
# checks the cache). The build starts here, at the lowest CPU priority, so that it runs on the CPU
# the suites below leave idle (they mostly wait on servers and timeouts); the first Kubernetes phase
# waits for it. Its own session (to stop it whole) is its own scheduler autogroup where the kernel
# groups by session, which nice alone does not lower against the tests: the group's nice is set too.
mkdir -p target
setsid bash -c 'echo 19 > /proc/self/autogroup 2>/dev/null || true; exec nice -n 19 bash tests/k8s/build.sh node' > target/k8s-build.log 2>&1 &
k8s_build=$!
trap 'kill -- -"$k8s_build" 2>/dev/null || true' EXIT

phase "build"
cargo build --workspace --bins --quiet

phase "unit and integration tests (cargo)"
# strom-e2e needs a Kubernetes cluster: its own phase below brings one up.
cargo test --workspace --quiet --exclude strom-e2e

export STROM_BIN_DIR="$ROOT/target/debug"

if [ -d tests/pipeline ]; then
  phase "pipeline: strom-pipeline ship (read back by kcat) and process into the Elasticsearch stand-in over three brokers (routing, parsing, 429/503, dead letters, SIGKILL, the seed's Logstash file)"
  python3 -m pytest -q -p no:cacheprovider tests/pipeline
fi

if [ -d tests/coordinator ]; then
  phase "coordinator with real ZooKeeper clients (kazoo, zkCli.sh, raw wire)"
  STROM_ZK_TARGET=strom python3 -m pytest -q -p no:cacheprovider tests/coordinator
fi

if [ -d tests/ensemble ]; then
  phase "coordinator ensemble fault tests (three servers in network namespaces: kill, partition, restart)"
  # Its own user+mount+net+pid namespace (tests/ensemble/run.sh); STROM_ZK_TARGET=zookeeper runs
  # the same suite against a three-server Apache ZooKeeper 3.8 ensemble.
  STROM_ZK_TARGET=strom bash tests/ensemble/run.sh -q
fi

if [ -d tests/broker ]; then
  phase "broker with real Kafka clients on strom-coordinator (kcat, confluent-kafka, kafka-python, Java, stromctl)"
  STROM_KAFKA_TARGET=strom STROM_ZK_TARGET=strom python3 -m pytest -q -p no:cacheprovider tests/broker
  phase "broker with real Kafka clients on Apache ZooKeeper 3.8"
  STROM_KAFKA_TARGET=strom STROM_ZK_TARGET=zookeeper python3 -m pytest -q -p no:cacheprovider tests/broker
fi

# STROM_KAFKA_TARGET=kafka STROM_ZK_TARGET=zookeeper tests/replication/run.sh runs the same suite
# against Kafka 3.9 on ZooKeeper 3.8 (all pass there too).
if [ -d tests/replication ]; then
  phase "broker replication fault tests (three brokers over a three-server ensemble, in network namespaces)"
  STROM_KAFKA_TARGET=strom STROM_ZK_TARGET=strom bash tests/replication/run.sh -q
fi

phase "the Helm chart (lint, templates, CRDs current)"
bash tests/chart.sh

phase "Kubernetes end to end: the chart and strom-operator on a component cluster (etcd, kube-apiserver, controller-manager, scheduler, kwok nodes)"
if ! wait "$k8s_build"; then echo "tests/k8s/build.sh failed:"; cat target/k8s-build.log; exit 1; fi
cat target/k8s-build.log
bash tests/e2e/run.sh
bash tests/kind/run.sh

phase "images (a debootstrapped base, the data-plane and operator images, each binary run inside)"
bash tests/images.sh

phase "Kubernetes with a real node: kubelet, kube-proxy, containerd, CoreDNS running our images; an ensemble, brokers and a topic from the in-cluster operator; clients through pod deletions"
# After the images phase: tests/k8s/node.sh imports the images it built into the node's containerd.
bash tests/e2e/real-node.sh

phase "the README's run command (stromctl up examples/)"
# Exactly the first line of README.md's first code block, from the repository root, then the
# client commands the README gives, then Ctrl-C.
up_cmd=$(awk '/^```sh/{f=1; next} f{print; exit}' README.md | sed 's/ *#.*$//')
case "$up_cmd" in *"stromctl up examples/"*) ;; *) echo "README's first command is not stromctl up: $up_cmd"; exit 1 ;; esac
rm -rf .strom
: > target/readme-up.log
setsid bash -c "$up_cmd" > target/readme-up.log 2>&1 &
up_pid=$!
ok=0
# The command builds first (a cold release build takes minutes on 2 cores): wait for it to be
# ready or to end, never interrupting the build.
for _ in $(seq 1 13500); do
  if grep -q '^ready in' target/readme-up.log; then ok=1; break; fi
  kill -0 "$up_pid" 2>/dev/null || break
  sleep 0.2
done
if [ $ok = 1 ]; then
  printf 'one\ntwo\nthree\n' | target/release/stromctl produce --topic lzq --bootstrap-server 127.2.0.1:9092
  got=$(target/release/stromctl consume --topic lzq --from-beginning --max-messages 3 --bootstrap-server 127.2.0.3:9092 | sort | tr '\n' ' ')
  [ "$got" = "one three two " ] || { echo "README up: consumed '$got'"; ok=0; }
fi
kill -INT -- -"$up_pid" 2>/dev/null || true
for _ in $(seq 1 300); do kill -0 "$up_pid" 2>/dev/null || break; sleep 0.2; done
grep -q '^stopped' target/readme-up.log || { echo "README up did not stop cleanly"; ok=0; }
rm -rf .strom
if [ $ok != 1 ]; then echo "README run command failed:"; cat target/readme-up.log; exit 1; fi
echo "README run command: stromctl up served the seed's stack to stromctl produce/consume and stopped on Ctrl-C"

phase "stromctl up: restarts, error paths (tests/up)"
python3 -m pytest -q -p no:cacheprovider tests/up

phase "the README's coordinator and broker commands"
# The standalone coordinator command of README.md, from the repository root, then a client's view of it.
# The binaries are the README's first command's build (the phase above), run as the README says.
run_cmd=$(grep -m1 -o '^target/release/strom-coordinator examples/local/zoo.cfg' README.md)
[ -n "$run_cmd" ] || { echo "README has no coordinator command"; exit 1; }
[ -x target/release/strom-coordinator ] || { echo "the README's first command built no target/release/strom-coordinator"; exit 1; }
rm -rf .strom
$run_cmd > target/readme-run.log 2>&1 &
readme_pid=$!
ok=0
for _ in $(seq 1 300); do
  if [ "$(printf ruok | nc -q 2 -w 2 127.0.0.1 2181 2>/dev/null)" = imok ]; then ok=1; break; fi
  sleep 0.2
done
if [ $ok = 1 ]; then
  python3 -c 'from kazoo.client import KazooClient as K; z=K("127.0.0.1:2181"); z.start(10); z.create("/hello", b"world"); assert z.get("/hello")[0] == b"world"; z.stop()'
  curl -sf http://127.0.0.1:8080/commands/monitor | grep -q '"server_state": "standalone"' || ok=0
fi
if [ $ok = 1 ]; then
  # The README's broker command beside it, then stromctl through it.
  broker_cmd=$(grep -m1 -o '^target/release/strom-broker examples/local/server.properties' README.md)
  [ -n "$broker_cmd" ] || { echo "README has no broker command"; exit 1; }
  $broker_cmd > target/readme-broker.log 2>&1 &
  broker_pid=$!
  ok=0
  for _ in $(seq 1 150); do
    if target/release/stromctl topics list --timeout 2 >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.2
  done
  if [ $ok = 1 ]; then
    printf 'one\ntwo\nthree\n' | target/release/stromctl produce --topic readme
    got=$(target/release/stromctl consume --topic readme --from-beginning --max-messages 3 --timeout-ms 20000 | tr '\n' ' ')
    [ "$got" = "one two three " ] || { echo "README broker round trip read: $got"; ok=0; }
  fi
  kill "$broker_pid" 2>/dev/null || true
  pkill -f 'strom-broker examples/local/server.properties' 2>/dev/null || true
  wait "$broker_pid" 2>/dev/null || true
  [ $ok = 1 ] || { echo "README broker command failed:"; cat target/readme-broker.log; }
fi
kill "$readme_pid" 2>/dev/null || true
pkill -f 'strom-coordinator examples/local/zoo.cfg' 2>/dev/null || true
wait "$readme_pid" 2>/dev/null || true
rm -rf .strom
if [ $ok != 1 ]; then echo "README run command failed:"; cat target/readme-run.log; exit 1; fi
echo "README run commands: the coordinator served kazoo and the admin endpoint; the broker served stromctl"

phase "the README's ensemble commands"
# The code block after "A three-member ensemble on this machine", run as written, then a client
# writing through one member and reading through another, and stromctl seeing three members.
ens_block=$(awk '/^A three-member ensemble on this machine/ {f=1} f && /^```sh/ {g=1; next} g && /^```/ {exit} g {print}' README.md)
[ -n "$ens_block" ] || { echo "README has no ensemble block"; exit 1; }
rm -rf .strom
ens_out=$(bash -c "$ens_block" 2>&1) || { echo "README ensemble commands failed:"; echo "$ens_out"; cat .strom/ensemble/s*.log; pkill -f 'strom-coordinator examples/local/ensemble/zoo' || true; exit 1; }
echo "$ens_out" | tail -n 5
python3 - <<'PY'
from kazoo.client import KazooClient as K
a = K("127.0.0.11:2181"); a.start(15); a.create("/readme-ensemble", b"one")
b = K("127.0.0.13:2181"); b.start(15); b.sync("/readme-ensemble")
assert b.get("/readme-ensemble")[0] == b"one", "a write through one member was not read through another"
a.stop(); b.stop()
PY
echo "$ens_out" | grep -q '3 servers, 3 serving (quorum 2), leader' || { echo "stromctl zk status did not show a healthy ensemble"; exit 1; }
pkill -f 'strom-coordinator examples/local/ensemble/zoo' 2>/dev/null || true
for _ in $(seq 1 50); do pgrep -f 'strom-coordinator examples/local/ensemble/zoo' >/dev/null || break; sleep 0.2; done
rm -rf .strom
echo "README ensemble commands: three members formed an ensemble, stromctl saw it, kazoo wrote and read across members"

phase "benchmark smoke runs"
bash tests/bench.sh --smoke coordinator ensemble broker replication up pipeline operator

phase "done in $(( $(date +%s) - start ))s"
