#!/usr/bin/env bash
# Builds the scorestream binary the way the container image does (the Dockerfile
# runs this script; so does scripts/test-onnx.sh, which scores ONNX models with
# the result). One place for the flags, so the image and its test cannot drift.
#
#   scripts/build.sh OUT            # static, CGO_ENABLED=0: logistic, XGBoost, LightGBM
#   scripts/build.sh --onnx OUT     # cgo + -tags onnx: also ONNX (needs a C compiler,
#                                   # and onnxruntime at run time: scripts/onnxruntime.sh)
#
# The version and commit are stamped with -ldflags -X (see `scorestream version`):
# VERSION and REVISION from the environment, else `git describe` / `git rev-parse`
# when run in a git checkout, else "dev" / "unknown".
set -euo pipefail
cd "$(dirname "$0")/.."
onnx=0
if [ "${1:-}" = --onnx ]; then
  onnx=1
  shift
fi
if [ $# -ne 1 ]; then
  echo "usage: scripts/build.sh [--onnx] OUT" >&2
  exit 2
fi
out=$1
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
revision=${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
ldflags="-s -w -X main.version=$version -X main.revision=$revision"
if [ "$onnx" = 1 ]; then
  CGO_ENABLED=1 GOOS=linux go build -trimpath -tags onnx -ldflags="$ldflags" -o "$out" ./cmd/scorestream
else
  CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="$ldflags" -o "$out" ./cmd/scorestream
fi
