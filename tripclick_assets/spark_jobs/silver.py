"""Bronze partitions -> silver: typed, normalised, one row per dedup_key (the earliest Kafka record).

Parse errors stay in bronze. Every expression runs in the JVM (no Python UDF), including the
clinical-area canonicalisation, which looks spellings up in the alias table of
:mod:`tripclick_assets.lib.source.clinical_areas` by the same normalised key.
"""

from __future__ import annotations

import posixpath
import time

from tripclick_assets.lib.lake.store import Lake, new_version
from tripclick_assets.lib.lake.schema import BRONZE_COLUMNS, SILVER_COLUMNS, column_names, spark_ddl
from tripclick_assets.lib.spark.jobs import SilverDay, SilverParams, SilverResult

LAYER = "silver"


class CorruptPartitionError(RuntimeError):
    pass


def verify_parquet_files(lake: Lake, files: list[str], layer: str, day: str) -> tuple[int, int]:
    """Read every footer first, so a broken file fails the job naming that file (and nothing is written).

    Returns (rows, rows whose parse_error is null), from the footers' row counts and null
    counts (the column is read only when a file has no statistics).
    """
    import pyarrow.parquet as pq

    rows = parsed = 0
    for path in files:
        try:
            with lake.fs.open_input_file(lake.fs_path(path)) as handle:
                parquet = pq.ParquetFile(handle)
                rows += parquet.metadata.num_rows
                parsed += _null_count(parquet, "parse_error")
        except Exception as exc:  # pyarrow raises several types for a bad footer
            raise CorruptPartitionError(
                f"{layer} partition event_date={day}: corrupt Parquet file {path}: {exc}"
            ) from None
    return rows, parsed


def _null_count(parquet, column: str) -> int:
    metadata = parquet.metadata
    index = parquet.schema_arrow.get_field_index(column)
    if index < 0:
        return metadata.num_rows
    total = 0
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(index).statistics
        if stats is None or not stats.has_null_count:
            return parquet.read(columns=[column]).column(0).null_count
        total += stats.null_count
    return total


def silver_frame(bronze):
    """The silver rows of a bronze DataFrame (typing, normalisation, dedup)."""
    from pyspark.sql import functions as F

    from tripclick_assets.lib.source.clinical_areas import ALIASES

    alias_map = F.create_map(*[F.lit(x) for pair in sorted(ALIASES.items()) for x in pair])
    raw_areas = F.filter(F.split(F.coalesce("clinical_areas", F.lit("")), ","), lambda x: F.trim(x) != "")
    areas = F.array_distinct(F.transform(
        raw_areas,
        lambda x: F.coalesce(F.try_element_at(alias_map, F.regexp_replace(F.lower(x), "[^a-z0-9]", "")), F.trim(x)),
    ))
    docs = F.col("documents")
    legacy = F.filter(F.split(F.regexp_replace(docs, '^"|"$', ""), ","), lambda x: F.trim(x).rlike("^[0-9]+"))
    documents = (
        F.when(docs.isNull() | docs.isin("null", '""', "[]"), F.array().cast("array<bigint>"))
        .when(docs.startswith("["), F.coalesce(F.from_json(docs, "array<bigint>"), F.array().cast("array<bigint>")))
        .otherwise(F.transform(legacy, lambda x: F.regexp_extract(x, r"^\s*([0-9]+)", 1).cast("bigint")))
    )
    # De-duplicate first (it needs only the key and the Kafka position), then type the survivors.
    typed = earliest_per_dedup_key(bronze.where(F.col("parse_error").isNull())).select(
        "event_date",
        F.to_timestamp("event_ts", "yyyy-MM-dd'T'HH:mm:ss.SSSX").alias("event_ts"),
        "session_id",
        "document_id",
        "url",
        "title",
        F.nullif(F.col("doi"), F.lit("")).alias("doi"),
        areas.alias("clinical_areas"),
        F.nullif(F.col("keywords"), F.lit("")).alias("keywords"),
        documents.alias("documents"),
        "dedup_key", "server", "source_file", "source_line",
        "kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp", "ingested_at",
    )
    return typed.select(*column_names(SILVER_COLUMNS))


def earliest_per_dedup_key(rows):
    """One row per dedup_key: the earliest Kafka record (kafka_timestamp, then partition, then offset).

    Duplicates are a few percent of a day, so only the rows of repeated keys (found by a hash
    aggregation, broadcast back) are ranked; sorting the whole day by key to rank every row
    took about half the job.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    repeated = F.broadcast(rows.groupBy("dedup_key").count().where("count > 1").select("dedup_key"))
    earliest = Window.partitionBy("dedup_key").orderBy("kafka_timestamp", "kafka_partition", "kafka_offset")
    ranked = (rows.join(repeated, "dedup_key", "left_semi")
                  .withColumn("_rank", F.row_number().over(earliest)).where("_rank = 1").drop("_rank"))
    return rows.join(repeated, "dedup_key", "left_anti").unionByName(ranked)


def run(spark, params: SilverParams) -> SilverResult:
    """params: lake, dates, bronze_files {D: [current bronze files]}. Stages silver; publishes nothing."""
    from pyspark.sql import functions as F

    started = time.monotonic()
    lake = Lake(params.lake)
    dates = sorted(params.dates)
    version = params.version or new_version()
    files, bronze_counts = [], {}
    for day in dates:
        if day not in params.bronze_files:
            raise CorruptPartitionError(f"bronze partition event_date={day} has not been materialized")
        day_files = params.bronze_files[day]
        bronze_counts[day] = verify_parquet_files(lake, day_files, "bronze", day)
        files += day_files

    if files:
        bronze = spark.read.schema(spark_ddl(BRONZE_COLUMNS)).parquet(*[lake.spark_uri(f) for f in files])
    else:
        bronze = spark.createDataFrame([], spark_ddl(BRONZE_COLUMNS))
    staging = lake.staging_dir(LAYER, version)
    silver = silver_frame(bronze)
    if len(dates) == 1:
        # Bronze D holds only rows of D: write the one partition directly, without the
        # per-task sort that partitionBy does.
        silver.where(F.col("event_date") == F.lit(dates[0]).cast("date")).write.parquet(
            lake.spark_uri(posixpath.join(staging, f"_partition={dates[0]}")))
    else:
        silver.withColumn("_partition", F.date_format("event_date", "yyyy-MM-dd")).write.partitionBy(
            "_partition").parquet(lake.spark_uri(staging))
    staged = lake.staged_files(staging)
    by_date = {}
    for day in dates:
        day_files = staged.get(day, [])
        rows = lake.row_count(day_files)
        total, parsed = bronze_counts[day]
        by_date[day] = SilverDay(
            rows=rows, bronze_rows=total, bronze_parsed_rows=parsed, duplicates_removed=parsed - rows,
            path=lake.uri(f"{staging}/_partition={day}"), bytes=lake.files_bytes(day_files), staged_files=day_files,
        )
    return SilverResult(layer=LAYER, version=version, by_date=by_date, seconds=round(time.monotonic() - started, 3))


if __name__ == "__main__":
    from tripclick_assets.spark_jobs._job import run_as_script

    run_as_script(SilverParams, run)
