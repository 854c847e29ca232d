#!/usr/bin/env bash
# Set up and run the whole test suite. Extra arguments go to pytest, e.g.
#   scripts/test.sh -m "not slow"      (skip the slow end-to-end tests locally)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
scripts/system-deps.sh
exec .venv/bin/python -m pytest "$@"
