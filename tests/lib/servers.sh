#!/usr/bin/env bash
# Start and stop coordinator servers (ours and Apache ZooKeeper 3.8 from Debian) on loopback.
# Sourced by tests/bench.sh. Each start_* prints the server's PID.

ZK_CP="/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-simple.jar:/usr/share/java/netty-handler.jar:/usr/share/java/netty-common.jar:/usr/share/java/netty-buffer.jar:/usr/share/java/netty-transport.jar:/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar:/usr/share/java/netty-transport-native-epoll.jar:/usr/share/java/netty-transport-native-unix-common.jar:/usr/share/java/jline.jar:/usr/share/java/commons-cli.jar:/usr/share/java/metrics-core.jar:/usr/share/java/snappy-java.jar"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# write_zoo_cfg DIR PORT ADMIN_PORT -> DIR/zoo.cfg
write_zoo_cfg() {
  mkdir -p "$1/data" "$1/log"
  cat > "$1/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$1/data
dataLogDir=$1/log
clientPort=$2
clientPortAddress=127.0.0.1
maxClientCnxns=0
4lw.commands.whitelist=*
admin.serverPort=$3
admin.serverAddress=127.0.0.1
CFG
}

wait_ruok() { # PORT
  for _ in $(seq 1 150); do
    [ "$(printf ruok | nc -q 2 -w 2 127.0.0.1 "$1" 2>/dev/null)" = "imok" ] && return 0
    sleep 0.2
  done
  echo "server on port $1 did not answer ruok" >&2
  return 1
}

start_strom_zk() { # BIN_DIR DIR PORT ADMIN_PORT
  write_zoo_cfg "$2" "$3" "$4"
  "$1/strom-coordinator" "$2/zoo.cfg" >"$2/server.log" 2>&1 &
  echo $!
}

start_apache_zk() { # DIR PORT ADMIN_PORT
  write_zoo_cfg "$1" "$2" "$3"
  java -Xmx1g -Dzookeeper.admin.enableServer=false -cp "$ZK_CP" \
    org.apache.zookeeper.server.ZooKeeperServerMain "$1/zoo.cfg" >"$1/server.log" 2>&1 &
  echo $!
}

rss_mib() { # PID
  awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo "?"
}
