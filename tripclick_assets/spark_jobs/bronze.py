"""Kafka offset ranges -> bronze partitions (every record, Kafka metadata, parse errors kept).

Each Spark task reads one offset range with confluent-kafka (no Spark Kafka connector is
needed), turns it into Arrow (``lib.bronze_records.bronze_batch``) and writes its rows
straight to the lake's staging directory with pyarrow, one file per day it touched; only
the per-day counts travel back to the driver (handing the rows to the JVM to write them
would cost more than reading them: benchmarks/README.md). The job only
stages: it returns each day's staged files, and the Dagster side audits them and publishes
them to the bronze Iceberg table in one commit (so the Spark image needs no pyiceberg).

Files are named by task and sequence, so a retried task overwrites its own files.
Records whose event_date is not a requested day (another day's record inside these
ranges) are counted, not written.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from tripclick_assets.lib.lake.store import Lake, LakeLocation, new_version
from tripclick_assets.lib.spark.jobs import BronzeDay, BronzeParams, BronzeResult

LAYER = "bronze"
# Ranges longer than this are split so both cores share a big day.
MAX_OFFSETS_PER_TASK = 200_000


def plan_tasks(topic: str, ranges_by_date: dict, max_offsets: int = MAX_OFFSETS_PER_TASK) -> list[tuple]:
    """Merge every day's ranges per partition (ranges of a range run may touch or overlap) and split."""
    by_partition: dict[int, list[list[int]]] = {}
    for partitions in ranges_by_date.values():
        for p, (first, last) in partitions.items():
            by_partition.setdefault(int(p), []).append([int(first), int(last)])
    tasks = []
    for p, intervals in sorted(by_partition.items()):
        merged: list[list[int]] = []
        for first, last in sorted(intervals):
            if merged and first <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        for first, last in merged:
            for start in range(first, last + 1, max_offsets):
                tasks.append((topic, p, start, min(start + max_offsets - 1, last)))
    return tasks


TASK_STATS_DDL = "day string, rows bigint, parse_errors bigint, files int"
# Rows buffered per day before a task writes a file (bounds a task's memory).
ROWS_PER_FILE = 250_000


class _DayFiles:
    """A task's Parquet files under ``staging/_partition=DAY/``, written ROWS_PER_FILE rows at a time."""

    def __init__(self, lake: Lake, staging: str, task_index: int, days: set[str]):
        self.lake, self.staging, self.task_index, self.days = lake, staging, task_index, days
        self.pending: dict[str, list] = {}
        self.stats: dict[str | None, list[int]] = {}  # day (None: not requested) -> [rows, parse_errors, files]

    def add(self, batch) -> None:
        import pyarrow.compute as pc

        dates = batch.column("event_date")
        firsts = dates.unique()
        if len(firsts) == 1 and dates.null_count == 0:
            parts = [(firsts[0].as_py().isoformat(), batch)]
        else:
            parts = [(d.as_py().isoformat() if d.is_valid else None,
                      batch.filter(pc.equal(dates, d) if d.is_valid else pc.is_null(dates))) for d in firsts]
        for day, rows in parts:
            key = day if day in self.days else None
            stats = self.stats.setdefault(key, [0, 0, 0])
            stats[0] += rows.num_rows
            stats[1] += rows.num_rows - rows.column("parse_error").null_count
            if key is None:
                continue
            pending = self.pending.setdefault(day, [])
            pending.append(rows)
            if sum(b.num_rows for b in pending) >= ROWS_PER_FILE:
                self._write(day)

    def _write(self, day: str) -> None:
        import posixpath

        import pyarrow as pa
        import pyarrow.parquet as pq

        batches = self.pending.pop(day, [])
        if not batches:
            return
        stats = self.stats[day]
        directory = posixpath.join(self.staging, f"_partition={day}")
        self.lake.fs.create_dir(directory, recursive=True)
        path = posixpath.join(directory, f"part-{self.task_index:05d}-{stats[2]:04d}.parquet")
        pq.write_table(pa.Table.from_batches(batches), path, filesystem=self.lake.fs, compression="zstd")
        stats[2] += 1

    def close(self) -> list[dict]:
        for day in list(self.pending):
            self._write(day)
        return [{"day": day, "rows": rows, "parse_errors": errors, "files": files}
                for day, (rows, errors, files) in self.stats.items()]


def _write_tasks(lake_params: dict, staging: str, kafka_config: dict, ranges_by_date: dict, ingested_at: datetime):
    """mapInArrow function: task rows in, per-day counts out (runs in Spark's Python workers)."""

    def write(batches):
        import pyarrow as pa

        from tripclick_assets.lib.lake.bronze_records import DateAttribution, bronze_batch
        from tripclick_assets.lib.kafka.ranges import OffsetRange, consumer_config, read_range

        lake = Lake(LakeLocation.from_params(lake_params))
        attribution = DateAttribution(ranges_by_date)
        config = consumer_config(kafka_config["bootstrap.servers"], kafka_config)
        for batch in batches:
            for task in batch.to_pylist():
                files = _DayFiles(lake, staging, task["index"], set(ranges_by_date))
                offset_range = OffsetRange(task["topic"], task["partition"], task["first"], task["last"])
                for messages in read_range(config, offset_range):
                    files.add(bronze_batch(messages, attribution, ingested_at))
                stats = files.close()
                if stats:
                    yield pa.RecordBatch.from_pylist(stats, schema=pa.schema([
                        ("day", pa.string()), ("rows", pa.int64()), ("parse_errors", pa.int64()), ("files", pa.int32()),
                    ]))

    return write


def run(spark, params: BronzeParams) -> BronzeResult:
    """params: lake, kafka (client config), topic, ranges_by_date {D: {p: [first, last]}}."""
    started = time.monotonic()
    lake = Lake(params.lake)
    ranges_by_date = params.ranges_by_date
    dates = sorted(ranges_by_date)
    version = params.version or new_version()
    ingested_at = datetime.now(timezone.utc)
    tasks = plan_tasks(params.topic, ranges_by_date)
    staging = lake.staging_dir(LAYER, version)

    stats = {d: {"rows": 0, "parse_errors": 0, "files": 0} for d in dates}
    other_dates = 0
    if tasks:
        rows = [(i, *task) for i, task in enumerate(tasks)]
        task_df = spark.createDataFrame(rows, "index int, topic string, partition int, first bigint, last bigint")
        write = _write_tasks(lake.location.to_params(), staging, params.kafka, ranges_by_date, ingested_at)
        for row in task_df.repartition(len(tasks)).mapInArrow(write, TASK_STATS_DDL).collect():
            if row["day"] not in stats:
                other_dates += row["rows"]
                continue
            day = stats[row["day"]]
            day["rows"] += row["rows"]
            day["parse_errors"] += row["parse_errors"]
            day["files"] += row["files"]
    staged = lake.staged_files(staging)
    by_date = {}
    for day in dates:
        files = staged.get(day, [])
        s = stats[day]
        by_date[day] = BronzeDay(rows=s["rows"], parsed_rows=s["rows"] - s["parse_errors"],
                                 parse_errors=s["parse_errors"], files=len(files),
                                 path=lake.uri(f"{staging}/_partition={day}"),
                                 bytes=lake.files_bytes(files), staged_files=files)
    return BronzeResult(
        layer=LAYER,
        version=version,
        tasks=len(tasks),
        by_date=by_date,
        rows_of_other_dates=other_dates,
        seconds=round(time.monotonic() - started, 3),
    )


if __name__ == "__main__":
    from tripclick_assets.spark_jobs._job import run_as_script

    run_as_script(BronzeParams, run)
