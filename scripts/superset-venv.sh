#!/usr/bin/env bash
# The separate virtualenv the Superset screenshot test runs Superset from (Superset pins its
# own stack, so it cannot share .venv). Idempotent: rebuilt only when the lock file changes.
# Prints the venv's path on success; on failure says why on stderr and exits 1 (the test then
# skips with its reason).
set -euo pipefail
cd "$(dirname "$0")/.."
lock=tripclick_assets_tests/deploy/superset-requirements.txt
venv="${TRIPCLICK_SUPERSET_VENV:-.tripclick/superset-venv}"
want="$(sha256sum "$lock" | cut -d' ' -f1)"
stamp="$venv/.tripclick-installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  realpath "$venv"
  exit 0
fi
python_bin="$(command -v python3.11 || command -v python3)"
echo "superset-venv: installing Superset into $venv (about 2 minutes the first time)" >&2
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
"$python_bin" -m venv "$venv"
log="$venv/install.log"
if ! { "$venv/bin/python" -m pip install --quiet --upgrade pip \
       && "$venv/bin/python" -m pip install --quiet -r "$lock"; } >"$log" 2>&1; then
  echo "superset-venv: pip failed; last lines of $log:" >&2
  grep -v "is ignored: it is neither" "$log" | tail -20 >&2
  exit 1
fi
echo "$want" > "$stamp"
realpath "$venv"
