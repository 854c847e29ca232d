#!/usr/bin/env bash
# Set up and run the whole test suite (TRIPCLICK_NO_SUPERSET=1: without the Superset venv).
# Extra arguments go to pytest, e.g.
#   scripts/test.sh -m "not slow"      (skip the slow end-to-end tests locally)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
scripts/system-deps.sh test
# Superset lives in its own venv (it pins its own stack); TRIPCLICK_NO_SUPERSET=1 skips building it.
if [ "${TRIPCLICK_NO_SUPERSET:-0}" != 1 ]; then
  if venv="$(scripts/superset-venv.sh)"; then
    export TRIPCLICK_SUPERSET_VENV="$venv"
  else
    echo "test: the Superset venv could not be built; the Superset screenshot test will skip" >&2
  fi
fi
# The definitions load as a dg project (what `dg dev` and the UI load).
echo "test: dg check defs"
( export VIRTUAL_ENV="$PWD/.venv" PATH="$PWD/.venv/bin:$PATH" TRIPCLICK_HOME="$(mktemp -d)"; dg check defs )
exec .venv/bin/python -m pytest "$@"
