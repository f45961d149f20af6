#!/usr/bin/env bash
# Obtains (once) the onnxruntime C shared library that github.com/yalue/onnxruntime_go
# is built against and prints its path:
#
#   export SCORESTREAM_ONNXRUNTIME_LIB=$(scripts/onnxruntime.sh)
#
# The version must match the C API headers vendored by the onnxruntime_go release in
# go.mod (v1.27.0 ships onnxruntime 1.24.1's onnxruntime_c_api.h, ORT_API_VERSION 24);
# an older library refuses that API version when the environment is created (a newer
# one should accept it but is untested). Override with ORT_VERSION=... only together
# with an onnxruntime_go release that matches.
#
# Source: the official `onnxruntime` wheel from the Python package index, which ships
# the plain C library as onnxruntime/capi/libonnxruntime.so.<ver> beside the Python
# binding. Fallback when pip is unavailable: the `onnxruntime-node` npm package
# (bin/napi-v*/linux/x64/libonnxruntime.so.*), fetched with `npm pack`; its
# install script is never run. Only the .so is kept. ORT_SOURCE=pip|npm forces one.
#
# Cached in ${SCORESTREAM_CACHE:-$HOME/.cache/scorestream}/onnxruntime-<ver>/.
# Idempotent; concurrent callers serialise on a lock file.
set -euo pipefail
ver=${ORT_VERSION:-1.24.1}
cache=${SCORESTREAM_CACHE:-$HOME/.cache/scorestream}
dir=$cache/onnxruntime-$ver
lib=$dir/libonnxruntime.so.$ver

case "$(uname -s)-$(uname -m)" in
Linux-x86_64) npmarch=x64 ;;
Linux-aarch64) npmarch=arm64 ;;
*) echo "onnxruntime.sh: unsupported platform $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac

if [ -f "$lib" ]; then
  echo "$lib"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/onnxruntime-$ver.lock"
if command -v flock >/dev/null; then flock 9; fi
if [ -f "$lib" ]; then # another caller finished while we waited
  echo "$lib"
  exit 0
fi

tmp=$(mktemp -d "$cache/onnxruntime-$ver.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

from_wheel() {
  local py
  for py in "${PYTHON:-}" python3 python; do
    [ -n "$py" ] && "$py" -m pip --version >/dev/null 2>&1 && break
    py=
  done
  [ -n "$py" ] || { echo "onnxruntime.sh: no python with pip" >&2; return 1; }
  echo "onnxruntime.sh: downloading the onnxruntime $ver wheel" >&2
  "$py" -m pip download -q --disable-pip-version-check "onnxruntime==$ver" \
    --no-deps --only-binary=:all: -d "$tmp/wheel" >&2 || return 1
  local whl
  whl=$(ls "$tmp"/wheel/onnxruntime-"$ver"-*.whl 2>/dev/null | head -n1)
  [ -n "$whl" ] || { echo "onnxruntime.sh: pip downloaded no onnxruntime $ver wheel" >&2; return 1; }
  "$py" - "$whl" "onnxruntime/capi/libonnxruntime.so.$ver" "$tmp/libonnxruntime.so.$ver" <<'EOF' || return 1
import shutil, sys, zipfile
whl, member, out = sys.argv[1:]
with zipfile.ZipFile(whl) as z:
    names = z.namelist()
    if member not in names:
        sys.exit("onnxruntime.sh: %s has no %s (it has: %s)" % (
            whl, member, ", ".join(n for n in names if ".so" in n)))
    with z.open(member) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
EOF
}

from_npm() {
  command -v npm >/dev/null || { echo "onnxruntime.sh: no npm" >&2; return 1; }
  echo "onnxruntime.sh: downloading the onnxruntime-node $ver npm package" >&2
  mkdir -p "$tmp/npm"
  # npm pack only downloads the tarball; no install script runs.
  (cd "$tmp/npm" && npm pack -q --ignore-scripts "onnxruntime-node@$ver" >/dev/null) || return 1
  local tgz member
  tgz=$(ls "$tmp"/npm/onnxruntime-node-*.tgz | head -n1)
  # The path has moved between releases (napi-v3, napi-v6) and the file may be
  # named libonnxruntime.so.1 or .so.<ver>.
  member=$(tar -tzf "$tgz" | grep -E "^package/bin/napi-v[0-9]+/linux/$npmarch/libonnxruntime\.so\.[0-9.]+$" | sort | tail -n1)
  [ -n "$member" ] || { echo "onnxruntime.sh: onnxruntime-node $ver has no linux/$npmarch libonnxruntime.so" >&2; return 1; }
  tar -xzf "$tgz" -C "$tmp/npm" "$member" || return 1
  mv "$tmp/npm/$member" "$tmp/libonnxruntime.so.$ver"
}

case ${ORT_SOURCE:-auto} in
auto)
  if ! from_wheel; then
    echo "onnxruntime.sh: wheel failed; trying npm" >&2
    from_npm || { echo "onnxruntime.sh: could not obtain libonnxruntime.so.$ver" >&2; exit 1; }
  fi ;;
pip) from_wheel || exit 1 ;;
npm) from_npm || exit 1 ;;
*) echo "onnxruntime.sh: ORT_SOURCE must be auto, pip or npm" >&2; exit 1 ;;
esac

# The library's exported symbols carry its version (OrtGetApiBase@@VERS_<ver>).
if ! grep -qaF "VERS_$ver" "$tmp/libonnxruntime.so.$ver"; then
  echo "onnxruntime.sh: the downloaded library is not onnxruntime $ver" >&2
  exit 1
fi
mkdir -p "$dir"
mv "$tmp/libonnxruntime.so.$ver" "$lib.part"
chmod 0644 "$lib.part"
mv "$lib.part" "$lib"
echo "$lib"
