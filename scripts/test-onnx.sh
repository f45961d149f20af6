#!/usr/bin/env bash
# The ONNX model tests, as CI runs them: fetches the onnxruntime C library that
# github.com/yalue/onnxruntime_go expects (scripts/onnxruntime.sh, cached), points
# SCORESTREAM_ONNXRUNTIME_LIB at it, vets the onnx build and runs the parity,
# concurrency and error tests against the goldens in model/testdata/onnx (written by
# the real onnxruntime; regenerate with model/testdata/onnx/gen.py). Extra arguments
# go to `go test`, e.g. scripts/test-onnx.sh -race or -bench ONNX -benchtime 2000x.
set -euo pipefail
cd "$(dirname "$0")/.."
export SCORESTREAM_ONNXRUNTIME_LIB
SCORESTREAM_ONNXRUNTIME_LIB=$(scripts/onnxruntime.sh)
echo "test-onnx.sh: using $SCORESTREAM_ONNXRUNTIME_LIB" >&2
export CGO_ENABLED=1
go vet -tags onnx ./model
go test -tags onnx ./model -run ONNX -v "$@"
