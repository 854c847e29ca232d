"""Bronze partitions -> silver: typed, normalised, one row per dedup_key (the earliest Kafka record).

Parse errors stay in bronze. Every expression runs in the JVM (no Python UDF), including the
clinical-area canonicalisation, which looks spellings up in the alias table of
:mod:`tripclick_assets.lib.clinical_areas` by the same normalised key.
"""

from __future__ import annotations

import time

from tripclick_assets.lib.lake import Lake, LakeLocation, new_version
from tripclick_assets.lib.lake_schema import BRONZE_COLUMNS, SILVER_COLUMNS, arrow_schema, column_names, spark_ddl

LAYER = "silver"


class CorruptPartitionError(RuntimeError):
    pass


def verify_parquet_files(lake: Lake, files: list[str], layer: str, day: str) -> None:
    """Read every footer first, so a broken file fails the job naming that file (and nothing is written)."""
    import pyarrow.parquet as pq

    for path in files:
        try:
            with lake.fs.open_input_file(path) as handle:
                pq.ParquetFile(handle).metadata  # noqa: B018 - reading the footer is the check
        except Exception as exc:  # pyarrow raises several types for a bad footer
            raise CorruptPartitionError(
                f"{layer} partition event_date={day}: corrupt Parquet file {path}: {exc}"
            ) from None


def silver_frame(bronze):
    """The silver rows of a bronze DataFrame (typing, normalisation, dedup)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from tripclick_assets.lib.clinical_areas import ALIASES

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
    typed = bronze.where(F.col("parse_error").isNull()).select(
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
    earliest = Window.partitionBy("dedup_key").orderBy("kafka_timestamp", "kafka_partition", "kafka_offset")
    return (typed.withColumn("_rank", F.row_number().over(earliest))
                 .where("_rank = 1").drop("_rank").select(*column_names(SILVER_COLUMNS)))


def run(spark, params: dict) -> dict:
    """params: lake (LakeLocation params), dates ["YYYY-MM-DD", ...]. Reads each date's current bronze."""
    from pyspark.sql import functions as F

    started = time.monotonic()
    lake = Lake(LakeLocation.from_params(params["lake"]))
    dates = sorted(params["dates"])
    version = params.get("version") or new_version()
    files = []
    for day in dates:
        current = lake.current_dir("bronze", day)
        if current is None:
            raise CorruptPartitionError(f"bronze partition event_date={day} has not been materialized")
        day_files = lake.data_files(current)
        verify_parquet_files(lake, day_files, "bronze", day)
        files += day_files

    bronze = spark.read.schema(spark_ddl(BRONZE_COLUMNS)).parquet(*[lake.spark_uri(f) for f in files])
    bronze_counts = {
        r["d"]: (r["parsed"], r["total"])
        for r in bronze.groupBy(F.date_format("event_date", "yyyy-MM-dd").alias("d")).agg(
            F.count(F.when(F.col("parse_error").isNull(), 1)).alias("parsed"), F.count("*").alias("total")
        ).collect()
    }
    staging = lake.staging_dir(LAYER, version)
    silver = silver_frame(bronze).withColumn("_partition", F.date_format("event_date", "yyyy-MM-dd"))
    silver.write.partitionBy("_partition").parquet(lake.spark_uri(staging))
    staged = lake.staged_partitions(staging)
    schema = arrow_schema(SILVER_COLUMNS)
    by_date = {}
    for day in dates:
        rows = lake.row_count(staged[day]) if day in staged else 0
        parsed, total = bronze_counts.get(day, (0, 0))
        path = lake.commit(LAYER, day, staged.get(day), version, schema=schema)
        by_date[day] = {
            "rows": rows, "bronze_rows": total, "bronze_parsed_rows": parsed,
            "duplicates_removed": parsed - rows, "path": path, "bytes": lake.partition_bytes(path),
        }
    lake.remove_staging(LAYER, version)
    return {"layer": LAYER, "version": version, "by_date": by_date, "seconds": round(time.monotonic() - started, 3)}


if __name__ == "__main__":
    from tripclick_assets.spark_jobs._job import run_as_script

    run_as_script(LAYER, run)
