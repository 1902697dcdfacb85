#!/usr/bin/env bash
# Apache Kafka as a reference system: fetch its jars with Maven into a cache outside the checkout,
# and start/stop one broker on loopback.
#
#   Kafka 3.9.x (KAFKA3_VERSION): ZooKeeper mode, zookeeper.connect=... (our coordinator or Apache ZK 3.8)
#   Kafka 4.x   (KAFKA4_VERSION): KRaft, one combined broker+controller node, storage formatted first
#
# Source it (functions below, nothing runs on source) or run it as a command:
#   tests/lib/kafka.sh fetch [VERSION]          jars -> $STROM_CACHE/kafka-VERSION/lib (idempotent)
#   tests/lib/kafka.sh classpath [VERSION]      prints the broker classpath (also holds kafka-clients)
#   tests/lib/kafka.sh clients-classpath [VERSION]  prints a classpath to compile/run a Java client against
#   tests/lib/kafka.sh run-zk VERSION PROPS     runs a ZooKeeper-mode broker in the foreground (exec java)
#   tests/lib/kafka.sh run-kraft VERSION PROPS  formats PROPS' log dir if needed, then exec java
#   tests/lib/kafka.sh start-zk VERSION DIR PORT ZK_CONNECT [BROKER_ID] [KEY=VALUE...]    prints the PID
#   tests/lib/kafka.sh start-kraft VERSION DIR PORT [CONTROLLER_PORT] [NODE_ID] [KEY=VALUE...]  prints the PID
#   tests/lib/kafka.sh stop PID
# VERSION may be "3" or "4" for the defaults below. Needs java (17) and mvn on PATH.
# The Maven repository used is whatever the machine's Maven is configured with.

KAFKA3_VERSION=${KAFKA3_VERSION:-3.9.2}
KAFKA4_VERSION=${KAFKA4_VERSION:-4.1.1}
STROM_CACHE=${STROM_CACHE:-$HOME/.cache/strom}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}

# kafka_version V -> the full version for "3", "4" or a full version
kafka_version() {
  case "${1:-3}" in
    3) echo "$KAFKA3_VERSION" ;;
    4) echo "$KAFKA4_VERSION" ;;
    *) echo "$1" ;;
  esac
}

kafka_home() { echo "$STROM_CACHE/kafka-$(kafka_version "$1")"; }

# Logging bindings: the release tarballs add one; no published POM carries it.
_kafka_logging_deps() { # VERSION
  case "$1" in
    3.*) cat <<'XML'
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId><version>1.2.25</version></dependency>
XML
    ;;
    *) cat <<'XML'
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
XML
    ;;
  esac
}

_kafka_write_log_config() { # HOME VERSION
  case "$2" in
    3.*) cat > "$1/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.zookeeper=WARN
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=INFO
EOF
    ;;
    *) cat > "$1/log4j2.properties" <<'EOF'
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = warn
EOF
    ;;
  esac
}

# kafka_fetch [VERSION]: download the broker, tools and client jars (runtime scope) once.
kafka_fetch() {
  local v home tmp
  v=$(kafka_version "${1:-3}")
  home=$(kafka_home "$v")
  if [ -f "$home/lib/.complete" ]; then
    [ -f "$home/log4j.properties" ] || [ -f "$home/log4j2.properties" ] || _kafka_write_log_config "$home" "$v"
    return 0
  fi
  command -v mvn >/dev/null || { echo "kafka.sh: mvn not found" >&2; return 1; }
  mkdir -p "$home" || return 1
  tmp=$(mktemp -d "$home/fetch.XXXXXX") || return 1
  cat > "$tmp/pom.xml" <<POM
<project>
  <modelVersion>4.0.0</modelVersion>
  <groupId>strom.reference</groupId>
  <artifactId>kafka-$v</artifactId>
  <version>0</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$v</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$v</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-clients</artifactId><version>$v</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>1.7.36</version></dependency>
$(_kafka_logging_deps "$v")
  </dependencies>
</project>
POM
  echo "kafka.sh: fetching Apache Kafka $v jars into $home/lib" >&2
  if ! (cd "$tmp" && mvn -q -B dependency:copy-dependencies -DoutputDirectory="$tmp/lib" \
          -DincludeScope=runtime >"$tmp/mvn.log" 2>&1); then
    echo "kafka.sh: maven failed for Kafka $v:" >&2
    tail -30 "$tmp/mvn.log" >&2
    rm -rf "$tmp"
    return 1
  fi
  rm -rf "$home/lib"
  mv "$tmp/lib" "$home/lib" && touch "$home/lib/.complete"
  rm -rf "$tmp"
  _kafka_write_log_config "$home" "$v"
}

kafka_classpath() { # [VERSION]
  kafka_fetch "${1:-3}" || return 1
  echo "$(kafka_home "${1:-3}")/lib/*"
}

# A classpath for a Java client program (javac -cp ... / java -cp ...): kafka-clients and its
# dependencies (compression codecs, slf4j and a binding) are all in the same lib directory.
kafka_clients_classpath() { kafka_classpath "$@"; }

_kafka_java_opts() { # VERSION
  local home v
  v=$(kafka_version "$1")
  home=$(kafka_home "$v")
  # shellcheck disable=SC2086
  echo $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
  case "$v" in
    3.*) echo "-Dlog4j.configuration=file:$home/log4j.properties" ;;
    *) echo "-Dlog4j2.configurationFile=$home/log4j2.properties" ;;
  esac
}

# kafka_run_zk VERSION PROPS: a ZooKeeper-mode broker in the foreground of this shell (exec).
kafka_run_zk() {
  local v cp
  v=$(kafka_version "$1")
  cp=$(kafka_classpath "$v") || return 1
  # shellcheck disable=SC2046
  exec java $(_kafka_java_opts "$v") -cp "$cp" kafka.Kafka "$2"
}

# kafka_cluster_id: a new Kafka cluster id, a random UUID in URL-safe base64 without padding (what
# `kafka-storage random-uuid` prints). Never one starting with '-', which `format -t` would take for
# an option ("argument --cluster-id/-t: expected one argument").
kafka_cluster_id() {
  local cid
  cid=$(python3 -c 'import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    if not s.startswith("-"):
        print(s); break')
  [ -n "$cid" ] || { echo "kafka.sh: could not make a cluster id" >&2; return 1; }
  echo "$cid"
}

# kafka_format_kraft VERSION PROPS: format the log dirs of a KRaft node once (a static quorum, so
# no --standalone flag). The cluster id is kept in PROPS.cluster-id so a restart reuses it.
kafka_format_kraft() {
  local v cp props logdir cid
  v=$(kafka_version "$1"); props=$2
  cp=$(kafka_classpath "$v") || return 1
  logdir=$(sed -n 's/^log\.dirs=//p' "$props" | head -1 | cut -d, -f1)
  [ -n "$logdir" ] && [ -f "$logdir/meta.properties" ] && return 0
  if [ -f "$props.cluster-id" ]; then
    cid=$(cat "$props.cluster-id")
  else
    # A Kafka cluster id is a random UUID in URL-safe base64 without padding (what
    # `kafka-storage random-uuid` prints; it never starts with '-'). Made here rather than by a
    # second JVM, whose empty output once left `format -t` without its argument.
    cid=$(kafka_cluster_id) || return 1
    echo "$cid" > "$props.cluster-id"
  fi
  # shellcheck disable=SC2046
  java $(_kafka_java_opts "$v") -cp "$cp" kafka.tools.StorageTool format -t "$cid" -c "$props" --ignore-formatted >&2
}

kafka_run_kraft() { # VERSION PROPS
  local v cp
  v=$(kafka_version "$1")
  cp=$(kafka_classpath "$v") || return 1
  kafka_format_kraft "$v" "$2" || return 1
  # shellcheck disable=SC2046
  exec java $(_kafka_java_opts "$v") -cp "$cp" kafka.Kafka "$2"
}

# kafka_write_zk_props DIR PORT ZK_CONNECT [BROKER_ID] [KEY=VALUE...] -> DIR/server.properties
kafka_write_zk_props() {
  local dir=$1 port=$2 zk=$3 id=${4:-0}
  shift 4 2>/dev/null || shift $#
  mkdir -p "$dir/logs"
  cat > "$dir/server.properties" <<EOF
broker.id=$id
listeners=PLAINTEXT://127.0.0.1:$port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
log.dirs=$dir/logs
zookeeper.connect=$zk
zookeeper.session.timeout.ms=18000
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=50
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
EOF
  _kafka_append_overrides "$dir/server.properties" "$@"
}

# kafka_write_kraft_props DIR PORT CONTROLLER_PORT [NODE_ID] [KEY=VALUE...] -> DIR/server.properties
kafka_write_kraft_props() {
  local dir=$1 port=$2 cport=$3 id=${4:-1}
  shift 4 2>/dev/null || shift $#
  mkdir -p "$dir/logs"
  cat > "$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$id@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/logs
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
EOF
  _kafka_append_overrides "$dir/server.properties" "$@"
}

_kafka_append_overrides() { # FILE [KEY=VALUE...]: a later line for a key wins in java.util.Properties
  local f=$1; shift
  local kv
  for kv in "$@"; do echo "$kv" >> "$f"; done
}

_kafka_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# kafka_wait_ready PORT [SECONDS]: until the broker answers on PORT (kcat metadata if present, else TCP).
kafka_wait_ready() {
  local port=$1 secs=${2:-60} i
  for i in $(seq 1 $((secs * 5))); do
    if command -v kcat >/dev/null; then
      kcat -b "127.0.0.1:$port" -L -m 2 >/dev/null 2>&1 && return 0
    elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  echo "kafka.sh: broker on 127.0.0.1:$port not ready after ${secs}s" >&2
  return 1
}

# kafka_start_zk VERSION DIR PORT ZK_CONNECT [BROKER_ID] [KEY=VALUE...]: background broker; prints
# its PID once it answers. Log: DIR/server.log.
kafka_start_zk() {
  local v=$1 dir=$2 port=$3 zk=$4 id=${5:-0} pid
  shift 5 2>/dev/null || shift $#
  kafka_fetch "$v" || return 1
  kafka_write_zk_props "$dir" "$port" "$zk" "$id" "$@"
  ( kafka_run_zk "$v" "$dir/server.properties" ) >"$dir/server.log" 2>&1 &
  pid=$!
  kafka_wait_ready "$port" 90 || { kafka_stop "$pid"; tail -30 "$dir/server.log" >&2; return 1; }
  echo "$pid"
}

# kafka_start_kraft VERSION DIR PORT [CONTROLLER_PORT] [NODE_ID] [KEY=VALUE...]: background KRaft
# combined node; prints its PID once it answers. Log: DIR/server.log.
kafka_start_kraft() {
  local v=$1 dir=$2 port=$3 cport=${4:-} id=${5:-1} pid
  shift 5 2>/dev/null || shift $#
  [ -n "$cport" ] || cport=$(_kafka_free_port)
  kafka_fetch "$v" || return 1
  kafka_write_kraft_props "$dir" "$port" "$cport" "$id" "$@"
  ( kafka_run_kraft "$v" "$dir/server.properties" ) >"$dir/server.log" 2>&1 &
  pid=$!
  kafka_wait_ready "$port" 90 || { kafka_stop "$pid"; tail -30 "$dir/server.log" >&2; return 1; }
  echo "$pid"
}

# kafka_stop PID: SIGTERM (a controlled shutdown), SIGKILL after 30s.
kafka_stop() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -9 "$pid" 2>/dev/null || true
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  cmd=${1:-}; shift || true
  case "$cmd" in
    fetch) kafka_fetch "${1:-3}" ;;
    classpath) kafka_classpath "${1:-3}" ;;
    clients-classpath) kafka_clients_classpath "${1:-3}" ;;
    home) kafka_home "${1:-3}" ;;
    version) kafka_version "${1:-3}" ;;
    run-zk) kafka_run_zk "$@" ;;
    run-kraft) kafka_run_kraft "$@" ;;
    start-zk) kafka_start_zk "$@" ;;
    start-kraft) kafka_start_kraft "$@" ;;
    stop) kafka_stop "$1" ;;
    *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
fi
