#!/bin/bash
# Gold PostgreSQL first start, after 01_marts.sql: the SELECT-only role Superset reads the
# marts with (also for analysts). Rerun it to rotate the password (deploy/README.md).
set -euo pipefail
: "${GOLD_READONLY_PASSWORD:?GOLD_READONLY_PASSWORD is not set}"
GOLD_READONLY_USER=${GOLD_READONLY_USER:-superset_ro}

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v role="$GOLD_READONLY_USER" -v pw="$GOLD_READONLY_PASSWORD" -v db="$POSTGRES_DB" -v owner="$POSTGRES_USER" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'pw';
ALTER ROLE :"role" SET default_transaction_read_only = on;
ALTER ROLE :"role" SET statement_timeout = '120s';
GRANT CONNECT ON DATABASE :"db" TO :"role";
GRANT USAGE ON SCHEMA public TO :"role";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"role";
-- tables the loader creates later (new marts) are readable too
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"role";
SQL
