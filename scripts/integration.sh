#!/usr/bin/env bash
# Runs the real-broker integration suite (integration/, build tag `integration`):
# exactly-once under crashes, rolling restarts, broker restart, zombies, stalls,
# a broker failure on a 3-node cluster, interop with kcat and confluent-kafka,
# run --check and topics create, and every command of docs/getting-started.md.
#
#   scripts/integration.sh            everything (about 6 minutes on 2 shared cores)
#   scripts/integration.sh -run Crash only the tests matching (go test -run)
#
# 1. scripts/deps.sh (kcat, promtool, Kafka jars, Python venv)
# 2. single broker (scripts/kafka.sh start --fresh): every scenario but
#    TestBrokerFailure, then stop
# 3. 3-node cluster (scripts/kafka.sh cluster-start --fresh): TestBrokerFailure,
#    then stop
# 4. a summary table from the results file
# Brokers are always stopped on exit, their logs copied to $SCORESTREAM_IT_LOGS
# and their data wiped, so the next `kafka.sh start` begins empty.
#
# Environment:
#   SCORESTREAM_IT_SCALE     multiplies event counts (default 1)
#   SCORESTREAM_IT_RESULTS   results JSON (default: $SCORESTREAM_IT_LOGS/results.json)
#   SCORESTREAM_IT_LOGS      process logs (default: a new temp dir, kept for CI artifacts)
#   IT_TIMEOUT               go test -timeout per phase (default 40m)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cd "$root"

run_filter=""
if [ "${1:-}" = -run ]; then run_filter=${2:?-run needs a pattern}; fi

export SCORESTREAM_IT_LOGS=${SCORESTREAM_IT_LOGS:-$(mktemp -d -t scorestream-it-XXXXXX)}
mkdir -p "$SCORESTREAM_IT_LOGS"
export SCORESTREAM_IT_RESULTS=${SCORESTREAM_IT_RESULTS:-$SCORESTREAM_IT_LOGS/results.json}
rm -f "$SCORESTREAM_IT_RESULTS"
timeout=${IT_TIMEOUT:-40m}

# The brokers this run started: stopped on exit, their logs copied to
# $SCORESTREAM_IT_LOGS and their data wiped (only theirs: another run's broker
# on other ports is not touched).
started_single=0 started_cluster=0
cleanup() {
  "$here/registry-apicurio.sh" stop >/dev/null 2>&1 || true
  local d n
  if [ "$started_single" = 1 ]; then
    "$here/kafka.sh" stop >/dev/null 2>&1 || true
    d=$("$here/kafka.sh" dir)
    [ -d "$d/logs" ] && cp -r "$d/logs" "$SCORESTREAM_IT_LOGS/broker-logs" 2>/dev/null
    "$here/kafka.sh" wipe >/dev/null 2>&1 || true
  fi
  if [ "$started_cluster" = 1 ]; then
    "$here/kafka.sh" cluster-stop >/dev/null 2>&1 || true
    d=$("$here/kafka.sh" cluster-dir)
    for n in 1 2 3; do
      [ -d "$d/node-$n/logs" ] && cp -r "$d/node-$n/logs" "$SCORESTREAM_IT_LOGS/cluster-node-$n-logs" 2>/dev/null
    done
    "$here/kafka.sh" cluster-wipe >/dev/null 2>&1 || true
  fi
  return 0
}
trap cleanup EXIT

echo "integration: installing dependencies" >&2
"$here/deps.sh"

# SCORESTREAM_IT_APICURIO=1 runs the suite against Apicurio Registry (a real,
# Confluent-compatible schema registry); by default it serves `scorestream
# registry` (srfake over HTTP). SCORESTREAM_IT_REGISTRY names any other registry.
if [ "${SCORESTREAM_IT_APICURIO:-}" = 1 ] && [ -z "${SCORESTREAM_IT_REGISTRY:-}" ]; then
  echo "integration: Apicurio Registry" >&2
  "$here/registry-apicurio.sh" start
  SCORESTREAM_IT_REGISTRY=$("$here/registry-apicurio.sh" url)
  export SCORESTREAM_IT_REGISTRY
fi

bin=$(mktemp -d -t scorestream-it-bin-XXXXXX)/scorestream
go build -o "$bin" ./cmd/scorestream
export SCORESTREAM_IT_BIN=$bin

status=0
single_run=${run_filter:-.}
if [ -z "$run_filter" ] || [ "$run_filter" != BrokerFailure ]; then
  echo "integration: single broker" >&2
  started_single=1
  "$here/kafka.sh" start --fresh
  SCORESTREAM_IT_BROKER_CONTROL=single go test -tags integration -count=1 -timeout "$timeout" \
      ./integration/ -v -run "$single_run" -skip TestBrokerFailure 2>&1 |
    tee "$SCORESTREAM_IT_LOGS/single.out" || status=1
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  "$here/kafka.sh" stop
fi

if [ -z "$run_filter" ] || [[ BrokerFailure =~ $run_filter ]]; then
  echo "integration: 3-node cluster" >&2
  started_cluster=1
  "$here/kafka.sh" cluster-start --fresh
  SCORESTREAM_IT_CLUSTER=127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094 \
    go test -tags integration -count=1 -timeout "$timeout" ./integration/ -v -run TestBrokerFailure 2>&1 |
    tee "$SCORESTREAM_IT_LOGS/cluster.out" || status=1
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  "$here/kafka.sh" cluster-stop
fi

# Summary table.
python3 - "$SCORESTREAM_IT_RESULTS" <<'EOF'
import json, sys
try:
    rs = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    print("no results (%s)" % e)
    sys.exit(0)
cols = ["scenario", "passed", "events", "predictions", "dead_letters", "duplicates", "missing",
        "orphans", "kills", "aborted_txns_logged", "unplanned_exits", "recovery_median_s", "recovery_max_s"]
rows = [[str(r.get(c, "-")) for c in cols] for r in rs.values()]
w = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
fmt = "  ".join("%%-%ds" % x for x in w)
print()
print(fmt % tuple(cols))
for r in rows:
    print(fmt % tuple(r))
EOF
echo "integration: logs and results in $SCORESTREAM_IT_LOGS" >&2
exit $status
