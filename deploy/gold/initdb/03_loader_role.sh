#!/bin/bash
# Gold PostgreSQL first start, after 02: the role the marts are loaded with (Dagster and the Spark
# marts job: TRIPCLICK_POSTGRES_URL). Not a superuser and no CREATEDB/CREATEROLE: it owns the
# mart_* tables (so the loader's DDL can migrate them in place) and may create new tables in
# public (a new mart) and its own candidate schemas (tripclick_candidate_*: a load before it is
# audited and published), nothing else; it cannot reach Superset's database. Rerun it to rotate
# the password (deploy/README.md).
set -euo pipefail
: "${GOLD_LOADER_PASSWORD:?GOLD_LOADER_PASSWORD is not set}"
GOLD_LOADER_USER=${GOLD_LOADER_USER:-tripclick_loader}
GOLD_READONLY_USER=${GOLD_READONLY_USER:-superset_ro}

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v role="$GOLD_LOADER_USER" -v pw="$GOLD_LOADER_PASSWORD" -v db="$POSTGRES_DB" -v ro="$GOLD_READONLY_USER" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'pw';
ALTER ROLE :"role" SET statement_timeout = '30min';
-- CREATE: each load writes a candidate schema of its own, audited and then published (and dropped)
GRANT CONNECT, TEMPORARY, CREATE ON DATABASE :"db" TO :"role";
GRANT USAGE, CREATE ON SCHEMA public TO :"role";
-- the marts (01_marts.sql created them as the Gold superuser) change hands; nothing else does
SELECT format('ALTER TABLE public.%I OWNER TO %I', tablename, :'role')
  FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'mart\_%' \gexec
-- tables the loader creates later (a new mart) are readable by the read-only role
ALTER DEFAULT PRIVILEGES FOR ROLE :"role" IN SCHEMA public GRANT SELECT ON TABLES TO :"ro";
SQL
