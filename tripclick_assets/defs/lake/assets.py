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

def producer_days(context: dg.AssetExecutionContext) -> dict[str, dict]:
    """The latest tripclick_raw_logs metadata of each partition of this run (its offset ranges, counts, topic)."""
    produced = {}
    for day in context.partition_keys:
        metadata = latest_partition_metadata(context.instance, keys.RAW_LOGS, day)
        if metadata is None or "offset_ranges" not in metadata:
            raise dg.Failure(
                f"tripclick_raw_logs has no materialization with offset ranges for {day}; materialize it first"
            )
        produced[day] = metadata
    return produced


def producer_offset_ranges(context: dg.AssetExecutionContext) -> dict[str, dict]:
    """The offset ranges the producer step acknowledged for each partition of this run."""
    return {day: metadata["offset_ranges"] for day, metadata in producer_days(context).items()}


def _rematerialize(days) -> str:
    days = sorted(days)
    return (f"Re-materialize the producer step (tripclick_raw_logs) for {', '.join(days)}, then bronze_events; "
            "nothing was published (the bronze table keeps its current snapshot)")


def refuse_stale_ranges(context, kafka: KafkaResource, produced: dict[str, dict]) -> None:
    """Fails before anything is read when a day's offset ranges are offsets of another topic than the current one.

    The producer recorded the topic's name and id with the ranges; a topic deleted and created again,
    or a broker restarted with an empty store, has a new id and other records at the same offsets.
    A materialization without an id (older, or a broker that gives none) is not refused here; the
    audit still requires every acknowledged event in its ranges.
    """
    from tripclick_assets.lib.kafka.topics import TopicMissing

    try:
        current, exists = kafka.topic_id(), True
    except TopicMissing:
        current, exists = None, False
    stale, unverified = {}, []
    for day, metadata in sorted(produced.items()):
        recorded_topic, recorded_id = metadata.get("topic", kafka.topic), metadata.get("topic_id")
        if recorded_topic != kafka.topic:
            stale[day] = f"its offset ranges are offsets of topic {recorded_topic}, not of {kafka.topic}"
        elif not exists:
            stale[day] = f"topic {kafka.topic} no longer exists, so its offset ranges hold nothing"
        elif recorded_id is None:
            unverified.append(day)
        elif recorded_id != current:
            stale[day] = (f"its offset ranges are offsets of topic {kafka.topic} with id {recorded_id}, and the topic "
                          f"now has id {current} (deleted and created again, or the broker restarted with an empty "
                          "store): other records sit at those offsets")
    if unverified:
        context.log.warning(f"tripclick_raw_logs recorded no topic id for {unverified}: cannot tell whether "
                            f"{kafka.topic} was recreated since; the audit still counts every acknowledged event")
    if stale:
        raise dg.Failure(
            description="bronze_events refuses the producer's offset ranges: " + "; ".join(
                f"event_date {day}: {why}" for day, why in stale.items()) + ". " + _rematerialize(stale),
            metadata={"stale_days": dg.MetadataValue.json(sorted(stale)), "topic": kafka.topic,
                      "topic_id": current or "", "recorded_topic_ids": dg.MetadataValue.json(
                          {day: produced[day].get("topic_id") for day in sorted(stale)})},
            allow_retries=False,
        )


def staged_deliveries(lake: LakeResource, staged: dict[str, list[str]]) -> dict[str, dict]:
    """Each staged day's parsed rows, distinct events and repeated deliveries (``quality.delivery_figures``)."""
    from tripclick_assets.lib.lake.reads import StagedSource
    from tripclick_assets.lib.quality import rules as quality

    source = StagedSource(lake.tables(), "bronze", staged)
    return {day: quality.delivery_figures(source.read("bronze", day, list(quality.DELIVERY_COLUMNS)))
            for day in sorted(staged)}


def refuse_mismatched_records(produced: dict[str, dict], deliveries: dict[str, dict]) -> None:
    """Fails, before the candidate is published, when a day's ranges miss acknowledged events or hold others.

    The rule is ``bronze_rows_match_acknowledged``'s (the audit runs it again); here the failure
    names the days and says what to re-run. Repeated deliveries alone pass (a WARN in the check).
    """
    from tripclick_assets.lib.quality import rules as quality

    verdicts = {day: quality.deliveries_match(deliveries[day], produced.get(day)) for day in sorted(deliveries)}
    bad = {day: v for day, v in verdicts.items() if not v.passed and v.severity != "WARN"}
    if bad:
        raise dg.Failure(
            description="bronze_events: the records at the producer's offset ranges are not the events it "
                        "acknowledged: " + "; ".join(
                            f"event_date {day}: {v.description.replace('. ' + quality.REPRODUCE_THE_DAY, '')}"
                            for day, v in bad.items()) + ". " + _rematerialize(bad),
            metadata={"rejected_partitions": dg.MetadataValue.json(sorted(bad)),
                      "deliveries": dg.MetadataValue.json({day: v.metadata for day, v in bad.items()})},
            allow_retries=False,
        )


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
    produced = producer_days(context)
    refuse_stale_ranges(context, kafka, produced)
    ranges = {day: metadata["offset_ranges"] for day, metadata in produced.items()}
    with staging_lease(lake, "bronze", context.partition_keys) as (version, outcome):
        from tripclick_assets.lib.spark.jobs import BronzeParams, SilverParams  # msgspec: loaded when a step runs, not at code-server load
        result = spark.run_job(context, "bronze", BronzeParams(
            lake=lake.location(),
            kafka=kafka.client_config(),
            topic=kafka.topic,
            ranges_by_date=ranges,
            version=version,
        ))
        staged = {d: s.staged_files for d, s in result.by_date.items()}
        deliveries = staged_deliveries(lake, staged)
        refuse_mismatched_records(produced, deliveries)
        figures = {d: {"rows": s.rows, "parsed_rows": s.parsed_rows, "parse_errors": s.parse_errors, "files": s.files,
                       "deliveries": deliveries[d]}
                   for d, s in result.by_date.items()}
        commit = audit_and_publish(context, lake, "bronze", keys.BRONZE, staged, figures, outcome)
    add_per_partition(context, {
        day: {
            "dagster/row_count": s.rows,
            "parsed_rows": s.parsed_rows,
            "parse_errors": s.parse_errors,
            # the same event delivered again (silver keeps one); bronze_rows_match_acknowledged warns
            "repeated_deliveries": deliveries[day]["repeated_deliveries"],
            "events": deliveries[day]["events"],
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
