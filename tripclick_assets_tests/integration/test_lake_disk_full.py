"""Disk full while writing a lake partition: a clear error, the previous partition intact, no staging left.

The lake lives on a small tmpfs of its own. A partition is first published; then a
re-materialization of one layer runs out of space: before it starts (the staging lease
cannot be written), while Spark stages the day's Parquet files (bronze: pyarrow in the
Python workers; silver: the JVM's Parquet writer), or while pyiceberg writes the commit's
manifests and metadata. The space is taken by a preallocated file (``posix_fallocate``):
before the step, just before the Spark job (leaving less room than the day's files need,
so the write fails part-way) or just after it (leaving none). Removing the file frees the
space again, and a re-run then lands.

Mounting needs root; a machine that cannot skips (``TRIPCLICK_REQUIRE_REMOTE_TESTS=1``, as in
CI, fails instead).
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from tripclick_assets.defs.ingestion.assets import tripclick_raw_logs
from tripclick_assets.defs.lake.assets import bronze_events, silver_events
from tripclick_assets.lib.lake.maintenance import remove_orphans
from tripclick_assets.lib.lake.reads import partition_files, read_partition
from tripclick_assets.resources.producers import SyntheticSource
from tripclick_assets.resources.spark import LocalSparkResource
from tripclick_assets_tests.integration.lineage_support import lineage_resources

pytestmark = pytest.mark.slow
DAY = "2016-04-03"
LAKE_SIZE = 48 * 1024 * 1024
LEAVE_FOR_STAGING = 96 * 1024  # room for the lease and part of a file, not for the day's files
FILLER = "disk_filler"
ASSETS = {"bronze": bronze_events, "silver": silver_events}


def unavailable(reason: str):
    if os.environ.get("TRIPCLICK_REQUIRE_REMOTE_TESTS") == "1":
        pytest.fail(f"{reason} (TRIPCLICK_REQUIRE_REMOTE_TESTS=1 turns this skip into a failure)")
    pytest.skip(reason)


def free_bytes(directory: Path) -> int:
    stat = os.statvfs(directory)
    return stat.f_bavail * stat.f_frsize


def fill(directory: Path, leave: int) -> None:
    """Take all but ``leave`` bytes of the file system of ``directory`` (one preallocated file)."""
    size = free_bytes(directory) - leave
    if size > 0:  # (a retried step finds it full already)
        with open(directory / FILLER, "ab") as handle:
            os.posix_fallocate(handle.fileno(), os.fstat(handle.fileno()).st_size, size)
    assert free_bytes(directory) <= leave


def free(directory: Path) -> None:
    (directory / FILLER).unlink(missing_ok=True)


class FillingSpark(LocalSparkResource):
    """Local Spark, with the lake's file system filled just before (``before``) or after (``after``) the job."""

    fill_dir: str
    when: str
    leave: int = 0

    def run_job(self, context, job, params):
        if self.when == "before":
            fill(Path(self.fill_dir), self.leave)
        result = super().run_job(context, job, params)
        if self.when == "after":
            fill(Path(self.fill_dir), self.leave)
        return result


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory, broker, postgres, spark):
    """A published day (producer, bronze, silver) in a lake on its own small tmpfs."""
    if os.geteuid() != 0:
        unavailable("mounting a small tmpfs for the lake needs root")
    home = tmp_path_factory.mktemp("disk_full")
    lake_dir = home / "lake"
    lake_dir.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={LAKE_SIZE}", "tmpfs", str(lake_dir)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        unavailable(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        resources = lineage_resources(home, broker, postgres, topic="disk_full",
                                      synthetic=SyntheticSource(volume=6000, bot_sessions=0))
        with dg.instance_for_test() as instance:
            assets = [tripclick_raw_logs, bronze_events, silver_events]
            assert dg.materialize(assets, resources=resources, instance=instance, partition_key=DAY).success
            yield resources, instance, lake_dir
    finally:
        free(lake_dir)
        if subprocess.run(["umount", str(lake_dir)]).returncode != 0:
            subprocess.run(["umount", "-l", str(lake_dir)], check=True)  # busy: detach it now, freed when closed


def tree(directory: Path) -> set[str]:
    """Every file and directory under ``directory``, relative to it."""
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


def state(tables, layer: str) -> dict:
    table = tables.table(layer)
    rows = read_partition(tables, layer, DAY).sort_by([("kafka_partition", "ascending"),
                                                        ("kafka_offset", "ascending")])
    return {"snapshot_id": table.current_snapshot().snapshot_id, "rows": rows}


def failure_text(result) -> str:
    (event,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    data = event.step_failure_data
    return data.user_failure_data.description if data.user_failure_data else data.error.message


DOING = {"start": "while taking the staging lease", "staging": "while staging", "commit": "while committing"}


@pytest.mark.parametrize("layer", ["bronze", "silver"])
@pytest.mark.parametrize("phase", ["start", "staging", "commit"])
def test_disk_full_while_writing_a_partition_keeps_the_previous_one_and_leaves_no_staging(
    small_lake, layer, phase
):
    """``start``: full before the step; ``staging``: full part-way through Spark's write; ``commit``: full
    once the files are staged, so pyiceberg cannot write the commit's manifests."""
    resources, instance, lake_dir = small_lake
    tables = resources["lake"].tables()
    data_dir, metadata_dir = lake_dir / layer / "data", lake_dir / layer / "metadata"
    before = {name: state(tables, name) for name in ASSETS}
    files_before, metadata_before = tree(data_dir), tree(metadata_dir)
    day_bytes = tables.lake.files_bytes(partition_files(tables, layer, DAY))
    assert day_bytes > 2 * LEAVE_FOR_STAGING, "the day's files must not fit in the space left"

    spark = FillingSpark(spark_config=resources["spark"].spark_config, fill_dir=str(lake_dir),
                         when={"start": "never", "staging": "before", "commit": "after"}[phase],
                         leave=LEAVE_FOR_STAGING if phase == "staging" else 0)
    try:
        if phase == "start":
            fill(lake_dir, 0)
        result = dg.materialize([ASSETS[layer]], resources={**resources, "spark": spark}, instance=instance,
                                partition_key=DAY, raise_on_error=False)
        assert not result.success
        message = failure_text(result)
        # A clear error: the cause, the layer and day, the path, what it was doing; not a JVM stack trace.
        assert "the filesystem is full (No space left on device)" in message, message[-3000:]
        assert f"{layer} event_date {DAY}" in message and str(lake_dir / layer) in message, message
        assert DOING[phase] in message, message
        assert len(message) < 1000 and "at org.apache" not in message, message
        assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]  # no retry

        if phase == "staging":  # a task Spark killed when the job failed would have written by now
            time.sleep(3)
        # The published partitions are intact: the same snapshot, the same rows.
        for name, seen in before.items():
            now = state(tables, name)
            assert now["snapshot_id"] == seen["snapshot_id"]
            assert now["rows"].equals(seen["rows"])
        assert read_partition(tables, layer, DAY, snapshot_id=before[layer]["snapshot_id"]).num_rows \
            == before[layer]["rows"].num_rows
        # No staging left behind (nor a lease); what a failed commit wrote is unreferenced, for maintenance.
        assert tree(data_dir) == files_before
        assert not list((data_dir / "_in_progress").iterdir())
        written = tree(metadata_dir) - metadata_before
        if phase != "commit":
            assert not written
        orphans = remove_orphans(tables.table(layer), tables.lake, layer, timedelta(seconds=1),
                                 now=time.time() + 60, dry_run=True).removed_files
        assert {str(metadata_dir / p) for p in written} <= set(orphans)
    finally:
        free(lake_dir)

    # With the space back, a re-run lands: a new snapshot with the same rows.
    assert dg.materialize([ASSETS[layer]], resources=resources, instance=instance, partition_key=DAY).success
    after = state(tables, layer)
    assert after["snapshot_id"] != before[layer]["snapshot_id"]
    assert after["rows"].drop_columns(["ingested_at"]).equals(before[layer]["rows"].drop_columns(["ingested_at"]))
