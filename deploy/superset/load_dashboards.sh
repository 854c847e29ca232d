#!/bin/sh
# Import (or update) the TripClick dashboards into the running Superset of the Gold stack.
# Runs load_dashboards.py in the one-shot superset-dashboards service, which reads the
# admin and read-only passwords from deploy/.env. Extra arguments go to the script, e.g.
#   deploy/superset/load_dashboards.sh --update-db-password   (after rotating GOLD_READONLY_PASSWORD)
# From another machine instead: SUPERSET_URL=... SUPERSET_ADMIN_PASSWORD=... python3 load_dashboards.py
set -eu
deploy=$(cd "$(dirname "$0")/.." && pwd)
exec docker compose --env-file "${TRIPCLICK_ENV_FILE:-$deploy/.env}" -f "$deploy/gold/compose.yaml" \
  run --rm --no-deps superset-dashboards python /app/tripclick/load_dashboards.py "$@"
