"""Kafka offset ranges -> bronze partitions (every record, Kafka metadata, parse errors kept).

Each Spark task reads one offset range with confluent-kafka (no Spark Kafka connector is
needed) and hands Arrow batches to the JVM; rows are written per event_date and each
requested partition is swapped in atomically.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from tripclick_assets.lib.lake import Lake, LakeLocation, new_version
from tripclick_assets.lib.lake_schema import BRONZE_COLUMNS, arrow_schema, spark_ddl

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


def _read_tasks(kafka_config: dict, ranges_by_date: dict, ingested_at: datetime):
    """mapInArrow function: task rows in, bronze Arrow batches out (runs in Spark's Python workers)."""

    def read(batches):
        import pyarrow as pa

        from tripclick_assets.lib.bronze_records import DateAttribution, bronze_columns
        from tripclick_assets.lib.kafka_ranges import OffsetRange, consumer_config, read_range

        schema = arrow_schema(BRONZE_COLUMNS)
        attribution = DateAttribution(ranges_by_date)
        config = consumer_config(kafka_config["bootstrap.servers"], kafka_config)
        for batch in batches:
            for task in batch.to_pylist():
                offset_range = OffsetRange(task["topic"], task["partition"], task["first"], task["last"])
                for messages in read_range(config, offset_range):
                    columns = bronze_columns(messages, attribution, ingested_at)
                    yield pa.RecordBatch.from_arrays([pa.array(columns[f.name], f.type) for f in schema], schema=schema)

    return read


def run(spark, params: dict) -> dict:
    """params: lake (LakeLocation params), kafka (client config), topic, ranges_by_date {D: {p: [first, last]}}."""
    from pyspark.sql import functions as F

    started = time.monotonic()
    lake = Lake(LakeLocation.from_params(params["lake"]))
    ranges_by_date = params["ranges_by_date"]
    dates = sorted(ranges_by_date)
    version = params.get("version") or new_version()
    ingested_at = datetime.now(timezone.utc)
    tasks = plan_tasks(params["topic"], ranges_by_date)
    staging = lake.staging_dir(LAYER, version)

    stats = {d: {"rows": 0, "parsed_rows": 0, "parse_errors": 0} for d in dates}
    other_dates = 0
    if tasks:
        task_df = spark.createDataFrame(tasks, "topic string, partition int, first bigint, last bigint")
        rows = task_df.repartition(len(tasks)).mapInArrow(
            _read_tasks(params["kafka"], ranges_by_date, ingested_at), spark_ddl(BRONZE_COLUMNS)
        )
        (rows.withColumn("_partition", F.date_format("event_date", "yyyy-MM-dd"))
             .write.partitionBy("_partition").parquet(lake.spark_uri(staging)))
    # Count from the written files (pyarrow), which also works when Spark wrote nothing.
    staged = lake.staged_partitions(staging)
    for day, directory in staged.items():
        if day not in stats:
            other_dates += lake.row_count(directory)  # another day's records inside these ranges
            continue
        errors = lake.read_columns(directory, ["parse_error"]).column("parse_error")
        stats[day].update(rows=len(errors), parsed_rows=errors.null_count, parse_errors=len(errors) - errors.null_count)

    schema = arrow_schema(BRONZE_COLUMNS)
    for day in dates:
        stats[day]["path"] = lake.commit(LAYER, day, staged.get(day), version, schema=schema)
        stats[day]["bytes"] = lake.partition_bytes(stats[day]["path"])
    lake.remove_staging(LAYER, version)
    return {
        "layer": LAYER,
        "version": version,
        "tasks": len(tasks),
        "by_date": stats,
        "rows_of_other_dates": other_dates,
        "seconds": round(time.monotonic() - started, 3),
    }


if __name__ == "__main__":
    from tripclick_assets.spark_jobs._job import run_as_script

    run_as_script(LAYER, run)
