"""Write-audit-publish through a Dagster step, and the migration of a ``_CURRENT``-layout lake."""

import os
from datetime import date

import dagster as dg
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tripclick_assets.defs import keys
from tripclick_assets.defs.lake.publishing import audit_and_publish, staging_lease
from tripclick_assets.lib.lake.migrate import migrate
from tripclick_assets.lib.lake.reads import read_partition
from tripclick_assets.resources.lake import LakeResource
from tripclick_assets.lib.lake.schema import BRONZE_COLUMNS, SILVER_COLUMNS, arrow_schema
from tripclick_assets_tests.integration.lineage_support import lake_resource
from tripclick_assets_tests.integration.test_lake_storage import DAY, DAY2, keys_of, stage

os.environ.setdefault("POLARS_ICEBERG_PLANNER", "pyiceberg")


def candidate_asset(dedup_keys: list[str]):
    @dg.asset(key="candidate", partitions_def=dg.DailyPartitionsDefinition("2016-01-01"))
    def candidate(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        with staging_lease(lake, "silver") as (version, outcome):
            staged = {DAY: stage(lake.tables(), DAY, dedup_keys, version=version)}
            commit = audit_and_publish(context, lake, "silver", keys.SILVER, staged,
                                       {DAY: silver_figures(len(dedup_keys))}, outcome)
        return dg.MaterializeResult(metadata=commit)

    return candidate


BRONZE_ROWS = 5


def silver_figures(rows: int) -> dict:
    """What the silver job reports for a candidate of ``rows`` rows from BRONZE_ROWS parsed bronze rows."""
    return {"rows": rows, "bronze_parsed_rows": BRONZE_ROWS, "duplicates_removed": BRONZE_ROWS - rows,
            "rejected_rows": 0, "rejected_by_reason": {}, "dropped_document_ids": 0,
            "dropped_document_ids_by_reason": {}}


def publish_bronze(tables, tmp_path, day: str, rows: int) -> None:
    from tripclick_assets.lib.lake.publish import publish

    schema = arrow_schema(BRONZE_COLUMNS)
    table = {f.name: pa.nulls(rows, f.type) for f in schema}
    table["event_date"] = pa.array([date.fromisoformat(day)] * rows, pa.date32())
    path = tables.lake.staging_dir("bronze", "seed") + f"/_partition={day}/part-0.parquet"
    os.makedirs(os.path.dirname(path))
    pq.write_table(pa.table(table, schema=schema), path)
    publish(tables.table("bronze"), {day: [path]})


def test_a_candidate_failing_a_blocking_rule_commits_nothing_and_shows_its_figures(tmp_path, postgres):
    lake = lake_resource(tmp_path, postgres)
    publish_bronze(lake.tables(), tmp_path, DAY, BRONZE_ROWS)  # the silver rules read the published bronze
    with dg.instance_for_test() as instance:
        good = dg.materialize([candidate_asset(["a", "b"])], resources={"lake": lake}, instance=instance,
                              partition_key=DAY)
        assert good.success
        first = good.asset_materializations_for_node("candidate")[0].metadata
        snapshot = int(first["snapshot_id"].value)
        bad = dg.materialize([candidate_asset(["c", "c", "d"])], resources={"lake": lake}, instance=instance,
                             partition_key=DAY, raise_on_error=False)
    assert not bad.success
    failure = next(e for e in bad.all_events if e.event_type_value == "STEP_FAILURE")
    metadata = failure.event_specific_data.user_failure_data.metadata
    assert metadata["rejected_partitions"].value == [DAY]
    failed = metadata["failed_rules"].value[DAY]
    assert "silver_dedup_key_unique" in failed and failed["silver_dedup_key_unique"]["repeated_values"] == 1
    assert metadata["candidate"].value == {DAY: silver_figures(3)}
    tables = lake.tables()
    assert tables.table("silver").current_snapshot().snapshot_id == snapshot  # nothing committed
    assert keys_of(tables, DAY) == ["a", "b"]
    data = tmp_path / "lake" / "silver" / "data"
    assert len(list(data.glob("*/_partition=*/*.parquet"))) == 1  # the rejected candidate is gone
    assert not list((data / "_in_progress").glob("*"))  # and its lease released


def write_retired_layout(root, layer: str, day: str, versions: dict[str, list[str]], current: str, columns):
    """The retired layout, by hand: ``event_date=D/v=X/part-*.parquet`` and the ``_CURRENT`` pointer."""
    schema = arrow_schema(columns)
    for version, dedup_keys in versions.items():
        directory = root / layer / f"event_date={day}" / f"v={version}"
        directory.mkdir(parents=True)
        n = len(dedup_keys)
        table = {f.name: pa.nulls(n, f.type) for f in schema}
        table["event_date"] = pa.array([date.fromisoformat(day)] * n, pa.date32())
        table["dedup_key"] = pa.array(dedup_keys, pa.string())
        pq.write_table(pa.table(table, schema=schema), directory / "part-00000.parquet")
    (root / layer / f"event_date={day}" / "_CURRENT").write_text(f"v={current}")


def test_migration_turns_a_current_pointer_lake_into_tables_in_place(tmp_path, postgres):
    root = tmp_path / "lake"
    write_retired_layout(root, "silver", DAY, {"1": ["old"], "2": ["n1", "n2"]}, "2", SILVER_COLUMNS)
    write_retired_layout(root, "silver", DAY2, {"1": []}, "1", SILVER_COLUMNS)  # an empty day
    write_retired_layout(root, "bronze", DAY, {"1": ["b1", "b1", "b2"]}, "1", BRONZE_COLUMNS)
    current_file = root / "silver" / f"event_date={DAY}" / "v=2" / "part-00000.parquet"
    tables = lake_resource(tmp_path, postgres).tables()

    results = migrate(tables)
    assert results["silver"].days == {DAY: 1, DAY2: 0} and results["silver"].removed_versions == 1
    assert keys_of(tables, DAY) == ["n1", "n2"] and keys_of(tables, DAY2) == []
    assert read_partition(tables, "bronze", DAY, ["dedup_key"]).num_rows == 3
    assert current_file.exists()  # registered where it was, not copied
    assert not list(root.glob("*/event_date=*/_CURRENT")) and not (root / "silver" / f"event_date={DAY}" / "v=1").exists()
    polars = pl.scan_iceberg(tables.table("silver")).select("dedup_key").collect()["dedup_key"].to_list()
    assert sorted(polars) == ["n1", "n2"]
    snapshot = tables.table("silver").current_snapshot().snapshot_id
    assert migrate(tables)["silver"].snapshot_id is None  # again: nothing left to migrate
    assert tables.table("silver").current_snapshot().snapshot_id == snapshot


def test_the_glue_catalog_setting_is_validated(monkeypatch):
    from tripclick_assets import settings
    from tripclick_assets.lib.lake.catalog import CatalogConfig

    monkeypatch.setenv("TRIPCLICK_LAKE_CATALOG", "hive")
    with pytest.raises(settings.SettingsError, match="TRIPCLICK_LAKE_CATALOG"):
        settings.lake()
    monkeypatch.setenv("TRIPCLICK_LAKE_CATALOG", "glue")
    assert settings.lake()["catalog"] == "glue" and settings.lake()["catalog_uri"] is None
    with pytest.raises(ValueError, match="TRIPCLICK_LAKE_CATALOG"):
        CatalogConfig("hive")
    monkeypatch.setenv("TRIPCLICK_LAKE_SNAPSHOT_RETENTION_DAYS", "0")
    with pytest.raises(settings.SettingsError, match="TRIPCLICK_LAKE_SNAPSHOT_RETENTION_DAYS"):
        settings.lake_tables()
