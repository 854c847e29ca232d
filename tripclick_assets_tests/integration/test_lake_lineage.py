"""Producer -> bronze -> silver through Dagster against the real broker and local Spark."""

import os
from datetime import date

import polars as pl

import dagster as dg

from tripclick_assets.defs.ingestion.assets import tripclick_raw_logs
from tripclick_assets.defs.lake.assets import bronze_events, silver_events
from tripclick_assets.lib.lake.reads import partition_files, read_partition
from tripclick_assets.lib.source.synthetic import generate_day
from tripclick_assets.resources.producers import SyntheticSource
from tripclick_assets_tests.integration.lineage_support import lineage_resources

ASSETS = [tripclick_raw_logs, bronze_events, silver_events]
os.environ.setdefault("POLARS_ICEBERG_PLANNER", "pyiceberg")


def latest(instance, key, partition):
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), asset_partitions=[partition]), limit=1
    ).records[0]
    return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def test_one_partition_producer_bronze_silver(tmp_path, broker, spark, topic_names):
    synthetic = SyntheticSource(volume=3000, duplicate_rate=0.05, malformed_rate=0.01, bot_sessions=1)
    # The same call the producers resource makes; its summary tells what the file holds.
    generated = generate_day(tmp_path / "logs", date(2016, 1, 1), volume=3000, duplicate_rate=0.05,
                             malformed_rate=0.01, bot_sessions=1)
    resources = lineage_resources(tmp_path, broker, topic=topic_names[0], synthetic=synthetic)
    with dg.instance_for_test() as instance:
        result = dg.materialize(ASSETS, resources=resources, instance=instance, partition_key="2016-01-01")
        assert result.success
        produced = latest(instance, "tripclick_raw_logs", "2016-01-01")
        bronze = latest(instance, "bronze_events", "2016-01-01")
        silver = latest(instance, "silver_events", "2016-01-01")
    assert produced["quarantined"] == generated.malformed
    assert produced["acknowledged"] == generated.lines - generated.malformed
    assert set(produced["offset_ranges"]) == {"0", "1", "2"}
    assert bronze["dagster/row_count"] == produced["acknowledged"] == bronze["parsed_rows"]
    assert silver["dagster/row_count"] + silver["duplicates_removed"] == bronze["parsed_rows"]
    assert silver["duplicates_removed"] == generated.duplicates
    tables = resources["lake"].tables()
    table = read_partition(tables, "silver", "2016-01-01")
    assert table.num_rows == silver["dagster/row_count"]
    assert len(set(table.column("dedup_key").to_pylist())) == table.num_rows

    # Re-materialize bronze and silver: every reader of the tables sees exactly the new rows once.
    with dg.instance_for_test() as instance:
        assert dg.materialize(ASSETS, resources=resources, instance=instance, partition_key="2016-01-01").success
        again = latest(instance, "silver_events", "2016-01-01")
    assert again["snapshot_id"] != silver["snapshot_id"] and again["previous_snapshot_id"] == silver["snapshot_id"]
    for layer, rows in (("bronze", bronze["dagster/row_count"]), ("silver", silver["dagster/row_count"])):
        iceberg = tables.table(layer)
        through_pyiceberg = iceberg.scan().to_arrow()
        through_polars = pl.scan_iceberg(iceberg).collect()
        assert through_pyiceberg.num_rows == through_polars.height == rows, layer
    silver_keys = pl.scan_iceberg(tables.table("silver")).select("dedup_key").collect()["dedup_key"]
    assert silver_keys.n_unique() == silver_keys.len() == silver["dagster/row_count"]
    # what silver held before the rerun: one call with the previous materialization's snapshot id
    before = read_partition(tables, "silver", "2016-01-01", ["dedup_key"], snapshot_id=int(again["previous_snapshot_id"]))
    assert sorted(before.column("dedup_key").to_pylist()) == sorted(table.column("dedup_key").to_pylist())
    assert partition_files(tables, "silver", "2016-01-01") != partition_files(
        tables, "silver", "2016-01-01", snapshot_id=int(again["previous_snapshot_id"]))
