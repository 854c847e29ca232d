"""The whole lineage through Dagster: real broker, real PostgreSQL, real local Spark.

Mart values are compared with an independent computation over the generator's files
(tripclick_assets_tests/expected_marts.py), not with the project's own code.
"""

import os
from datetime import date

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tripclick_assets.defs.ingestion.assets import tripclick_raw_logs
from tripclick_assets.defs.lake.assets import bronze_events, silver_events
from tripclick_assets.defs.marts.assets import marts
from tripclick_assets_tests.defs_support import lake_checks, mart_checks
from tripclick_assets.lib.lake.publish import current_files
from tripclick_assets.lib.lake.reads import partition_files, partition_rows
from tripclick_assets.lib.source.synthetic import generate_day
from tripclick_assets.resources.producers import SyntheticSource
from tripclick_assets_tests.expected_marts import expected_marts
from tripclick_assets_tests.integration.lineage_support import lineage_resources

pytestmark = pytest.mark.slow

DEFS = [tripclick_raw_logs, bronze_events, silver_events, marts, *lake_checks(), *mart_checks()]
DAYS = ("2016-03-01", "2016-03-02")
RANGE = ("2016-03-10", "2016-03-14")
GENERATOR = {"volume": 2500, "duplicate_rate": 0.04, "malformed_rate": 0.01, "bot_sessions": 2}


@pytest.fixture(scope="module")
def lineage(tmp_path_factory, broker, postgres, spark):
    """Two single-partition runs and one 5-day range run, sharing one instance."""
    tmp_path = tmp_path_factory.mktemp("lineage")
    files = {day: generate_day(tmp_path / "logs", date.fromisoformat(day), **GENERATOR).path for day in DAYS}
    resources = lineage_resources(tmp_path, broker, postgres, topic="e2e_raw_logs",
                                  synthetic=SyntheticSource(**GENERATOR))
    with dg.instance_for_test() as instance:
        results = {day: dg.materialize(DEFS, resources=resources, instance=instance, partition_key=day) for day in DAYS}
        runs_before_range = instance.get_runs_count()
        range_result = dg.materialize(DEFS, resources=resources, instance=instance, tags={
            "dagster/asset_partition_range_start": RANGE[0], "dagster/asset_partition_range_end": RANGE[1],
        })
        range_runs = instance.get_runs_count() - runs_before_range
        yield {"range_runs": range_runs, "tmp": tmp_path, "files": files, "resources": resources, "instance": instance,
               "results": results, "range_result": range_result, "postgres": postgres}


def mart_rows(postgres, table: str, day: str, order: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(postgres.url) as conn:
        columns = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND table_schema = 'public' "
            "AND column_name <> 'loaded_at' ORDER BY ordinal_position", (table,)).fetchall()]
        return conn.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE event_date = %s ORDER BY {order}",
                            (day,)).fetchall()


def check_evaluations(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


@pytest.mark.parametrize("day", DAYS)
def test_runs_succeed_and_every_check_passes(lineage, day):
    result = lineage["results"][day]
    assert result.success
    evaluations = check_evaluations(result)
    assert len(evaluations) == len(lake_checks()) + len(mart_checks())
    assert all(evaluations.values()), {k: v for k, v in evaluations.items() if not v}


@pytest.mark.parametrize("day", DAYS)
def test_marts_equal_an_independent_computation(lineage, day):
    expected = expected_marts(lineage["files"][day])
    pg = lineage["postgres"]
    (daily,) = mart_rows(pg, "mart_daily_traffic", day, "event_date")
    assert daily[1:] == tuple(expected["daily"][k] for k in (
        "total_events", "unique_sessions", "unique_documents", "peak_hour", "peak_hour_events", "duplicates_removed"))
    assert expected["daily"]["duplicates_removed"] > 0

    sessions = {r[0]: (r[2], r[3], r[6]) for r in mart_rows(pg, "mart_session_analysis", day, "session_id")}
    assert sessions == expected["sessions"]

    areas = {r[1]: (r[2], r[3], r[4]) for r in mart_rows(pg, "mart_clinical_areas", day, "clinical_area")}
    assert areas == expected["areas"]

    documents = {r[1]: (r[3], r[4], r[5]) for r in mart_rows(pg, "mart_popular_documents", day, "rank") if r[5] <= 200}
    assert documents == expected["documents"]

    anomalies = {(r[1], int(r[2].timestamp())): (r[3], r[4])
                 for r in mart_rows(pg, "mart_session_anomalies", day, "session_id")}
    assert anomalies == expected["anomalies"] and len(anomalies) >= 2  # the two bot sessions


def test_rematerializing_a_partition_gives_identical_mart_rows(lineage):
    day, pg = DAYS[0], lineage["postgres"]
    tables = {"mart_daily_traffic": "event_date", "mart_session_analysis": "session_id",
              "mart_clinical_areas": "clinical_area", "mart_popular_documents": "document_id",
              "mart_session_anomalies": "session_id, window_start"}
    before = {t: mart_rows(pg, t, day, o) for t, o in tables.items()}
    again = dg.materialize(DEFS, resources=lineage["resources"], instance=lineage["instance"], partition_key=day)
    assert again.success
    assert {t: mart_rows(pg, t, day, o) for t, o in tables.items()} == before


def test_a_five_day_range_runs_as_one_run_with_per_partition_results(lineage):
    result, instance = lineage["range_result"], lineage["instance"]
    assert result.success
    days = [f"2016-03-{d}" for d in range(10, 15)]
    for key in ("tripclick_raw_logs", "bronze_events", "silver_events", "mart_daily_traffic"):
        materialized = {e.partition for e in result.asset_materializations_for_node(
            "marts" if key.startswith("mart") else key) if e.asset_key == dg.AssetKey(key)}
        assert materialized == set(days), key
    assert lineage["range_runs"] == 1
    for day in days:  # per-partition metadata and per-partition check results, not one blob
        record = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("silver_events"), asset_partitions=[day]), limit=1).records[0]
        assert record.asset_materialization.metadata["dagster/row_count"].value > 1000
    per_partition = {(e.check_name, e.partition) for e in result.get_asset_check_evaluations() if e.partition}
    assert {("silver_dedup_key_unique", d) for d in days} <= per_partition
    assert {("daily_total_matches_silver", d) for d in days} <= per_partition


def test_a_day_without_events_has_only_a_zero_traffic_row(lineage, broker, postgres):
    day = "2016-03-20"
    empty = lineage_resources(lineage["tmp"] / "empty", broker, postgres, topic="e2e_empty",
                              synthetic=SyntheticSource(volume=0, duplicate_rate=0, malformed_rate=0, bot_sessions=0))
    result = dg.materialize(DEFS, resources=empty, instance=lineage["instance"], partition_key=day)
    assert result.success
    assert all(check_evaluations(result).values())
    (daily,) = mart_rows(postgres, "mart_daily_traffic", day, "event_date")
    assert daily[1:] == (0, 0, 0, None, 0, 0)
    for table in ("mart_session_analysis", "mart_clinical_areas", "mart_popular_documents", "mart_session_anomalies"):
        assert mart_rows(postgres, table, day, "event_date") == []


def _rewrite(tables, layer: str, day: str, change, drop_column: str) -> None:
    """Commit a deliberately corrupted partition, past the publish guard, and drop a contract column.

    publish() refuses a file whose rows are of another day, so the corrupted file is committed
    as a hand-made DataFile claiming the partition; the schema change is a real schema update.
    """
    table = tables.table(layer)
    old = current_files(table, [day])[day]
    bad = change(pq.read_table(partition_files(tables, layer, day), partitioning=None))
    path = f"{tables.lake.staging_dir(layer, 'corrupt')}/part-00000.parquet"
    tables.lake.fs.create_dir(path.rsplit("/", 1)[0])
    pq.write_table(bad, path)
    with table.transaction() as tx:
        with tx.update_snapshot().overwrite() as overwrite:
            for f in old:
                overwrite.delete_data_file(f)
            overwrite.append_data_file(_claiming(table, path, old[0].partition))
    with table.update_schema(allow_incompatible_changes=True) as update:
        update.delete_column(drop_column)


def _claiming(table, path: str, partition):
    """A DataFile for ``path`` that claims ``partition`` whatever its rows hold."""
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat

    return DataFile.from_args(content=DataFileContent.DATA, file_path=path, file_format=FileFormat.PARQUET,
                              partition=partition, record_count=pq.read_metadata(path).num_rows,
                              file_size_in_bytes=os.path.getsize(path), spec_id=table.spec().spec_id)


def test_every_check_fails_on_a_deliberately_corrupted_partition(lineage):
    import psycopg

    day = RANGE[1]
    tables = lineage["resources"]["lake"].tables()
    other_day = pa.scalar(date(2016, 1, 1), pa.date32())

    def corrupt_bronze(t):
        t = t.slice(10)  # fewer parsed rows than Kafka acknowledged
        dates = t.column("event_date").to_pylist()
        dates[0] = other_day.as_py()
        return t.set_column(t.schema.get_field_index("event_date"), "event_date", pa.array(dates, pa.date32()))

    def corrupt_silver(t):
        t = pa.concat_tables([t, t])  # repeated dedup_keys, and more rows than bronze
        sessions = t.column("session_id").to_pylist()
        sessions[0] = None
        dates = t.column("event_date").to_pylist()
        dates[1] = other_day.as_py()
        t = t.set_column(t.schema.get_field_index("session_id"), "session_id", pa.array(sessions, pa.string()))
        return t.set_column(t.schema.get_field_index("event_date"), "event_date", pa.array(dates, pa.date32()))

    _rewrite(tables, "bronze", day, corrupt_bronze, drop_column="kafka_key")
    _rewrite(tables, "silver", day, corrupt_silver, drop_column="ingested_at")
    with psycopg.connect(lineage["postgres"].url) as conn:
        conn.execute("UPDATE mart_daily_traffic SET total_events = total_events + 1 WHERE event_date = %s", (day,))
        conn.execute("DELETE FROM mart_session_analysis WHERE event_date = %s AND session_id IN "
                     "(SELECT session_id FROM mart_session_analysis WHERE event_date = %s LIMIT 1)", (day, day))
        conn.execute("UPDATE mart_popular_documents SET view_count = view_count + 3 WHERE event_date = %s AND rank = 1", (day,))
        conn.execute("UPDATE mart_clinical_areas SET search_count = search_count - 1 WHERE event_date = %s", (day,))
    # Checks only, on the existing (now corrupted) partition; the partition goes in as a run tag
    # because in-process execution derives partitions from selected assets, and none is selected.
    result = dg.materialize(DEFS, resources=lineage["resources"], instance=lineage["instance"],
                            selection=dg.AssetSelection.all_asset_checks(), tags={"dagster/partition": day},
                            raise_on_error=False)
    evaluations = check_evaluations(result)
    names = {key.name for check in [*lake_checks(), *mart_checks()] for key in check.check_keys}
    assert set(evaluations) == names
    assert not any(evaluations.values()), {k for k, v in evaluations.items() if v}


def test_corrupt_bronze_parquet_fails_silver_naming_the_file_and_changes_nothing(lineage):
    day = RANGE[0]
    tables = lineage["resources"]["lake"].tables()
    silver_before = tables.table("silver").current_snapshot().snapshot_id
    broken = partition_files(tables, "bronze", day)[0]  # a file the bronze snapshot references, now corrupt
    with open(broken, "wb") as handle:
        handle.write(b"PAR1 this is not a parquet file")
    result = dg.materialize(DEFS, resources=lineage["resources"], instance=lineage["instance"], partition_key=day,
                            selection=dg.AssetSelection.assets("silver_events"), raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert broken.rsplit("/", 1)[1] in str(failure.event_specific_data.error)
    assert tables.table("silver").current_snapshot().snapshot_id == silver_before
    assert partition_rows(tables, "silver", day) > 0
