#!/usr/bin/env bash
# The ONNX model tests, as CI runs them: fetches the onnxruntime C library that
# github.com/yalue/onnxruntime_go expects (scripts/onnxruntime.sh, cached), points
# SCORESTREAM_ONNXRUNTIME_LIB at it, vets the onnx build and runs the parity,
# concurrency and error tests against the goldens in model/testdata/onnx (written by
# the real onnxruntime; regenerate with model/testdata/onnx/gen.py). Extra arguments
# go to `go test`, e.g. scripts/test-onnx.sh -race or -bench ONNX -benchtime 2000x.
#
# Then it builds the binary the ONNX container image serves (scripts/build.sh
# --onnx, the Dockerfile's command) and scores the same goldens with it through
# the CLI: `version` must list onnx, `model check` must load every model, and
# `model predict --all-classes` must match onnxruntime's Python scores to 1e-5.
set -euo pipefail
cd "$(dirname "$0")/.."
export SCORESTREAM_ONNXRUNTIME_LIB
SCORESTREAM_ONNXRUNTIME_LIB=$(scripts/onnxruntime.sh)
echo "test-onnx.sh: using $SCORESTREAM_ONNXRUNTIME_LIB" >&2
export CGO_ENABLED=1
go vet -tags onnx ./model
go test -tags onnx ./model -run ONNX -v "$@"

# The image's binary, built the way the Dockerfile builds it.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/scorestream-onnx.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
scripts/build.sh --onnx "$tmp/scorestream"
"$tmp/scorestream" version | tee "$tmp/version.txt"
grep -q '^  formats: .*onnx' "$tmp/version.txt" || { echo "test-onnx.sh: the onnx build does not list onnx" >&2; exit 1; }
for m in model/testdata/onnx/*.expected.txt; do
  name=${m%.expected.txt}
  "$tmp/scorestream" model check "$name.onnx" >/dev/null
  "$tmp/scorestream" model predict --model "$name.onnx" --features "$name.rows.csv" --all-classes >"$tmp/got.txt"
  # One line per row; a binary model prints both classes, its golden only class 1
  # (or the one value of a regressor): compare the golden's columns from the right.
  if ! awk -v tol=1e-5 -v name="$(basename "$name")" '
    NR == FNR { want[FNR] = $0; n = FNR; next }
    {
      k = split(want[FNR], w, " "); m = split($0, g, " ")
      for (i = 1; i <= k; i++) {
        d = g[m - k + i] - w[i]; if (d < 0) d = -d
        if (d > tol) { printf "%s row %d: got %s, onnxruntime (python) %s\n", name, FNR, $0, want[FNR]; bad = 1 }
      }
      rows = FNR
    }
    END { if (rows != n) { printf "%s: %d rows scored, %d expected\n", name, rows, n; bad = 1 }; exit bad }
  ' "$m" "$tmp/got.txt"; then
    echo "test-onnx.sh: the image binary disagrees with onnxruntime on $name" >&2
    exit 1
  fi
  echo "ok  image binary scores $(basename "$name").onnx like onnxruntime (python)"
done
