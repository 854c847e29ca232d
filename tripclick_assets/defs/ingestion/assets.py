"""Producer step: each web server replays the day's TripClick logs into Kafka."""

from datetime import date

import dagster as dg
from pydantic import Field

from tripclick_assets.defs import keys
from tripclick_assets.defs.metadata import add_per_partition
from tripclick_assets.defs.retries import PRODUCER_RETRY
from tripclick_assets.defs.partitions import event_date_partitions, range_backfill
from tripclick_assets.lib.kafka.producer_summary import merge_by_day
from tripclick_assets.resources.kafka import KafkaResource
from tripclick_assets.resources.producers import ProducersResource

class ProducerRunConfig(dg.Config):
    mode: str = Field(default="batch", description="batch (as fast as possible) or realtime (paced by event_ts)")
    speedup: float = Field(default=24.0, gt=0, description="realtime only: 24 replays a day in an hour")


@dg.asset(
    key=keys.RAW_LOGS,
    description="TripClick click events replayed by every web server into the Kafka topic tripclick_raw_logs.",
    group_name="ingestion",
    kinds={"kafka", "python"},
    partitions_def=event_date_partitions,
    backfill_policy=range_backfill,
    retry_policy=PRODUCER_RETRY,
)
def tripclick_raw_logs(
    context: dg.AssetExecutionContext, config: ProducerRunConfig, kafka: KafkaResource, producers: ProducersResource
) -> dg.MaterializeResult:
    """Replays each server's share of the day's TripClick logs into Kafka."""
    if config.mode not in ("batch", "realtime"):
        raise dg.Failure(f"config.mode must be 'batch' or 'realtime', got {config.mode!r}")
    days = [date.fromisoformat(key) for key in context.partition_keys]
    kafka.ensure_topics()
    topic_id = kafka.topic_id()  # the offsets below are offsets of this incarnation of the topic
    summaries = producers.replay(context, days, kafka=kafka, mode=config.mode, speedup=config.speedup)
    by_day = merge_by_day(summaries)
    failed = sum(d["failed"] + d["quarantine_failed"] for d in by_day.values())
    if failed:
        raise dg.Failure(
            f"{failed} messages were not acknowledged by Kafka",
            metadata={"by_day": dg.MetadataValue.json(by_day)},
        )
    check_topic_unchanged(kafka, topic_id)
    if topic_id is None:
        context.log.warning(f"the broker gives no topic id for {kafka.topic}: bronze cannot tell whether the topic "
                            "is recreated later; it still counts every acknowledged event in the ranges")
    add_per_partition(context, {day: day_metadata(values, topic=kafka.topic, topic_id=topic_id)
                                for day, values in by_day.items()})
    return dg.MaterializeResult(metadata={
        "topic": kafka.topic,
        "servers": dg.MetadataValue.json({s["server"]: s["sent"] for s in summaries}),
        "seconds": round(max(s["seconds"] for s in summaries), 3),
    })


def check_topic_unchanged(kafka: KafkaResource, topic_id: str | None) -> None:
    """Fails the step when the topic was deleted or recreated while the producers replayed into it."""
    from tripclick_assets.lib.kafka.topics import TopicMissing

    try:
        now = kafka.topic_id()
    except TopicMissing:
        now = "(none: the topic no longer exists)"
    if now != topic_id:
        raise dg.Failure(
            f"topic {kafka.topic} changed during the replay (id {topic_id} before, {now} after: deleted or "
            "recreated, or the broker restarted with an empty store); the acknowledged offsets belong to a topic "
            "that is gone. Re-materialize tripclick_raw_logs for these days."
        )


def day_metadata(values: dict, *, topic: str | None = None, topic_id: str | None = None) -> dict:
    """A day's partition metadata: every source line accounted for (the ingestion checks read it).

    ``topic`` and ``topic_id`` say which topic the ``offset_ranges`` are offsets of: bronze refuses
    them once the topic has another id (recreated, or a broker that restarted with an empty store).
    """
    metadata = {
        "dagster/row_count": values["sent"],
        "acknowledged": values["sent"],
        "produced": values["produced"],
        "quarantined": values["quarantined"],
        "log_lines": values["lines"],
        "other_days_lines": values["other_days_lines"],
        "other_servers_lines": values["other_servers_lines"],
        "acknowledged_by_server": dg.MetadataValue.json(values["servers"]),
        "lines_by_server": dg.MetadataValue.json(values["by_server"]),
        "quarantine_reasons": dg.MetadataValue.json(values["quarantine_reasons"]),
        # bronze_events reads exactly these ranges, and must find these acknowledged events in them
        "offset_ranges": dg.MetadataValue.json(values["offset_ranges"]),
        "acknowledged_by_partition": dg.MetadataValue.json(values["acknowledged_by_partition"]),
    }
    if topic is not None:
        metadata["topic"] = topic
    if topic_id is not None:
        metadata["topic_id"] = topic_id
    generated = values.get("synthetic")
    if generated:  # this run generated the day's file: synthetic data, not the dump
        metadata["synthetic"] = True
        metadata["synthetic_seed"] = generated["seed"]
        metadata["synthetic_generation"] = dg.MetadataValue.json(generated)
    return metadata
