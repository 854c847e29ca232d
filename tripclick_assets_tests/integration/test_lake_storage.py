"""The bronze/silver Iceberg tables: publish, readers, crashes, concurrent writers, S3 (moto server).

The catalog is the session's embedded PostgreSQL (each test its own catalog name); files are
written the way the jobs stage them (``<layer>/data/<version>/_partition=D/``).
"""

import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from datetime import date, timedelta, datetime, timezone

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tripclick_assets.lib.lake.catalog import CatalogConfig
from tripclick_assets.lib.lake.maintenance import maintain
from tripclick_assets.lib.lake.publish import PublishError, publish
from tripclick_assets.lib.lake.reads import LakeTables, partition_files, read_partition
from tripclick_assets.lib.lake.schema import SILVER_COLUMNS, arrow_schema
from tripclick_assets.lib.lake.store import LakeLocation, new_version
from tripclick_assets_tests.conftest import free_port

DAY, DAY2 = "2016-01-01", "2016-01-02"
os.environ.setdefault("POLARS_ICEBERG_PLANNER", "pyiceberg")


def lake_tables(root: str, postgres, **location) -> LakeTables:
    return LakeTables(LakeLocation(root, **location), CatalogConfig("sql", postgres.url, f"t_{uuid.uuid4().hex[:10]}"))


def stage(tables: LakeTables, day: str, keys: list[str], layer: str = "silver", version: str | None = None) -> list[str]:
    """Stage one silver file of ``keys`` for ``day`` the way a job does; returns its URI."""
    lake = tables.lake
    directory = f"{lake.staging_dir(layer, version or new_version())}/_partition={day}"
    lake.fs.create_dir(directory, recursive=True)
    schema = arrow_schema(SILVER_COLUMNS)
    n = len(keys)
    columns = {f.name: pa.nulls(n, f.type) for f in schema}
    columns["event_date"] = pa.array([date.fromisoformat(day)] * n, pa.date32())
    columns["dedup_key"] = pa.array(keys, pa.string())
    columns["session_id"] = pa.array(["s"] * n, pa.string())  # the required fields, so a candidate passes its audit
    columns["document_id"] = pa.array(range(n), pa.int64())
    columns["event_ts"] = pa.array([datetime.fromisoformat(day).replace(tzinfo=timezone.utc)] * n,
                                   pa.timestamp("us", tz="UTC"))
    path = f"{directory}/part-{uuid.uuid4().hex[:6]}.parquet"
    with lake.fs.open_output_stream(path) as handle:
        pq.write_table(pa.table(columns, schema=schema), handle)
    return [lake.uri(path)]


def keys_of(tables, day, snapshot_id=None) -> list[str]:
    return sorted(read_partition(tables, "silver", day, ["dedup_key"], snapshot_id).column("dedup_key").to_pylist())


def exercise(tables: LakeTables, polars_options: dict | None = None):
    """Publish, re-publish, empty a day; every reader sees exactly the current rows."""
    first = publish(tables.table("silver"), {DAY: stage(tables, DAY, ["a", "b", "c"]), DAY2: stage(tables, DAY2, ["x"])})
    again = publish(tables.table("silver"), {DAY: stage(tables, DAY, ["d", "e"])})
    assert again.previous_snapshot_id == first.snapshot_id and again.removed_files == {DAY: 1}
    assert keys_of(tables, DAY) == ["d", "e"] and keys_of(tables, DAY2) == ["x"]
    assert keys_of(tables, DAY, snapshot_id=first.snapshot_id) == ["a", "b", "c"]  # history: one call
    table = tables.table("silver")
    everything = sorted(table.scan().to_arrow().column("dedup_key").to_pylist())
    polars = sorted(pl.scan_iceberg(table, storage_options=polars_options).select("dedup_key")
                    .collect()["dedup_key"].to_list())
    assert everything == polars == ["d", "e", "x"]
    publish(tables.table("silver"), {DAY2: []})  # a day without rows
    assert keys_of(tables, DAY2) == [] and partition_files(tables, "silver", DAY2) == []
    with pytest.raises(PublishError, match="not of the partition"):
        publish(tables.table("silver"), {DAY: stage(tables, DAY2, ["wrong day"])})
    assert keys_of(tables, DAY) == ["d", "e"]


def test_local_tables_replace_partitions_and_every_reader_sees_the_current_rows(tmp_path, postgres):
    exercise(lake_tables(str(tmp_path / "lake"), postgres))


CRASH = textwrap.dedent("""
    import os, signal, sys
    from pyiceberg.catalog.sql import SqlCatalog
    from tripclick_assets.lib.lake.catalog import CatalogConfig
    from tripclick_assets.lib.lake.publish import publish
    from tripclick_assets.lib.lake.reads import LakeTables
    from tripclick_assets.lib.lake.store import LakeLocation
    root, uri, name, day, path = sys.argv[1:]
    original = SqlCatalog._write_metadata
    def write_then_die(metadata, io, metadata_path):
        original(metadata, io, metadata_path)  # the new metadata file is written...
        print("metadata written", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # ...and the process dies before the catalog update
    SqlCatalog._write_metadata = staticmethod(write_then_die)
    tables = LakeTables(LakeLocation(root), CatalogConfig("sql", uri, name))
    publish(tables.table("silver"), {day: [path]})
""")


def test_a_publish_killed_after_writing_metadata_leaves_the_previous_snapshot(tmp_path, postgres):
    tables = lake_tables(str(tmp_path / "lake"), postgres)
    before = publish(tables.table("silver"), {DAY: stage(tables, DAY, ["old1", "old2"])})
    (new_file,) = stage(tables, DAY, ["new"])
    crash = subprocess.run([sys.executable, "-c", CRASH, str(tmp_path / "lake"), postgres.url, tables.catalog.name,
                            DAY, new_file], capture_output=True, text=True, timeout=120)
    assert crash.returncode == -9 and "metadata written" in crash.stdout, crash.stderr[-2000:]
    metadata_files = list((tmp_path / "lake" / "silver" / "metadata").glob("*.metadata.json"))
    table = tables.table("silver")
    assert table.current_snapshot().snapshot_id == before.snapshot_id
    assert str(table.metadata_location).split("/")[-1] in {p.name for p in metadata_files}
    assert len(metadata_files) > len(table.metadata.metadata_log) + 1  # the orphaned new metadata
    assert keys_of(tables, DAY) == ["old1", "old2"]
    assert publish(table, {DAY: [new_file]}).previous_snapshot_id == before.snapshot_id  # and a retry lands


def test_concurrent_writers_of_different_partitions_both_land(tmp_path, postgres):
    tables = lake_tables(str(tmp_path / "lake"), postgres)
    publish(tables.table("silver"), {DAY: stage(tables, DAY, ["seed"])})
    days = [f"2016-02-{d:02d}" for d in range(1, 9)]
    files = {d: stage(tables, d, [f"{d}-{i}" for i in range(3)]) for d in days}
    barrier, outcomes = threading.Barrier(len(days)), {}

    def writer(day):
        table = tables.table("silver")  # every writer plans on the same snapshot
        barrier.wait()
        outcomes[day] = publish(table, {day: files[day]})

    threads = [threading.Thread(target=writer, args=(d,)) for d in days]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert set(outcomes) == set(days)
    assert sum(o.attempts for o in outcomes.values()) > len(days)  # some lost the race and re-planned
    assert len({o.snapshot_id for o in outcomes.values()}) == len(days)
    for day in [DAY, *days]:
        assert keys_of(tables, day) == (["seed"] if day == DAY else [f"{day}-{i}" for i in range(3)])


def test_concurrent_writers_of_the_same_partition_apply_one_after_the_other(tmp_path, postgres):
    tables = lake_tables(str(tmp_path / "lake"), postgres)
    base = publish(tables.table("silver"), {DAY: stage(tables, DAY, ["base"])})
    stale = tables.table("silver")  # writer A planned on the base snapshot...
    b = publish(tables.table("silver"), {DAY: stage(tables, DAY, ["b1", "b2"])})  # ...B commits first
    a = publish(stale, {DAY: stage(tables, DAY, ["a1"])})
    assert b.previous_snapshot_id == base.snapshot_id
    assert a.attempts == 2 and a.previous_snapshot_id == b.snapshot_id and a.removed_files == {DAY: 1}
    assert keys_of(tables, DAY) == ["a1"]  # the later writer's partition, whole: nothing mixed or doubled
    assert keys_of(tables, DAY, b.snapshot_id) == ["b1", "b2"]


def test_maintenance_keeps_current_and_leased_files_and_removes_the_rest(tmp_path, postgres):
    tables = lake_tables(str(tmp_path / "lake"), postgres)
    lake = tables.lake
    old = stage(tables, DAY, ["v1"])
    publish(tables.table("silver"), {DAY: old})
    current = stage(tables, DAY, ["v2"])
    last = publish(tables.table("silver"), {DAY: current})
    in_progress = new_version()
    lake.take_lease("silver", in_progress)
    leased = stage(tables, DAY, ["writing"], version=in_progress)
    report = maintain(tables.table("silver"), lake, "silver", timedelta(days=1),
                      now=datetime.now(timezone.utc) + timedelta(days=3))
    table = tables.table("silver")
    assert report.expired_snapshots >= 1 and [s.snapshot_id for s in table.metadata.snapshots] == [last.snapshot_id]
    assert lake.fs_path(old[0]) in report.removed_files
    assert all(os.path.exists(lake.fs_path(p)) for p in current + leased)
    assert keys_of(tables, DAY) == ["v2"] and report.kept_leased >= 1
    assert os.path.exists(table.metadata_location)


def test_a_contract_column_added_is_a_schema_update_not_a_rewrite(tmp_path, postgres, monkeypatch):
    from tripclick_assets.lib.lake import tables as table_module
    from tripclick_assets.lib.quality.rules import schema_matches

    tables = lake_tables(str(tmp_path / "lake"), postgres)
    publish(tables.table("silver"), {DAY: stage(tables, DAY, ["k"])})
    files_before = partition_files(tables, "silver", DAY)
    mtime = os.path.getmtime(files_before[0])
    wider = SILVER_COLUMNS + (("referrer", "string"),)
    monkeypatch.setitem(table_module.LAYERS, "silver", wider)
    assert "referrer" not in tables.table("silver").schema().column_names  # readers see the table as it is
    table = tables.table("silver", evolve=True)  # a writer evolves it to the contract
    assert table.schema().find_field("referrer")
    assert partition_files(tables, "silver", DAY) == files_before and os.path.getmtime(files_before[0]) == mtime
    assert read_partition(tables, "silver", DAY, ["dedup_key", "referrer"]).to_pylist() == [
        {"dedup_key": "k", "referrer": None}]
    assert schema_matches(table_module.table_arrow_schema(table), wider).passed


@pytest.fixture(scope="module")
def moto_s3():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        import boto3

        deadline = time.monotonic() + 20
        while True:
            try:
                client = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                                      aws_access_key_id="test", aws_secret_access_key="test")
                client.create_bucket(Bucket="tripclick-lake")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_table_on_s3_reads_back(moto_s3, postgres, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    tables = lake_tables("s3a://tripclick-lake/prod", postgres, s3_endpoint_url=moto_s3, s3_region="us-east-1")
    assert tables.lake.spark_uri(tables.lake.staging_dir("silver", "v")).startswith("s3a://tripclick-lake/prod/silver/")
    exercise(tables, {"aws_endpoint_url": moto_s3, "aws_region": "us-east-1", "aws_allow_http": "true",
                      "aws_access_key_id": "test", "aws_secret_access_key": "test"})
    table = tables.table("silver")
    assert table.metadata_location.startswith("s3://tripclick-lake/prod/silver/metadata/")
    assert all(f.startswith("s3://tripclick-lake/prod/silver/data/") for f in partition_files(tables, "silver", DAY))
