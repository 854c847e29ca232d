"""Partition replacement is atomic on a local disk and on S3 (moto server: no real S3 can run here)."""

import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tripclick_assets.lib.lake.store import Lake, LakeLocation, new_version
from tripclick_assets.lib.lake.schema import SILVER_COLUMNS, arrow_schema
from tripclick_assets_tests.conftest import free_port

DAY = "2016-01-01"


def stage(lake: Lake, rows: int) -> str:
    """Write a staged partition the way a job does, returning its directory."""
    staging = f"{lake.staging_dir('silver', new_version())}/_partition={DAY}"
    lake.fs.create_dir(staging, recursive=True)
    table = pa.table({"n": list(range(rows))})
    with lake.fs.open_output_stream(f"{staging}/part-00000.parquet") as handle:
        pq.write_table(table, handle)
    return staging


def read_current(lake: Lake) -> int:
    return lake.row_count(lake.current_dir("silver", DAY))


def exercise(lake: Lake, monkeypatch):
    assert lake.current_dir("silver", DAY) is None
    lake.commit("silver", DAY, stage(lake, 3), new_version())
    assert read_current(lake) == 3
    first = lake.current_version("silver", DAY)

    # A crash after the new version is in place but before the pointer swap: old stays current.
    def crash(*args, **kwargs):
        raise RuntimeError("killed before the pointer swap")

    with monkeypatch.context() as patched, pytest.raises(RuntimeError):
        patched.setattr(lake, "_swap_pointer", crash)
        lake.commit("silver", DAY, stage(lake, 5), new_version())
    assert lake.current_version("silver", DAY) == first and read_current(lake) == 3

    for rows in (7, 9):  # two more commits: garbage collection keeps current + previous only
        time.sleep(1.1)  # versions are ordered by their timestamp prefix
        lake.commit("silver", DAY, stage(lake, rows), new_version())
    assert read_current(lake) == 9
    from pyarrow import fs

    versions = [i.base_name for i in lake.fs.get_file_info(fs.FileSelector(lake.partition_dir("silver", DAY)))
                if i.type == fs.FileType.Directory]
    assert len(versions) == 2 and f"{lake.current_version('silver', DAY)}" in versions

    empty_day = "2016-01-02"
    lake.commit("silver", empty_day, None, new_version(), schema=arrow_schema(SILVER_COLUMNS))
    assert lake.row_count(lake.current_dir("silver", empty_day)) == 0


def test_local_partitions_swap_atomically(tmp_path, monkeypatch):
    exercise(Lake(LakeLocation(str(tmp_path / "lake"))), monkeypatch)


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


def test_s3_partitions_swap_atomically(moto_s3, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    lake = Lake(LakeLocation("s3a://tripclick-lake/prod", s3_endpoint_url=moto_s3, s3_region="us-east-1"))
    assert lake.spark_uri(lake.partition_dir("silver", DAY)).startswith("s3a://tripclick-lake/prod/silver/")
    exercise(lake, monkeypatch)
