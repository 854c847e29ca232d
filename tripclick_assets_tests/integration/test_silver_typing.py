"""One bad value, one quarantined row: silver under Spark 4's ANSI mode, against real local Spark.

Bronze rows are made by the real bronze path (``bronze_batch`` on Kafka message objects), so a
value reaches silver exactly as bronze stores it: a ``Documents`` list as its JSON text (a
24-digit id in it as the float bronze's JSON parser makes of it), a legacy string with its JSON
quotes, a ``ClinicalAreas`` list as JSON text. Each day of the tests holds one or a few bad
values among good rows: the day types, the bad rows are counted with their reason, and every
other row is in silver.
"""

from datetime import date, datetime, timezone

import dagster as dg
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka import Message

from tripclick_assets.defs import keys
from tripclick_assets.defs.lake.assets import silver_events
from tripclick_assets.lib.lake.bronze_records import DateAttribution, bronze_batch
from tripclick_assets.lib.lake.publish import publish
from tripclick_assets.lib.lake.reads import read_partition
from tripclick_assets.lib.lake.schema import BRONZE_COLUMNS, spark_ddl
from tripclick_assets.lib.lake.store import LakeLocation
from tripclick_assets.lib.source.clinical_areas import parse_clinical_areas
from tripclick_assets.lib.spark.jobs import SilverParams
from tripclick_assets.resources.spark import LocalSparkResource
from tripclick_assets.spark_jobs import silver
from tripclick_assets_tests.defs_support import lake_checks
from tripclick_assets_tests.integration.lineage_support import lake_resource

DAY = "2016-03-01"
INGESTED = datetime(2026, 12, 1, tzinfo=timezone.utc)
KAFKA_MS = int(datetime(2016, 3, 1, 12, tzinfo=timezone.utc).timestamp() * 1000)
HOUR_25 = "2016-03-01T25:10:00.000Z"
BIG = "123456789012345678901234"  # 24 digits: beyond bigint (and beyond the 64-bit unsigned range)
BEYOND_BIGINT = 2**63  # fits 64 unsigned bits, so bronze keeps its digits


def event(i: int, **changes) -> dict:
    base = {"DateCreated": "/Date(1456833600000)/", "SessionId": f"s{i % 7}", "DocumentId": 1000 + i,
            "Url": f"http://x/{i}", "Title": f"t{i}", "DOI": "", "ClinicalAreas": ",Cardiology", "Keywords": "k",
            "Documents": [1, 2], "event_ts": f"2016-03-01T10:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
            "event_date": DAY, "dedup_key": f"k{i:05d}", "server": "server0", "source_file": f"{DAY}.json",
            "source_line": i}
    return {**base, **changes}


def value(e: dict) -> bytes:
    """The event's Kafka value; ``"<BIG>"`` stands for the bare 24-digit number (orjson cannot write it)."""
    return orjson.dumps(e).replace(b'"<BIG>"', BIG.encode())


def bronze_table(events: list[dict]) -> pa.Table:
    messages = [Message(topic="raw", partition=0, offset=n, key=e["SessionId"].encode(), value=value(e),
                        timestamp=(1, KAFKA_MS + n)) for n, e in enumerate(events)]
    batch = bronze_batch(messages, DateAttribution({DAY: {"0": [0, len(events)]}}), INGESTED)
    return pa.Table.from_batches([batch])


def bronze_frame(spark, tmp_path, events: list[dict]):
    path = tmp_path / "bronze.parquet"
    pq.write_table(bronze_table(events), path)
    return spark.read.schema(spark_ddl(BRONZE_COLUMNS)).parquet(str(path))


def good(n: int, start: int = 0) -> list[dict]:
    return [event(i) for i in range(start, start + n)]


def silver_rows(frame) -> dict[str, dict]:
    return {r["dedup_key"]: r.asDict() for r in frame.collect()}


NO_UNTYPED = {"rejected": {}, "dropped_document_ids": {}}


def test_an_event_ts_with_hour_25_rejects_its_row_and_the_day_still_types(spark, tmp_path):
    events = good(100) + [event(100, event_ts=HOUR_25)]
    bronze = bronze_frame(spark, tmp_path, events)
    assert bronze.where("parse_error IS NULL").count() == 101  # bronze accepts it: two digits an hour

    rows = silver_rows(silver.silver_frame(bronze))  # under ANSI to_timestamp raised here for the whole day
    assert sorted(rows) == sorted(e["dedup_key"] for e in events[:100])
    assert silver.untyped_counts(bronze) == {DAY: {"rejected": {"event_ts_not_a_timestamp": 1},
                                                   "dropped_document_ids": {}}}


def test_a_legacy_document_id_beyond_bigint_is_dropped_from_its_row_and_counted(spark, tmp_path):
    events = good(50) + [event(50, Documents=f"{BIG}:12.5,7:3.1, 8:1.0")]
    bronze = bronze_frame(spark, tmp_path, events)

    rows = silver_rows(silver.silver_frame(bronze))  # under ANSI cast("bigint") raised here
    assert len(rows) == 51  # the click itself is valid: it stays
    assert rows["k00050"]["documents"] == [7, 8]
    assert all(rows[e["dedup_key"]]["documents"] == [1, 2] for e in events[:50])
    assert silver.untyped_counts(bronze) == {DAY: {"rejected": {},
                                                   "dropped_document_ids": {"document_id_out_of_range": 1}}}


def test_a_json_list_document_id_beyond_bigint_is_dropped_from_its_row_and_counted(spark, tmp_path):
    events = good(50) + [event(50, Documents=["<BIG>", BEYOND_BIGINT, 5]), event(51, Documents=["<BIG>"])]
    table = bronze_table(events)
    assert table.column("documents")[50].as_py() == f"[1.2345678901234569e+23,{BEYOND_BIGINT},5]"
    bronze = bronze_frame(spark, tmp_path, events)

    rows = silver_rows(silver.silver_frame(bronze))  # array<bigint> made both lists [], silently
    assert len(rows) == 52
    assert rows["k00050"]["documents"] == [5] and rows["k00051"]["documents"] == []
    assert silver.untyped_counts(bronze) == {DAY: {"rejected": {},
                                                   "dropped_document_ids": {"document_id_out_of_range": 3}}}


def test_rejection_comes_before_dedup_and_the_figures_add_up(spark, tmp_path):
    """bronze parsed rows = silver rows + duplicates removed + rejected rows, with rejected duplicates."""
    events = good(40) + [
        event(40, event_ts=HOUR_25), event(41, event_ts=HOUR_25, dedup_key="k00040"),  # both copies bad
        event(42), event(43, dedup_key="k00042"),  # a plain duplicate
        # an earlier bad copy and a later good one of the same key: the good one is kept
        event(44, event_ts=HOUR_25), event(45, dedup_key="k00044"),
        event(46, Documents=f"{BIG}:1.0"), event(47, Documents=f"{BIG}:1.0", dedup_key="k00046"),
    ]
    lake = LakeLocation(str(tmp_path / "lake"))
    path = tmp_path / "bronze" / "part-0.parquet"
    path.parent.mkdir()
    pq.write_table(bronze_table(events), path)

    result = silver.run(spark, SilverParams(lake=lake, dates=[DAY], bronze_files={DAY: [str(path)]}))
    day = result.by_date[DAY]
    assert (day.bronze_parsed_rows, day.rows, day.duplicates_removed, day.rejected_rows) == (48, 43, 2, 3)
    assert day.bronze_parsed_rows == day.rows + day.duplicates_removed + day.rejected_rows
    assert day.rejected_by_reason == {"event_ts_not_a_timestamp": 3}
    # counted on the row silver keeps, not once per copy
    assert (day.dropped_document_ids, day.dropped_document_ids_by_reason) == (1, {"document_id_out_of_range": 1})
    staged = pq.read_table(day.staged_files).to_pylist()
    kept = {r["dedup_key"]: r for r in staged}
    assert "k00040" not in kept and kept["k00044"]["source_line"] == 45 and kept["k00046"]["documents"] == []
    assert sorted(kept) == sorted({e["dedup_key"] for e in events} - {"k00040"})


def test_a_clinical_areas_json_list_is_read_as_a_list(spark, tmp_path):
    raw = [["Cardiology", "Oncology"], ["Ear, Nose and Throat", 5, None, "Foo Bar"], ["paeds", "Paediatrics"],
           ",obgyn,OB-Gyn, Emergency_Medicine ,Foo Bar", "[not json, Cardiology", "[]", "", None]
    events = [event(i, ClinicalAreas=areas) for i, areas in enumerate(raw)]
    stored = bronze_table(events).column("clinical_areas").to_pylist()
    assert stored[0] == '["Cardiology","Oncology"]'  # what bronze keeps of a list: its JSON text

    rows = silver_rows(silver.silver_frame(bronze_frame(spark, tmp_path, events)))
    areas = [rows[e["dedup_key"]]["clinical_areas"] for e in events]
    assert areas == [parse_clinical_areas(v) for v in stored]  # the source's own rule, on bronze's values
    assert areas[1] == ["ENT", "Foo Bar"]  # one spelling per item, its comma kept inside


# --- through Dagster: the asset's metadata, the audit, the check -----------------------------------------------


def silver_checks() -> list:
    return [c for c in lake_checks() if all(k.asset_key == keys.SILVER for k in c.check_keys)]


def publish_bronze(lake, events: list[dict]) -> None:
    tables = lake.tables()
    directory = f"{tables.lake.staging_dir('bronze', 'seed')}/_partition={DAY}"
    tables.lake.fs.create_dir(directory, recursive=True)
    path = f"{directory}/part-0.parquet"
    pq.write_table(bronze_table(events), path)
    publish(tables.table("bronze", evolve=True), {DAY: [path]})


def evaluations(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_the_silver_asset_publishes_a_day_with_bad_values_and_its_check_warns(spark, tmp_path):
    events = good(300) + [event(300, event_ts=HOUR_25), event(301, Documents=f"{BIG}:2.0,9:1.0"),
                          event(302, Documents=["<BIG>", 4]), event(303, dedup_key="k00000")]
    lake = lake_resource(tmp_path)
    publish_bronze(lake, events)
    resources = {"lake": lake, "spark": LocalSparkResource(spark_config={"spark.sql.shuffle.partitions": "4"})}
    with dg.instance_for_test() as instance:
        result = dg.materialize([silver_events, *silver_checks()], resources=resources, instance=instance,
                                partition_key=DAY)
        assert result.success
        metadata = {k: v.value for k, v in result.asset_materializations_for_node("silver_events")[0].metadata.items()}
        checks = evaluations(result)
        # As a check on its own (no materialization in the run): the figures come from the metadata.
        alone = dg.materialize([silver_events, *silver_checks()], resources=resources, instance=instance,
                               selection=dg.AssetSelection.checks_for_assets(silver_events),
                               tags={"dagster/partition": DAY}, raise_on_error=False)
        alone_checks = evaluations(alone)

    assert metadata["dagster/row_count"] == 302
    assert (metadata["bronze_parsed_rows"], metadata["duplicates_removed"], metadata["rejected_rows"]) == (304, 1, 1)
    assert metadata["rejected_by_reason"] == {"event_ts_not_a_timestamp": 1}
    assert metadata["dropped_document_ids"] == 2
    assert metadata["dropped_document_ids_by_reason"] == {"document_id_out_of_range": 2}
    silver_keys = read_partition(lake.tables(), "silver", DAY, ["dedup_key"]).column("dedup_key").to_pylist()
    assert sorted(silver_keys) == sorted({e["dedup_key"] for e in events} - {"k00300"})

    for run_checks in (checks, alone_checks):
        assert set(run_checks) == {k.name for c in silver_checks() for k in c.check_keys}
        rejected = run_checks["silver_rejected_rows"]
        assert (rejected.passed, rejected.severity) == (False, dg.AssetCheckSeverity.WARN)
        assert rejected.metadata["rejected_rows"].value == 1
        assert "1 of 304 parsed bronze rows rejected" in rejected.description
        assert "event_ts_not_a_timestamp 1" in rejected.description and "2 document id(s) dropped" in rejected.description
        assert all(e.passed for name, e in run_checks.items() if name != "silver_rejected_rows"), run_checks


def test_a_day_with_over_10_percent_rejected_is_not_published(spark, tmp_path):
    events = good(20) + [event(20 + i, event_ts=HOUR_25) for i in range(3)]  # 3 of 23: 13 %
    lake = lake_resource(tmp_path)
    publish_bronze(lake, events)
    resources = {"lake": lake, "spark": LocalSparkResource(spark_config={"spark.sql.shuffle.partitions": "4"})}
    with dg.instance_for_test() as instance:
        result = dg.materialize([silver_events], resources=resources, instance=instance, partition_key=DAY,
                                raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    failed = failure.event_specific_data.user_failure_data.metadata["failed_rules"].value[DAY]
    assert list(failed) == ["silver_rejected_rows"]
    assert "3 of 23 parsed bronze rows rejected" in failed["silver_rejected_rows"]["description"]
    assert lake.tables().table("silver").current_snapshot() is None  # nothing published


def test_mart_duplicates_removed_leaves_the_rejected_rows_out(spark, tmp_path, postgres):
    """mart_daily_traffic.duplicates_removed equals silver's own: a rejected row is not a duplicate."""
    import psycopg

    from tripclick_assets.defs.marts.assets import marts
    from tripclick_assets.resources.postgres import PostgresResource

    events = good(40) + [event(40, event_ts=HOUR_25), event(41, dedup_key="k00000")]  # 1 rejected, 1 repeat
    lake = lake_resource(tmp_path)
    publish_bronze(lake, events)
    schema = f"silver_typing_{abs(hash(str(tmp_path))) % 10**8}"  # the day's marts of its own
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{postgres.url}{'&' if '?' in postgres.url else '?'}options=-csearch_path%3D{schema}"
    resources = {"lake": lake, "postgres": PostgresResource(url=url),
                 "spark": LocalSparkResource(spark_config={"spark.sql.shuffle.partitions": "4"})}
    with dg.instance_for_test() as instance:
        result = dg.materialize([silver_events, marts], resources=resources, instance=instance, partition_key=DAY)
        assert result.success
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT total_events, duplicates_removed FROM mart_daily_traffic WHERE event_date = %s",
                           (DAY,)).fetchone()
    assert row == (40, 1)
