#!/usr/bin/env bash
# Set up, start the embedded services, materialize the lineage for a sample partition and
# serve the Dagster UI on http://127.0.0.1:3000 (Ctrl-C stops the UI; `tripclick services down`
# stops the broker and PostgreSQL). Idempotent: a second run reuses everything that is there.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/system-deps.sh

export TRIPCLICK_HOME="${TRIPCLICK_HOME:-$PWD/.tripclick}"
export DAGSTER_HOME="$TRIPCLICK_HOME/dagster_home"
mkdir -p "$DAGSTER_HOME"
cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"
sample_partition="${TRIPCLICK_SAMPLE_PARTITION:-2016-01-01}"
port="${TRIPCLICK_UI_PORT:-3000}"

.venv/bin/tripclick services up
.venv/bin/tripclick spark-archive
echo "dev: materializing the lineage for event_date=$sample_partition"
.venv/bin/dagster asset materialize -m tripclick_assets.definitions --select '*' --partition "$sample_partition"
echo "dev: Dagster UI on http://127.0.0.1:$port"
exec .venv/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p "$port"
