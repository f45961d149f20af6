#!/usr/bin/env bash
# Runs a real Apache Kafka (KRaft) for development and the integration tests,
# assembled from its published jars with Maven (scripts/kafka/pom.xml). No Docker.
#
# Single node (broker + controller in one JVM), 127.0.0.1:9092, controller :9093:
#   scripts/kafka.sh fetch                 download the jars only (cached)
#   scripts/kafka.sh start [--fresh]       start (idempotent); --fresh wipes data first
#   scripts/kafka.sh stop                  SIGTERM, then SIGKILL after a timeout (idempotent)
#   scripts/kafka.sh kill                  SIGKILL (crash test); `start` again reuses the data
#   scripts/kafka.sh status                exit 0 iff running
#   scripts/kafka.sh logs [-f]             tail the broker log
#   scripts/kafka.sh wipe                  stop, then delete the data dir
#   scripts/kafka.sh topics ARGS...        kafka-topics against the node, e.g.
#                                          topics --create --topic t --partitions 3
#   scripts/kafka.sh run CLASS ARGS...     any main class on the Kafka classpath
#
# Three-node cluster (each node broker + controller, quorum of 3), brokers on
# 127.0.0.1:19092-19094, controllers 19192-19194, RF 3, min ISR 2:
#   scripts/kafka.sh cluster-start [--fresh] | cluster-stop | cluster-status | cluster-wipe
#   scripts/kafka.sh cluster-kill N | cluster-stop-node N | cluster-start-node N   (N = 1..3)
#   scripts/kafka.sh cluster-topics ARGS...
#   scripts/kafka.sh cluster-logs N [-f]
#
# Environment:
#   SCORESTREAM_CACHE   cache root (default ~/.cache/scorestream): jars in
#                       kafka-<version>/libs, data and logs in run/
#   KAFKA_VERSION       Kafka release to assemble (default below)
#   KAFKA_PORT          single node's broker port (default 9092)
#   KAFKA_CONTROLLER_PORT  single node's controller port (default KAFKA_PORT+1)
#   KAFKA_DATA          single node's run directory (default run/kafka-<port>)
#   KAFKA_CLUSTER_PORT  first cluster broker port (default 19092; controllers +100)
#   KAFKA_CLUSTER_DATA  cluster run directory (default run/kafka-cluster-<port>)
#   KAFKA_HEAP_OPTS     JVM heap flags (default -Xmx512m single, -Xmx384m cluster)
#   KAFKA_START_TIMEOUT seconds to wait for a node to come up (default 90)
#   KAFKA_STOP_TIMEOUT  seconds to wait after SIGTERM before SIGKILL (default 30)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
conf=$here/kafka
cache=${SCORESTREAM_CACHE:-$HOME/.cache/scorestream}
version=${KAFKA_VERSION:-4.4.0}
home=$cache/kafka-$version
libs=$home/libs
start_timeout=${KAFKA_START_TIMEOUT:-90}
stop_timeout=${KAFKA_STOP_TIMEOUT:-30}

port=${KAFKA_PORT:-9092}
cport=${KAFKA_CONTROLLER_PORT:-$((port + 1))}
single_dir=${KAFKA_DATA:-$cache/run/kafka-$port}

cbase=${KAFKA_CLUSTER_PORT:-19092}
cluster_dir=${KAFKA_CLUSTER_DATA:-$cache/run/kafka-cluster-$cbase}

log() { echo "kafka.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# ---------------------------------------------------------------------------
# jars

# fetch downloads the Kafka jars into $libs once. A stamp holding the hash of
# the pom and the version marks a complete download; a lock keeps concurrent
# callers from downloading twice.
fetch() {
  local want
  want="$version $(sha256sum "$conf/pom.xml" | cut -d' ' -f1)"
  if [ "$(cat "$home/.stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
  command -v java >/dev/null || die "java not found (apt-get install openjdk-17-jre-headless)"
  mkdir -p "$home"
  (
    flock 9
    if [ "$(cat "$home/.stamp" 2>/dev/null)" = "$want" ]; then exit 0; fi
    log "downloading Kafka $version jars into $libs"
    rm -rf "$libs.tmp"
    if ! mvn -B -q -f "$conf/pom.xml" dependency:copy-dependencies \
        -Dkafka.version="$version" -DoutputDirectory="$libs.tmp" \
        >"$home/mvn.log" 2>&1; then
      cat "$home/mvn.log" >&2
      die "maven failed (log: $home/mvn.log)"
    fi
    [ -f "$libs.tmp/kafka_2.13-$version.jar" ] || die "kafka_2.13-$version.jar missing after download"
    rm -rf "$libs"
    mv "$libs.tmp" "$libs"
    echo "$want" >"$home/.stamp"
    log "$(find "$libs" -name "*.jar" | wc -l) jars, $(du -sh "$libs" | cut -f1)"
  ) 9>"$home/.lock"
}

# tool runs a main class from the Kafka jars in the foreground, quietly.
tool() {
  fetch
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dlog4j2.configurationFile="$conf/log4j2-tools.properties" \
    -cp "$libs/*" "$@"
}

# new_cluster_id prints a random KRaft cluster id (base64url UUID, 22 chars)
# without starting a JVM. Like Kafka's Uuid.randomUuid it never starts with '-',
# which the storage tool would read as an option (1 id in 64 would).
new_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [ "${id#-}" = "$id" ] && break
  done
  printf '%s' "$id"
}

# ---------------------------------------------------------------------------
# one node: a directory holding server.properties, data/, logs/, kafka.pid

# node_configure DIR NODE_ID PORT CONTROLLER_PORT VOTERS MODE writes
# DIR/server.properties from the templates (always, so template edits apply).
node_configure() {
  local dir=$1 id=$2 p=$3 cp=$4 voters=$5 mode=$6
  mkdir -p "$dir/data" "$dir/logs"
  sed -e "s|@NODE_ID@|$id|g" -e "s|@PORT@|$p|g" -e "s|@CONTROLLER_PORT@|$cp|g" \
      -e "s|@VOTERS@|$voters|g" -e "s|@DATA_DIR@|$dir/data|g" \
      "$conf/server.properties.in" >"$dir/server.properties.tmp"
  cat "$conf/$mode.properties" >>"$dir/server.properties.tmp"
  mv "$dir/server.properties.tmp" "$dir/server.properties"
  echo "$p" >"$dir/port"
}

# node_pid DIR prints the pid of the node's JVM if it is running.
node_pid() {
  local pid
  pid=$(cat "$1/kafka.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled pid: it must be our kafka.Kafka with our config.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $1/server.properties" || return 1
  echo "$pid"
}

# node_format DIR CLUSTER_ID formats the KRaft storage unless already formatted.
node_format() {
  local dir=$1 id=$2
  [ -f "$dir/data/meta.properties" ] && return 0
  tool kafka.tools.StorageTool format --ignore-formatted -t "$id" \
    -c "$dir/server.properties" >"$dir/logs/format.log" 2>&1 ||
    { cat "$dir/logs/format.log" >&2; die "storage format failed in $dir"; }
}

# node_launch DIR HEAP starts the JVM in the background (own session, so a
# Ctrl-C in the calling shell doesn't reach it).
node_launch() {
  local dir=$1 heap=$2
  : >"$dir/logs/kafka.out"
  # shellcheck disable=SC2086
  setsid java -server $heap -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dkafka.logs.dir="$dir/logs" \
    -Dlog4j2.configurationFile="$conf/log4j2.properties" \
    -cp "$libs/*" kafka.Kafka "$dir/server.properties" \
    >>"$dir/logs/kafka.out" 2>&1 </dev/null 8>&- &
  echo $! >"$dir/kafka.pid"
}

# node_wait DIR waits until the node's broker port answers a Kafka request
# (broker_answers); fails if the JVM dies or time runs out. Readiness is asked
# of the port, not read from server.log, which may roll during start-up.
node_wait() {
  local dir=$1 p t0
  p=$(cat "$dir/port")
  t0=$(date +%s)
  while :; do
    if ! node_pid "$dir" >/dev/null; then
      tail -n 30 "$dir/logs/kafka.out" "$dir/logs/server.log" >&2 2>/dev/null || true
      die "node in $dir exited during startup (logs: $dir/logs)"
    fi
    if broker_answers "$p"; then
      return 0
    fi
    if [ $(($(date +%s) - t0)) -ge "$start_timeout" ]; then
      tail -n 30 "$dir/logs/server.log" >&2 2>/dev/null || true
      die "node in $dir not up after ${start_timeout}s (logs: $dir/logs)"
    fi
    sleep 0.5
  done
}

# node_stop DIR: SIGTERM, wait, SIGKILL after stop_timeout. Idempotent.
node_stop() {
  local dir=$1 pid i
  pid=$(node_pid "$dir") || { rm -f "$dir/kafka.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < stop_timeout * 2; i++)); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$dir/kafka.pid"; return 0; }
    sleep 0.5
  done
  log "pid $pid still running ${stop_timeout}s after SIGTERM; sending SIGKILL"
  node_kill "$dir"
}

# node_kill DIR: SIGKILL and wait for the process to go. Idempotent.
node_kill() {
  local dir=$1 pid
  pid=$(node_pid "$dir") || { rm -f "$dir/kafka.pid"; return 0; }
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$dir/kafka.pid"
}

# elapsed T0 prints the seconds since T0 (date +%s%N) with one decimal.
elapsed() {
  local ms=$((($(date +%s%N) - $1) / 1000000))
  printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

# lock NAME serialises start/stop of one node or cluster across concurrent
# callers (fd 8; node_launch closes it so the JVM doesn't hold the lock).
lock() {
  mkdir -p "$cache/run"
  exec 8>"$cache/run/.$1.lock"
  flock 8
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# broker_answers PORT: a Kafka broker on 127.0.0.1:PORT answers an ApiVersions
# (v0) request with correlation id 1. A broker accepts on its port only once
# it processes requests; the answer proves it is Kafka and not a port
# squatter. The reply is read with a timeout, so a silent listener is "no".
broker_answers() {
  local reply
  reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf '\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x01\xff\xff' >&3
    timeout 5 head -c 8 <&3 | od -An -tx1 | tr -d ' \n') 2>/dev/null) || return 1
  # 4 bytes of length, then the correlation id 00000001.
  [ "${#reply}" -eq 16 ] && [ "${reply:8:8}" = 00000001 ]
}

# ---------------------------------------------------------------------------
# single node

single_start() {
  local fresh=${1:-} pid t0
  fetch
  if pid=$(node_pid "$single_dir"); then
    log "already running (pid $pid) on 127.0.0.1:$port; logs: $single_dir/logs/server.log"
    return 0
  fi
  if [ "$fresh" = --fresh ]; then rm -rf "$single_dir"; fi
  for p in "$port" "$cport"; do
    port_busy "$p" && die "port $p is in use by another process"
  done
  t0=$(date +%s%N)
  node_configure "$single_dir" 1 "$port" "$cport" "1@127.0.0.1:$cport" single
  [ -f "$single_dir/cluster.id" ] || new_cluster_id >"$single_dir/cluster.id"
  node_format "$single_dir" "$(cat "$single_dir/cluster.id")"
  node_launch "$single_dir" "${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
  node_wait "$single_dir"
  log "up on 127.0.0.1:$port (pid $(cat "$single_dir/kafka.pid"), $(elapsed "$t0")s); logs: $single_dir/logs/server.log"
}

single_logs() {
  if [ "${1:-}" = -f ]; then exec tail -n 50 -F "$single_dir/logs/server.log"; fi
  echo "$single_dir/logs/server.log" >&2
  tail -n "${LINES_:-100}" "$single_dir/logs/server.log"
}

# ---------------------------------------------------------------------------
# cluster

cluster_node_dir() { echo "$cluster_dir/node-$1"; }

cluster_check_n() {
  case "${1:-}" in 1 | 2 | 3) ;; *) die "node number must be 1, 2 or 3" ;; esac
}

cluster_configure() {
  local voters="" i
  for i in 1 2 3; do voters+="${voters:+,}$i@127.0.0.1:$((cbase + 100 + i - 1))"; done
  for i in 1 2 3; do
    node_configure "$(cluster_node_dir "$i")" "$i" "$((cbase + i - 1))" "$((cbase + 100 + i - 1))" "$voters" cluster
  done
  mkdir -p "$cluster_dir"
  [ -f "$cluster_dir/cluster.id" ] || new_cluster_id >"$cluster_dir/cluster.id"
}

# cluster_launch_node N starts node N (no wait); returns 1 if it was running.
cluster_launch_node() {
  local dir
  dir=$(cluster_node_dir "$1")
  node_pid "$dir" >/dev/null && return 1
  for p in "$((cbase + $1 - 1))" "$((cbase + 100 + $1 - 1))"; do
    port_busy "$p" && die "port $p is in use by another process"
  done
  node_format "$dir" "$(cat "$cluster_dir/cluster.id")"
  node_launch "$dir" "${KAFKA_HEAP_OPTS:--Xms128m -Xmx384m}"
}

cluster_start() {
  local fresh=${1:-} i t0
  fetch
  if [ "$fresh" = --fresh ]; then cluster_stop; rm -rf "$cluster_dir"; fi
  t0=$(date +%s%N)
  cluster_configure
  # All three first: a node's broker only starts once the controller quorum
  # (2 of 3) has elected a leader.
  local launched=()
  for i in 1 2 3; do
    if cluster_launch_node "$i"; then launched+=("$i"); fi
  done
  if [ ${#launched[@]} -eq 0 ]; then
    log "cluster already running on $(cluster_bootstrap)"
    return 0
  fi
  for i in "${launched[@]}"; do node_wait "$(cluster_node_dir "$i")"; done
  log "cluster up on 127.0.0.1:$cbase,127.0.0.1:$((cbase + 1)),127.0.0.1:$((cbase + 2)) ($(elapsed "$t0")s); logs: $cluster_dir/node-N/logs/server.log"
}

cluster_start_node() {
  cluster_check_n "${1:-}"
  fetch
  cluster_configure
  if ! cluster_launch_node "$1"; then
    log "node $1 already running on 127.0.0.1:$((cbase + $1 - 1))"
    return 0
  fi
  node_wait "$(cluster_node_dir "$1")"
  log "node $1 up on 127.0.0.1:$((cbase + $1 - 1))"
}

cluster_stop() {
  local i pids=()
  # In parallel: stopped one at a time, the last node would wait for a
  # controller quorum that is already gone.
  for i in 1 2 3; do
    [ -d "$(cluster_node_dir "$i")" ] || continue
    node_stop "$(cluster_node_dir "$i")" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i"; done
}

cluster_status() {
  local i n=0 pid
  for i in 1 2 3; do
    if pid=$(node_pid "$(cluster_node_dir "$i")"); then
      echo "node $i: running (pid $pid) on 127.0.0.1:$((cbase + i - 1))"
      n=$((n + 1))
    else
      echo "node $i: stopped"
    fi
  done
  [ "$n" -eq 3 ]
}

cluster_bootstrap() { echo "127.0.0.1:$cbase,127.0.0.1:$((cbase + 1)),127.0.0.1:$((cbase + 2))"; }

# ---------------------------------------------------------------------------

cmd=${1:-}
shift || true
case "$cmd" in
  fetch) fetch; echo "$libs" ;;
  start) lock "kafka-$port"; single_start "${1:-}" ;;
  stop) lock "kafka-$port"; node_stop "$single_dir" ;;
  kill) lock "kafka-$port"; node_kill "$single_dir" ;;
  status)
    if pid=$(node_pid "$single_dir"); then echo "running (pid $pid) on 127.0.0.1:$port"; else echo "stopped"; exit 1; fi ;;
  logs) single_logs "${1:-}" ;;
  wipe) lock "kafka-$port"; node_stop "$single_dir"; rm -rf "$single_dir" ;;
  topics) tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" "$@" ;;
  run) [ $# -ge 1 ] || die "usage: run MAIN_CLASS [ARGS...]"; tool "$@" ;;
  cluster-start) lock "kafka-cluster-$cbase"; cluster_start "${1:-}" ;;
  cluster-stop) lock "kafka-cluster-$cbase"; cluster_stop ;;
  cluster-status) cluster_status ;;
  cluster-wipe) lock "kafka-cluster-$cbase"; cluster_stop; rm -rf "$cluster_dir" ;;
  cluster-kill) lock "kafka-cluster-$cbase"; cluster_check_n "${1:-}"; node_kill "$(cluster_node_dir "$1")" ;;
  cluster-stop-node) lock "kafka-cluster-$cbase"; cluster_check_n "${1:-}"; node_stop "$(cluster_node_dir "$1")" ;;
  cluster-start-node) lock "kafka-cluster-$cbase"; cluster_start_node "${1:-}" ;;
  cluster-topics) tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(cluster_bootstrap)" "$@" ;;
  cluster-logs)
    cluster_check_n "${1:-}"
    if [ "${2:-}" = -f ]; then exec tail -n 50 -F "$(cluster_node_dir "$1")/logs/server.log"; fi
    tail -n 100 "$(cluster_node_dir "$1")/logs/server.log" ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2 ;;
esac
