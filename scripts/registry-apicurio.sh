#!/usr/bin/env bash
# Runs Apicurio Registry (a real schema registry, Quarkus app) on 127.0.0.1:8081,
# serving the Confluent-compatible API under /apis/ccompat/v7. The app's
# published "all" tarball (runner jar + lib/, ~110 MB) is fetched once with
# Maven and cached. No Docker, no network at run time.
#
#   scripts/registry-apicurio.sh fetch     download only (cached)
#   scripts/registry-apicurio.sh start     start (idempotent), wait until ready
#   scripts/registry-apicurio.sh stop      SIGTERM, SIGKILL after a timeout (idempotent)
#   scripts/registry-apicurio.sh kill      SIGKILL (outage test)
#   scripts/registry-apicurio.sh status    exit 0 iff running
#   scripts/registry-apicurio.sh wipe      stop, then delete the run dir (file storage)
#   scripts/registry-apicurio.sh logs      tail its log
#   scripts/registry-apicurio.sh url       print the ccompat base URL
#
# Environment:
#   SCORESTREAM_CACHE   cache root (default ~/.cache/scorestream)
#   APICURIO_VERSION    default below
#   REGISTRY_PORT       default 8081
#   REGISTRY_STORAGE    mem (default: in-memory H2, schemas are lost on stop)
#                       or file (H2 file in the run dir: schemas and ids survive
#                       a stop/kill and start, as with a real registry outage)
#   REGISTRY_START_TIMEOUT  seconds (default 90)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${SCORESTREAM_CACHE:-$HOME/.cache/scorestream}
version=${APICURIO_VERSION:-3.0.9}
home=$cache/apicurio-registry-$version
port=${REGISTRY_PORT:-8081}
run=$cache/run/apicurio-$port
storage=${REGISTRY_STORAGE:-mem}
start_timeout=${REGISTRY_START_TIMEOUT:-90}
stop_timeout=30

log() { echo "registry-apicurio.sh: $*" >&2; }
die() { log "$*"; exit 1; }

fetch() {
  local jar=$home/apicurio-registry-app-$version-runner.jar
  if [ -f "$home/.stamp" ] && [ -f "$jar" ]; then return 0; fi
  command -v mvn >/dev/null || die "mvn not found"
  mkdir -p "$home"
  (
    flock 9
    if [ -f "$home/.stamp" ]; then exit 0; fi
    log "downloading Apicurio Registry $version (~110 MB)"
    rm -rf "$home/tmp"
    # Any pom gives dependency:copy a project to run in; the Kafka one will do.
    if ! mvn -B -q -f "$here/kafka/pom.xml" dependency:copy \
        -Dartifact="io.apicurio:apicurio-registry-app:$version:tar.gz:all" \
        -DoutputDirectory="$home/tmp" >"$home/mvn.log" 2>&1; then
      cat "$home/mvn.log" >&2
      die "maven failed (log: $home/mvn.log)"
    fi
    tar -xzf "$home/tmp/apicurio-registry-app-$version-all.tar.gz" -C "$home"
    rm -rf "$home/tmp"
    [ -f "$jar" ] || die "runner jar missing after extract"
    date -u +%FT%TZ >"$home/.stamp"
  ) 9>"$home/.lock"
}

pid_of() {
  local pid
  pid=$(cat "$run/registry.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "apicurio-registry-app-.*-runner.jar" || return 1
  echo "$pid"
}

ready() { curl -sf -o /dev/null "http://127.0.0.1:$port/health/ready"; }

start() {
  local pid t0 db
  fetch
  if pid=$(pid_of); then log "already running (pid $pid) on 127.0.0.1:$port"; return 0; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "port $port is in use by another process"; fi
  mkdir -p "$run"
  case "$storage" in
    mem) db="jdbc:h2:mem:registry" ;;
    file) db="jdbc:h2:file:$run/db/registry" ;;
    *) die "REGISTRY_STORAGE must be mem or file" ;;
  esac
  t0=$(date +%s)
  : >"$run/registry.log"
  (
    cd "$home"
    exec setsid java -Xms64m -Xmx256m -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError \
      -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$port" \
      -Dapicurio.datasource.url="$db" \
      -Dapicurio.storage.snapshot.location="$run" \
      -jar "apicurio-registry-app-$version-runner.jar" \
      >>"$run/registry.log" 2>&1 </dev/null 8>&-
  ) &
  echo $! >"$run/registry.pid"
  until ready; do
    pid_of >/dev/null || { tail -n 30 "$run/registry.log" >&2; die "registry exited during startup"; }
    [ $(($(date +%s) - t0)) -lt "$start_timeout" ] || { tail -n 30 "$run/registry.log" >&2; die "registry not ready after ${start_timeout}s"; }
    sleep 0.5
  done
  log "up on http://127.0.0.1:$port/apis/ccompat/v7 (pid $(cat "$run/registry.pid"), $(($(date +%s) - t0))s, storage $storage); log: $run/registry.log"
}

stop() {
  local pid i
  pid=$(pid_of) || { rm -f "$run/registry.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < stop_timeout * 2; i++)); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$run/registry.pid"; return 0; }
    sleep 0.5
  done
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$run/registry.pid"
}

kill9() {
  local pid
  pid=$(pid_of) || { rm -f "$run/registry.pid"; return 0; }
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  rm -f "$run/registry.pid"
}

lock() {
  mkdir -p "$cache/run"
  exec 8>"$cache/run/.apicurio-$port.lock"
  flock 8
}

case "${1:-}" in
  fetch) fetch; echo "$home" ;;
  start) lock; start ;;
  stop) lock; stop ;;
  kill) lock; kill9 ;;
  wipe) lock; stop; rm -rf "$run" ;;
  status)
    if pid=$(pid_of); then echo "running (pid $pid) on 127.0.0.1:$port"; else echo "stopped"; exit 1; fi ;;
  logs) tail -n 100 "$run/registry.log" ;;
  url) echo "http://127.0.0.1:$port/apis/ccompat/v7" ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2 ;;
esac
