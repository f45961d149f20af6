#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this):
#   1. installs what the tests need (scripts/deps.sh; the list is in README.md,
#      "Testing and proof") — idempotent, cached in ~/.cache/scorestream
#   2. gofmt and go vet
#   3. go test ./... (fast: embedded kfake broker and srfake registry)
#   4. a short run of every fuzz target (SCORESTREAM_FUZZ_EXECS executions)
#   5. ONNX parity (cgo build tag), parity against the live Python libraries
#      (models and evaluation metrics), the evaluation report in headless
#      Chromium, and deploy checks (promtool rule tests, manifests)
#   6. the integration suite against a real Apache Kafka broker
#
# Flags: --fast (steps 2-4 only), --no-integration (skip step 6).
# SCORESTREAM_IT_APICURIO=1 runs the integration suite against Apicurio
# Registry instead of the built-in one (and only then downloads it). Logs go
# to a new temp dir per run (named on failure; deleted when everything passed).
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0; integration=1
for a in "$@"; do
  case "$a" in
    --fast) fast=1; integration=0 ;;
    --no-integration) integration=0 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown flag $a" >&2; exit 2 ;;
  esac
done
step() { printf '\n=== %s\n' "$*"; }
logs=$(mktemp -d -t scorestream-test-XXXXXX)
trap 'echo "test.sh: logs in $logs" >&2' EXIT

if [ "$fast" = 0 ]; then
  step "dependencies"
  scripts/deps.sh
fi

step "gofmt and go vet"
unformatted=$(gofmt -l $(git ls-files '*.go') 2>/dev/null || true)
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted"; exit 1; fi
go vet ./...

step "unit tests (kfake + srfake)"
go test -count=1 ./... 2>&1 | tee "$logs/unit.log"
grep -q '^FAIL' "$logs/unit.log" && exit 1

# A count, not a duration: Go 1.26's fuzz coordinator can report a spurious
# "context deadline exceeded" when a -fuzztime duration expires while a worker
# is mid-call (go.dev/issue/75804, fixed in Go 1.27). A count has no deadline.
fuzz_execs=${SCORESTREAM_FUZZ_EXECS:-30000}
step "fuzz targets (${fuzz_execs} executions each)"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/func //' | sort -u); do
    echo "fuzz $pkg $target"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "${fuzz_execs}x" "$pkg" >"$logs/fuzz.log" 2>&1 || { cat "$logs/fuzz.log"; exit 1; }
  done
done

if [ "$fast" = 0 ] && [ -x scripts/test-onnx.sh ]; then
  step "ONNX (cgo, -tags onnx, onnxruntime from the Python package index)"
  scripts/test-onnx.sh
fi

if [ "$fast" = 0 ]; then
  # The committed goldens were produced by the Python libraries; here the live,
  # pinned libraries train and predict them again in a copy of the tree, and the
  # Go evaluators must match what they predict now.
  step "parity against the live Python libraries (xgboost, lightgbm, scikit-learn, onnxruntime; eval metrics vs scikit-learn)"
  PY=$(scripts/pyenv.sh)/bin/python
  live=$(mktemp -d -t scorestream-parity-XXXXXX)
  tar -c $(git ls-files) | tar -x -C "$live"
  (
    cd "$live"
    "$PY" model/testdata/gen_parity.py
    "$PY" model/testdata/lightgbm/gen.py >/dev/null
    "$PY" model/testdata/onnx/gen.py >/dev/null
    "$PY" monitor/testdata/gen_auc.py >/dev/null
    "$PY" eval/testdata/gen_parity.py
    changed=$( (diff -rq "$OLDPWD/model/testdata" model/testdata; diff -rq "$OLDPWD/monitor/testdata" monitor/testdata; diff -rq "$OLDPWD/eval/testdata" eval/testdata) | grep -v zipmap.onnx || true)
    [ -z "$changed" ] && echo "regenerated goldens are identical to the committed ones" || echo "regenerated goldens differ from the committed ones (testing against the regenerated): $changed"
    go test -count=1 ./model -run 'Parity|LightGBM'
    go test -count=1 ./monitor -run 'AUCParity'
    go test -count=1 ./eval -run 'Parity'
    scripts/test-onnx.sh -run 'ONNXParity' 2>&1 | tail -3
  )
  rm -rf "$live"
  step "replay's Parquet output read by pyarrow"
  SCORESTREAM_PYTHON=$PY go test -count=1 -run 'TestReplayPyarrow' ./cmd/scorestream
fi

if [ "$fast" = 0 ]; then
  # The evaluation report opened in a real browser: plots in the rendered DOM,
  # a silent console, a screenshot. Chromium comes from scripts/deps.sh.
  step "evaluation report in headless Chromium"
  chromium=$(command -v chromium) || { echo "chromium is missing (scripts/deps.sh installs it)"; exit 1; }
  SCORESTREAM_CHROMIUM=$chromium go test -count=1 -run 'Chromium' -v ./eval 2>&1 | grep -Ev '^=== (RUN|PAUSE|CONT)'
  # and the report of the README's demo walkthrough (demo --keep, then replay)
  SCORESTREAM_CHROMIUM=$chromium go test -count=1 -run 'TestDemoKeepReplay' -v ./cmd/scorestream 2>&1 | grep -Ev '^=== (RUN|PAUSE|CONT)'
fi

if [ "$fast" = 0 ] && [ -x deploy/test.sh ]; then
  step "deploy checks"
  deploy/test.sh
fi

if [ "$integration" = 1 ] && [ -x scripts/integration.sh ]; then
  step "integration suite (real Apache Kafka)"
  scripts/integration.sh
fi
step "all tests passed"
trap - EXIT
rm -rf "$logs"
