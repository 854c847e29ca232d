"""Kafka records -> bronze rows (pure: no Spark, no Dagster).

Every record becomes a row. One that is not a valid event keeps its raw value and a
``parse_error`` and is attributed to the partition whose offset range holds it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone

import orjson

from tripclick_assets.lib.lake_schema import BRONZE_COLUMNS, column_names

_EVENT_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
BRONZE_NAMES = column_names(BRONZE_COLUMNS)


class DateAttribution:
    """Which requested day's offset range holds (partition, offset)."""

    def __init__(self, ranges_by_date: Mapping[str, Mapping[str, list[int]]]):
        self._ranges = [
            (int(p), int(first), int(last), day)
            for day, partitions in sorted(ranges_by_date.items())
            for p, (first, last) in partitions.items()
        ]

    def day_of(self, partition: int, offset: int) -> str | None:
        for p, first, last, day in self._ranges:
            if p == partition and first <= offset <= last:
                return day
        return None


def _text(value) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _event_error(event) -> str | None:
    if not isinstance(event, dict):
        return f"not a JSON object: {type(event).__name__}"
    if not isinstance(event.get("SessionId"), str) or not event["SessionId"]:
        return "missing SessionId"
    doc = event.get("DocumentId")
    if not isinstance(doc, int) or isinstance(doc, bool):
        return f"DocumentId is not an integer: {doc!r:.40}"
    ts = event.get("event_ts")
    if not isinstance(ts, str) or not _EVENT_TS.match(ts):
        return f"event_ts is not ISO-8601 UTC with milliseconds: {ts!r:.40}"
    if event.get("event_date") != ts[:10]:
        return f"event_date {event.get('event_date')!r:.20} does not match event_ts {ts}"
    if not isinstance(event.get("dedup_key"), str) or not event["dedup_key"]:
        return "missing dedup_key"
    return None


def bronze_columns(messages: Iterable, attribution: DateAttribution, ingested_at: datetime) -> dict[str, list]:
    """Column lists (in BRONZE_COLUMNS order) for confluent-kafka messages."""
    cols: dict[str, list] = {name: [] for name in BRONZE_NAMES}
    append = {name: cols[name].append for name in BRONZE_NAMES}
    for message in messages:
        value = message.value()
        partition, offset = message.partition(), message.offset()
        kind, ts_ms = message.timestamp()
        key = message.key()
        error = None
        try:
            event = orjson.loads(value) if value is not None else None
        except orjson.JSONDecodeError as exc:
            event, error = None, f"invalid JSON: {exc}"
        if error is None:
            error = _event_error(event)
        if error is None:
            append["event_date"](date.fromisoformat(event["event_date"]))
            append["date_created"](_text(event.get("DateCreated")))
            append["session_id"](event["SessionId"])
            append["document_id"](event["DocumentId"])
            append["url"](_text(event.get("Url")))
            append["title"](_text(event.get("Title")))
            append["doi"](_text(event.get("DOI")))
            append["clinical_areas"](_text(event.get("ClinicalAreas")))
            append["keywords"](_text(event.get("Keywords")))
            append["documents"](orjson.dumps(event.get("Documents")).decode())
            append["event_ts"](event["event_ts"])
            append["dedup_key"](event["dedup_key"])
            append["server"](_text(event.get("server")))
            append["source_file"](_text(event.get("source_file")))
            line = event.get("source_line")
            append["source_line"](line if isinstance(line, int) and not isinstance(line, bool) else None)
            append["raw_value"](None)
            append["parse_error"](None)
        else:
            day = attribution.day_of(partition, offset)
            append["event_date"](date.fromisoformat(day) if day else None)
            for name in ("date_created", "session_id", "document_id", "url", "title", "doi", "clinical_areas",
                         "keywords", "documents", "event_ts", "dedup_key", "server", "source_file", "source_line"):
                append[name](None)
            append["raw_value"](value.decode("utf-8", "replace") if value is not None else None)
            append["parse_error"](error)
        append["kafka_topic"](message.topic())
        append["kafka_partition"](partition)
        append["kafka_offset"](offset)
        append["kafka_timestamp"](_EPOCH + timedelta(milliseconds=ts_ms) if kind else None)
        append["kafka_key"](key.decode("utf-8", "replace") if key is not None else None)
        append["ingested_at"](ingested_at)
    return cols
