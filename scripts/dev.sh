#!/usr/bin/env bash
# Set up, start the embedded services, materialize the sample week and serve the Dagster UI on
# http://127.0.0.1:3000 (Ctrl-C stops the UI; `.venv/bin/tripclick services down` stops the
# broker and PostgreSQL). Idempotent: a second run reuses the venv, the services and the
# materialized week, and goes straight to the UI.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/system-deps.sh main

# dagster.yaml in the repository root is the instance config; its storage is .tripclick/dagster_home.
export DAGSTER_HOME="$PWD"
port="${TRIPCLICK_UI_PORT:-3000}"

.venv/bin/tripclick services up
.venv/bin/tripclick sample
# The class-data archive halves later Spark cold starts; built once, beside the running UI.
[ -f "${TRIPCLICK_HOME:-$PWD/.tripclick}/spark/classes.jsa" ] \
  || (.venv/bin/tripclick spark-archive > "${TRIPCLICK_HOME:-$PWD/.tripclick}/spark-archive.log" 2>&1 &)
echo "dev: Dagster UI on http://127.0.0.1:$port"
exec .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p "$port"
