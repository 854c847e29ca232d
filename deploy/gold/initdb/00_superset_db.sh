#!/bin/bash
# Gold PostgreSQL first start (/docker-entrypoint-initdb.d, as $POSTGRES_USER): Superset's
# metadata database and its owner. The password comes from the environment only.
set -euo pipefail
: "${SUPERSET_DB_PASSWORD:?SUPERSET_DB_PASSWORD is not set}"
SUPERSET_DB_USER=${SUPERSET_DB_USER:-superset}
SUPERSET_DB_NAME=${SUPERSET_DB_NAME:-superset}

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v role="$SUPERSET_DB_USER" -v pw="$SUPERSET_DB_PASSWORD" -v db="$SUPERSET_DB_NAME" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
