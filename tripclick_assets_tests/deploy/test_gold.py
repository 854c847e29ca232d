"""The Gold PostgreSQL bring-up: generated marts DDL, initdb scripts, and the Dagster instance config.

The initdb scripts run here exactly as the postgres image runs them (psql over the test
server instead of the container's socket), into a fresh database and with fresh role names.
"""

import shutil
import subprocess
import sys

import psycopg
import pytest
from psycopg import sql

from tripclick_assets.lib.marts.tables import MART_TABLES, ddl_statements
from tripclick_assets.lib.marts.postgres_load import schema_is_current
from tripclick_assets_tests.deploy.support import DEPLOY, INITDB, REPO, run_initdb
from tripclick_assets_tests.deploy.support import pg_url as _url


def test_marts_sql_is_generated_from_ddl_statements():
    sys.path.insert(0, str(DEPLOY / "gold"))
    try:
        import generate_marts_sql
    finally:
        sys.path.remove(str(DEPLOY / "gold"))
    committed = (INITDB / "01_marts.sql").read_text()
    assert committed == generate_marts_sql.render(), (
        "deploy/gold/initdb/01_marts.sql is stale: run .venv/bin/python deploy/gold/generate_marts_sql.py")
    for statement in ddl_statements():
        assert statement in committed


def test_generator_check_mode():
    result = subprocess.run([sys.executable, str(DEPLOY / "gold" / "generate_marts_sql.py"), "--check"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed (the initdb scripts call it)")
def test_initdb_scripts_build_the_gold_database(postgres, fresh_database):
    for _ in range(2):  # the postgres image runs them once; they are safe to rerun (password rotation)
        env = run_initdb(postgres, fresh_database)
    ro_password = fresh_database["ro_password"]

    with psycopg.connect(_url(postgres, fresh_database["db"]), autocommit=True) as conn:
        assert schema_is_current(conn), "01_marts.sql did not produce the schema ddl_statements() describes"
        conn.execute("INSERT INTO mart_daily_traffic (event_date, total_events) VALUES ('2016-01-01', 3)")
    with psycopg.connect(_url(postgres, fresh_database["superset_db"], fresh_database["superset_user"],
                              env["SUPERSET_DB_PASSWORD"])) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == fresh_database["superset_db"]
    with psycopg.connect(_url(postgres, fresh_database["db"], fresh_database["ro_user"], ro_password)) as conn:
        for table in MART_TABLES:
            conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table.name))).fetchone()
        conn.rollback()
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO mart_daily_traffic (event_date) VALUES ('2016-01-02')")
        conn.rollback()
        conn.execute("SET TRANSACTION READ WRITE")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO mart_daily_traffic (event_date) VALUES ('2016-01-02')")


def test_dagster_instance_runs_on_postgres(postgres, fresh_database, tmp_path, monkeypatch):
    """deploy/dagster/dagster.yaml: PostgreSQL storage through a postgresql+psycopg2 URL, queue, retries."""
    import dagster as dg
    from dagster._core.run_coordinator import QueuedRunCoordinator

    info = psycopg.conninfo.conninfo_to_dict(postgres.url)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster" / "dagster.yaml", home / "dagster.yaml")
    url = (f"postgresql+psycopg2://{info['user']}:{info['password']}@{info['host']}:{info['port']}/"
           f"{fresh_database['db']}")
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", url)
    monkeypatch.setenv("DAGSTER_MAX_CONCURRENT_RUNS", "3")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.run_coordinator.get_run_queue_config().max_concurrent_runs == 3
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert not instance.telemetry_enabled
        assert instance.get_runs() == []
        assert instance.compute_log_manager.__class__.__name__ == "LocalComputeLogManager"


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql is not installed (the initdb scripts call it)")
def test_the_loader_role_owns_the_marts_and_nothing_more(postgres, fresh_database):
    """03_loader_role.sh: the project loads as a role that owns the mart tables only (no superuser)."""
    from tripclick_assets.lib.marts.postgres_load import (
        create_candidate, ensure_schema, new_candidate_schema, publish_candidate, replace_partitions,
    )

    run_initdb(postgres, fresh_database)
    loader, password = fresh_database["loader_user"], fresh_database["loader_password"]
    with psycopg.connect(_url(postgres, fresh_database["db"]), autocommit=True) as conn:
        owners = dict(conn.execute("SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'").fetchall())
        assert {t.name for t in MART_TABLES} <= set(owners)
        assert {owners[t.name] for t in MART_TABLES} == {loader}
        flags = conn.execute("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s",
                             (loader,)).fetchone()
        assert flags == (False, False, False)
        first = MART_TABLES[0]
        extra = [c.name for c in first.columns if c.name not in first.primary_key][-1]  # the DDL adds it back
        conn.execute(sql.SQL("ALTER TABLE {} DROP COLUMN {}").format(sql.Identifier(first.name), sql.Identifier(extra)))
    with psycopg.connect(_url(postgres, fresh_database["db"], loader, password), autocommit=True) as conn:
        assert ensure_schema(conn)  # the loader's own DDL migrates the tables it owns
        assert schema_is_current(conn)
        conn.execute("DELETE FROM mart_daily_traffic WHERE event_date = '2016-01-01'")
        conn.execute("INSERT INTO mart_daily_traffic (event_date, total_events) VALUES ('2016-01-01', 3)")
        conn.execute("CREATE TABLE mart_new_one (event_date date PRIMARY KEY)")  # a future mart
        candidate = new_candidate_schema()  # a load's candidate: created, published and dropped by the loader
        create_candidate(conn, candidate)
        replace_partitions(conn, "mart_daily_traffic", ["2016-01-01"], [("2016-01-01", 7, 7, 7, 0, 7, 0)], candidate)
        assert publish_candidate(conn, candidate, ["2016-01-01"])["mart_daily_traffic"] == 1
        assert conn.execute("SELECT total_events FROM mart_daily_traffic WHERE event_date = '2016-01-01'").fetchone() == (7,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE ROLE intruder LOGIN")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER ROLE CURRENT_USER SUPERUSER")
    with pytest.raises(psycopg.OperationalError, match="permission denied|not permitted"):
        psycopg.connect(_url(postgres, fresh_database["superset_db"], loader, password)).close()
    with psycopg.connect(_url(postgres, fresh_database["db"], fresh_database["ro_user"],
                              fresh_database["ro_password"])) as conn:
        assert conn.execute("SELECT count(*) FROM mart_new_one").fetchone() == (0,)  # readable by Superset's role
