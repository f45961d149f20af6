#!/usr/bin/env bash
# Installs what the integration tests need, idempotently and quietly when it is
# all there already. Safe to run as root without a TTY (CI).
#
#   scripts/deps.sh
#
# - Debian packages, only for commands that are missing: kcat, promtool and the
#   prometheus server (package prometheus; deploy/test.sh runs both), java and
#   mvn (to assemble Kafka), python3 (+venv), curl, gcc (cgo, for the ONNX
#   build), chromium (the evaluation report's headless-browser test).
#   `apt-get update`
#   runs at most once per call, and only if something has to be installed.
# - the Kafka jars: scripts/kafka.sh fetch (Maven, cached)
# - Apicurio Registry, only with SCORESTREAM_IT_APICURIO=1 (the integration
#   scenario against a real registry): scripts/registry-apicurio.sh fetch
#   (Maven, ~110 MB, cached)
# - the Python venv: scripts/pyenv.sh (cached)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export DEBIAN_FRONTEND=noninteractive

# command -> Debian package
need=()
want() { command -v "$1" >/dev/null 2>&1 || need+=("$2"); }
want kcat kcat
want promtool prometheus
want prometheus prometheus
want java openjdk-17-jre-headless
want mvn maven
want python3 python3
want curl curl
want chromium chromium
want gcc gcc # cgo: the ONNX build (scripts/test-onnx.sh)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)

if [ ${#need[@]} -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "deps: apt-get install ${need[*]}" >&2
  aptlog=$(mktemp)
  trap 'rm -f "$aptlog"' EXIT
  if ! { "${sudo[@]}" apt-get update -qq &&
         "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"; } >"$aptlog" 2>&1; then
    cat "$aptlog" >&2
    echo "deps: apt-get failed" >&2
    exit 1
  fi
  # Installing prometheus starts its service where an init system runs; the
  # tests start their own server on their own port (deploy/prometheus_test.go),
  # so don't leave the system one listening on :9090.
  if [[ " ${need[*]} " == *" prometheus "* ]]; then
    if command -v systemctl >/dev/null 2>&1; then
      "${sudo[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
    if [ -x /etc/init.d/prometheus ]; then # sysvinit (containers): invoke-rc.d may have started it
      "${sudo[@]}" /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    fi
  fi
fi

"$here/kafka.sh" fetch >/dev/null
if [ "${SCORESTREAM_IT_APICURIO:-}" = 1 ]; then
  "$here/registry-apicurio.sh" fetch >/dev/null
fi
"$here/pyenv.sh" >/dev/null
