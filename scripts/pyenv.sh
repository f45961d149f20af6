#!/usr/bin/env bash
# Creates (once) and prints the path of the project's Python virtualenv, with the
# packages in scripts/requirements.txt installed. Idempotent: a stamp holding the
# requirements' hash skips pip when nothing changed.
#
#   PY=$(scripts/pyenv.sh)/bin/python
#
# The venv lives in ${SCORESTREAM_CACHE:-$HOME/.cache/scorestream}/venv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${SCORESTREAM_CACHE:-$HOME/.cache/scorestream}
venv=$cache/venv
req=$here/requirements.txt
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ]; then
  mkdir -p "$cache"
  python3 -m venv "$venv" >&2
fi
if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$want" ]; then
  echo "pyenv: installing $(grep -cv '^#' "$req") packages into $venv" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >&2
  echo "$want" > "$venv/.stamp"
fi
echo "$venv"
