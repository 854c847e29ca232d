"""Faults in the middle of a write: nothing half-done survives, and a retry completes."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from tripclick_assets.defs.ingestion.assets import tripclick_raw_logs
from tripclick_assets.defs.lake.assets import bronze_events, silver_events
from tripclick_assets.defs.marts.assets import marts
from tripclick_assets.defs.lake.assets import current_bronze_files
from tripclick_assets.lib.lake.reads import partition_rows
from tripclick_assets.resources.producers import SyntheticSource
from tripclick_assets.services import PostgresService
from tripclick_assets_tests.conftest import free_port
from tripclick_assets_tests.integration.lineage_support import lineage_resources

pytestmark = pytest.mark.slow
ASSETS = [tripclick_raw_logs, bronze_events, silver_events, marts]
SPARK_SUBMIT = Path(sys.executable).parent / "spark-submit"


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory):
    """A PostgreSQL of this module's own: the tests stop it on purpose."""
    service = PostgresService(tmp_path_factory.mktemp("pg_faults"), port=free_port())
    service.start()
    yield service
    service.stop()


def rows_with_loaded_at(url: str, table: str, day: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT * FROM {table} WHERE event_date = %s ORDER BY 2, 3", (day,)).fetchall()


def test_postgres_stopped_during_a_mart_load_keeps_old_rows_and_the_retry_succeeds(
    tmp_path, broker, spark, own_postgres
):
    day = "2016-04-01"
    resources = lineage_resources(tmp_path, broker, own_postgres, topic="faults_pg",
                                  synthetic=SyntheticSource(volume=2000, bot_sessions=0))
    with dg.instance_for_test() as instance:
        assert dg.materialize(ASSETS, resources=resources, instance=instance, partition_key=day).success
        before = rows_with_loaded_at(own_postgres.url, "mart_popular_documents", day)
        assert before
        # Hold the next publish of the marts inside its transaction (after mart_popular_documents' DELETE).
        with psycopg.connect(own_postgres.url, autocommit=True) as conn:
            conn.execute("CREATE FUNCTION hold_load() RETURNS trigger LANGUAGE plpgsql AS "
                         "$$ BEGIN PERFORM pg_sleep(30); RETURN NULL; END $$")
            conn.execute("CREATE TRIGGER hold_load BEFORE INSERT ON mart_popular_documents "
                         "FOR EACH STATEMENT EXECUTE FUNCTION hold_load()")
        seen_during_outage = {}

        def stop_postgres_mid_load():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with psycopg.connect(own_postgres.url, autocommit=True) as conn:
                    busy = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'INSERT%%'"
                                        " AND wait_event = 'PgSleep'").fetchone()[0]
                if busy:
                    own_postgres.stop()  # fast shutdown: the loading transaction is cut off
                    own_postgres.start()
                    seen_during_outage["rows"] = rows_with_loaded_at(own_postgres.url, "mart_popular_documents", day)
                    with psycopg.connect(own_postgres.url, autocommit=True) as conn:
                        conn.execute("DROP TRIGGER hold_load ON mart_popular_documents")
                    return
                time.sleep(0.05)

        watcher = threading.Thread(target=stop_postgres_mid_load)
        watcher.start()
        # The marts step's RetryPolicy (5 s, exponential) retries after the server is back.
        result = dg.materialize(ASSETS, resources=resources, instance=instance, partition_key=day,
                                selection=dg.AssetSelection.assets(*marts.keys))
        watcher.join(timeout=180)
        assert "rows" in seen_during_outage, "the load was never caught in flight"
        assert seen_during_outage["rows"] == before  # old rows intact, loaded_at included
        assert result.success
        retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        assert retried, "the step should have failed once and been retried"
        after = rows_with_loaded_at(own_postgres.url, "mart_popular_documents", day)
        assert [r[:-1] for r in after] == [r[:-1] for r in before]  # same rows, freshly loaded


def test_silver_writer_killed_mid_partition_leaves_the_previous_partition_complete(tmp_path, broker, spark):
    day = "2016-04-02"
    resources = lineage_resources(tmp_path, broker, topic="faults_kill",
                                  synthetic=SyntheticSource(volume=20000, bot_sessions=0))
    with dg.instance_for_test() as instance:
        assert dg.materialize(ASSETS[:3], resources=resources, instance=instance, partition_key=day).success
    tables = resources["lake"].tables()
    snapshot_before = tables.table("silver").current_snapshot().snapshot_id
    rows_before = partition_rows(tables, "silver", day)

    params = tmp_path / "params.json"
    params.write_text(json.dumps({"lake": {"root": str(tmp_path / "lake")}, "dates": [day],
                                  "bronze_files": current_bronze_files(tables, [day])}))
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    job = Path(__file__).parents[2] / "tripclick_assets" / "spark_jobs" / "silver.py"
    writer = subprocess.Popen(
        [str(SPARK_SUBMIT), "--master", "local[2]", "--conf", "spark.ui.enabled=false", str(job),
         "--params-file", str(params)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    staging_root = Path(tables.lake.layer_dir("silver")) / "data"
    deadline = time.monotonic() + 120
    while not any(staging_root.glob("**/_temporary")) and time.monotonic() < deadline:
        assert writer.poll() is None, "the writer finished before it could be killed"
        time.sleep(0.05)
    assert any(staging_root.glob("**/_temporary")), "the writer never started writing"
    os.killpg(writer.pid, signal.SIGKILL)  # the driver and its Python workers, mid-write
    writer.wait(30)

    assert tables.table("silver").current_snapshot().snapshot_id == snapshot_before  # nothing was published
    assert partition_rows(tables, "silver", day) == rows_before
    with dg.instance_for_test() as instance:  # and the partition can simply be rebuilt
        assert dg.materialize([silver_events], resources=resources, instance=instance, partition_key=day).success
    assert tables.table("silver").current_snapshot().snapshot_id != snapshot_before
    assert partition_rows(tables, "silver", day) == rows_before
