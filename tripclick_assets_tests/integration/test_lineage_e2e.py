"""The whole lineage through Dagster: real broker, real PostgreSQL, real local Spark.

Mart values are compared with an independent computation over the generator's files
(tripclick_assets_tests/expected_marts.py), not with the project's own code.
"""

from datetime import date

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tripclick_assets.defs.ingestion.assets import tripclick_raw_logs
from tripclick_assets.defs.lake.assets import bronze_events, silver_events
from tripclick_assets.defs.marts.assets import marts
from tripclick_assets_tests.defs_support import lake_checks, mart_checks
from tripclick_assets.lib.lake.store import Lake, LakeLocation, new_version
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


def _rewrite(lake: Lake, layer: str, day: str, change) -> None:
    """Commit a deliberately corrupted version of a partition (the pointer swap is the real one)."""
    current = lake.current_dir(layer, day)
    table = pq.read_table(lake.data_files(current), partitioning=None)
    bad = change(table)
    staging = lake.staging_dir(layer, new_version())
    lake.fs.create_dir(staging)
    pq.write_table(bad, f"{staging}/part-00000.parquet")
    lake.commit(layer, day, staging, new_version())


def test_every_check_fails_on_a_deliberately_corrupted_partition(lineage):
    import psycopg

    day = RANGE[1]
    lake = Lake(LakeLocation(str(lineage["tmp"] / "lake")))
    other_day = pa.scalar(date(2016, 1, 1), pa.date32())

    def corrupt_bronze(t):
        t = t.slice(10)  # fewer parsed rows than Kafka acknowledged
        dates = t.column("event_date").to_pylist()
        dates[0] = other_day.as_py()
        return t.set_column(t.schema.get_field_index("event_date"), "event_date", pa.array(dates, pa.date32())) \
                .drop_columns(["kafka_key"])

    def corrupt_silver(t):
        t = pa.concat_tables([t, t])  # repeated dedup_keys, and more rows than bronze
        sessions = t.column("session_id").to_pylist()
        sessions[0] = None
        dates = t.column("event_date").to_pylist()
        dates[1] = other_day.as_py()
        t = t.set_column(t.schema.get_field_index("session_id"), "session_id", pa.array(sessions, pa.string()))
        t = t.set_column(t.schema.get_field_index("event_date"), "event_date", pa.array(dates, pa.date32()))
        return t.set_column(t.schema.get_field_index("document_id"), "document_id",
                            pc.cast(t.column("document_id"), pa.string()))

    _rewrite(lake, "bronze", day, corrupt_bronze)
    _rewrite(lake, "silver", day, corrupt_silver)
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
    lake = Lake(LakeLocation(str(lineage["tmp"] / "lake")))
    silver_before = lake.current_version("silver", day)
    broken = f"{lake.current_dir('bronze', day)}/part-99999-broken.parquet"
    with open(broken, "wb") as handle:
        handle.write(b"PAR1 this is not a parquet file")
    result = dg.materialize(DEFS, resources=lineage["resources"], instance=lineage["instance"], partition_key=day,
                            selection=dg.AssetSelection.assets("silver_events"), raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "part-99999-broken.parquet" in str(failure.event_specific_data.error)
    assert lake.current_version("silver", day) == silver_before
    assert pq.read_table(lake.data_files(lake.current_dir("silver", day)), partitioning=None).num_rows > 0
