"""Bronze and silver: the Kafka records of each event_date as Iceberg tables in the lake."""

import dagster as dg

from tripclick_assets.defs import keys
from tripclick_assets.defs.lake.publishing import audit_and_publish, staging_lease
from tripclick_assets.defs.metadata import add_per_partition, latest_partition_metadata
from tripclick_assets.defs.retries import IO_RETRY
from tripclick_assets.defs.partitions import event_date_partitions, range_backfill
from tripclick_assets.resources.kafka import KafkaResource
from tripclick_assets.resources.lake import LakeResource
from tripclick_assets.resources.spark import SparkResource

def producer_offset_ranges(context: dg.AssetExecutionContext) -> dict[str, dict]:
    """The offset ranges the producer step acknowledged for each partition of this run."""
    ranges = {}
    for day in context.partition_keys:
        metadata = latest_partition_metadata(context.instance, keys.RAW_LOGS, day)
        if metadata is None or "offset_ranges" not in metadata:
            raise dg.Failure(
                f"tripclick_raw_logs has no materialization with offset ranges for {day}; materialize it first"
            )
        ranges[day] = metadata["offset_ranges"]
    return ranges


@dg.asset(
    key=keys.BRONZE,
    deps=[keys.RAW_LOGS],
    description="Every Kafka record of the day's offset ranges with its Kafka metadata; duplicates and parse errors kept.",
    group_name="lake",
    kinds={"spark", "iceberg"},
    partitions_def=event_date_partitions,
    backfill_policy=range_backfill,
    retry_policy=IO_RETRY,
)
def bronze_events(
    context: dg.AssetExecutionContext, kafka: KafkaResource, lake: LakeResource, spark: SparkResource
) -> dg.MaterializeResult:
    """Lands the producer's exact Kafka offset ranges for the day, audited, as one bronze table commit."""
    ranges = producer_offset_ranges(context)
    with staging_lease(lake, "bronze", context.partition_keys) as (version, outcome):
        from tripclick_assets.lib.spark.jobs import BronzeParams, SilverParams  # msgspec: loaded when a step runs, not at code-server load
        result = spark.run_job(context, "bronze", BronzeParams(
            lake=lake.location(),
            kafka=kafka.client_config(),
            topic=kafka.topic,
            ranges_by_date=ranges,
            version=version,
        ))
        figures = {d: {"rows": s.rows, "parsed_rows": s.parsed_rows, "parse_errors": s.parse_errors, "files": s.files}
                   for d, s in result.by_date.items()}
        commit = audit_and_publish(context, lake, "bronze", keys.BRONZE,
                                   {d: s.staged_files for d, s in result.by_date.items()}, figures, outcome)
    add_per_partition(context, {
        day: {
            "dagster/row_count": s.rows,
            "parsed_rows": s.parsed_rows,
            "parse_errors": s.parse_errors,
            "bytes": s.bytes,
            "files": s.files,
            **commit,
        }
        for day, s in result.by_date.items()
    })
    return dg.MaterializeResult(metadata={
        **commit,
        "spark_seconds": result.seconds,
        "spark_tasks": result.tasks,
        "rows_of_other_dates": result.rows_of_other_dates,
    })


@dg.asset(
    key=keys.SILVER,
    deps=[keys.BRONZE],
    description="Typed, normalised TripClick events: one row per dedup_key (the earliest Kafka record).",
    group_name="lake",
    kinds={"spark", "iceberg"},
    partitions_def=event_date_partitions,
    backfill_policy=range_backfill,
    retry_policy=IO_RETRY,
)
def silver_events(context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource) -> dg.MaterializeResult:
    """Types, normalises and de-duplicates the day's bronze records, audited, as one silver table commit."""
    days = list(context.partition_keys)
    tables = lake.tables()
    bronze_files = current_bronze_files(tables, days)
    with staging_lease(lake, "silver", days) as (version, outcome):
        from tripclick_assets.lib.spark.jobs import BronzeParams, SilverParams  # msgspec: loaded when a step runs, not at code-server load
        result = spark.run_job(context, "silver", SilverParams(
            lake=lake.location(), dates=days, bronze_files=bronze_files, version=version,
        ))
        figures = {d: silver_figures(s) for d, s in result.by_date.items()}
        commit = audit_and_publish(context, lake, "silver", keys.SILVER,
                                   {d: s.staged_files for d, s in result.by_date.items()}, figures, outcome)
    add_per_partition(context, {
        day: {
            "dagster/row_count": s.rows,
            **{k: dg.MetadataValue.json(v) if isinstance(v, dict) else v
               for k, v in silver_figures(s).items() if k != "rows"},
            "bytes": s.bytes,
            **commit,
        }
        for day, s in result.by_date.items()
    })
    return dg.MaterializeResult(metadata={**commit, "spark_seconds": result.seconds})


def silver_figures(day) -> dict:
    """A silver day's accounting: parsed bronze rows = rows + duplicates removed + rejected rows.

    The candidate's figures in the audit (``source.figures``) and the partition's metadata
    after the publish, which ``silver_rejected_rows`` reads when it runs as a check.
    """
    return {
        "rows": day.rows,
        "bronze_parsed_rows": day.bronze_parsed_rows,
        "duplicates_removed": day.duplicates_removed,
        "rejected_rows": day.rejected_rows,
        "rejected_by_reason": day.rejected_by_reason,
        "dropped_document_ids": day.dropped_document_ids,
        "dropped_document_ids_by_reason": day.dropped_document_ids_by_reason,
    }


def current_bronze_files(tables, days: list[str]) -> dict[str, list[str]]:
    """Each day's bronze data files in the table's current snapshot: Spark reads exactly these."""
    from tripclick_assets.lib.lake.publish import current_files

    table = tables.table("bronze")
    if table.current_snapshot() is None:
        raise dg.Failure(f"bronze_events has no published partition for {days}; materialize it first")
    by_day = current_files(table, days)
    return {day: sorted(f.file_path for f in files) for day, files in by_day.items()}
