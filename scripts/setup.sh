#!/usr/bin/env bash
# Create .venv and install the project with pinned dependencies. Idempotent: a second run
# reinstalls only when pyproject.toml changed. Usage: scripts/setup.sh [test]
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "test" ] && extras="[test]"

python_bin="${TRIPCLICK_PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python_bin="$candidate"; break; fi
  done
fi
[ -n "$python_bin" ] || { echo "setup: no python3 found (need Python 3.11 or 3.12)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $python_bin"
  "$python_bin" -m venv .venv
fi

stamp=".venv/.tripclick-installed${extras:+-test}"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setup: installing tripclick_assets${extras} (the first time builds pyspark from source: a few minutes)"
.venv/bin/python -m pip install --quiet --upgrade pip setuptools wheel
.venv/bin/python -m pip install --quiet -e ".${extras}"
echo "$want" > "$stamp"
