"""Kafka records -> bronze rows (pure: no Spark, no Dagster).

Every record becomes a row. One that is not a valid event keeps its raw value and a
``parse_error`` and is attributed to the partition whose offset range holds it.

:func:`bronze_batch` is what the bronze job calls: a batch whose every record is a
well-formed event (the normal case) is decoded by msgspec into typed structs and turned
into Arrow columns directly; any other batch takes the reference path,
:func:`bronze_columns`, record by record. Both give the same rows (unit-tested).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, timezone

import msgspec
import orjson

from tripclick_assets.lib.lake.schema import BRONZE_COLUMNS, column_names

_EVENT_TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_INT64 = (-(2**63), 2**63 - 1)
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
    if not _INT64[0] <= doc <= _INT64[1]:
        return f"DocumentId does not fit a 64-bit integer: {doc}"
    ts = event.get("event_ts")
    if not isinstance(ts, str) or not _EVENT_TS.fullmatch(ts):
        return f"event_ts is not ISO-8601 UTC with milliseconds: {ts!r:.40}"
    if event.get("event_date") != ts[:10]:
        return f"event_date {event.get('event_date')!r:.20} does not match event_ts {ts}"
    try:
        date.fromisoformat(ts[:10])
    except ValueError:
        return f"event_ts is not a calendar date: {ts}"
    if not isinstance(event.get("dedup_key"), str) or not event["dedup_key"]:
        return "missing dedup_key"
    return None


def _is_int64(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and _INT64[0] <= value <= _INT64[1]


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
            append["source_line"](line if _is_int64(line) else None)
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


# --- the fast path ------------------------------------------------------------------------


class _Event(msgspec.Struct):
    """The fields bronze keeps, with the types a well-formed event has (anything else: reference path)."""

    SessionId: str
    DocumentId: int
    event_ts: str
    event_date: str
    dedup_key: str
    DateCreated: str | None = None
    Url: str | None = None
    Title: str | None = None
    DOI: str | None = None
    ClinicalAreas: str | None = None
    Keywords: str | None = None
    Documents: list[int] | str | None = None
    server: str | None = None
    source_file: str | None = None
    source_line: int | None = None


_DECODE_EVENT = msgspec.json.Decoder(_Event).decode


def _well_formed(event: _Event) -> bool:
    ts = event.event_ts
    return bool(event.SessionId and event.dedup_key and _EVENT_TS.fullmatch(ts) and event.event_date == ts[:10]
                and _INT64[0] <= event.DocumentId <= _INT64[1]
                and (event.source_line is None or _INT64[0] <= event.source_line <= _INT64[1]))


def _fast_batch(messages: Sequence, ingested_at: datetime):
    """The batch as Arrow when every record is a well-formed event; None otherwise."""
    import pyarrow as pa

    values = [m.value() for m in messages]
    try:
        events = [_DECODE_EVENT(v) for v in values]  # a None value raises TypeError
    except (msgspec.DecodeError, TypeError):
        return None
    if not all(map(_well_formed, events)):
        return None
    n = len(events)
    dumps = orjson.dumps
    kafka_ms = [ms if kind else None for kind, ms in (m.timestamp() for m in messages)]
    keys = [m.key() for m in messages]

    def strings(values) -> pa.Array:
        return pa.array(values, pa.string())

    try:
        columns = {
            "event_date": strings([e.event_date for e in events]).cast(pa.date32()),
            "date_created": strings([e.DateCreated for e in events]),
            "session_id": strings([e.SessionId for e in events]),
            "document_id": pa.array([e.DocumentId for e in events], pa.int64()),
            "url": strings([e.Url for e in events]),
            "title": strings([e.Title for e in events]),
            "doi": strings([e.DOI for e in events]),
            "clinical_areas": strings([e.ClinicalAreas for e in events]),
            "keywords": strings([e.Keywords for e in events]),
            "documents": strings([dumps(e.Documents).decode() for e in events]),  # .decode(): orjson bytes kept alive are slow
            "event_ts": strings([e.event_ts for e in events]),
            "dedup_key": strings([e.dedup_key for e in events]),
            "server": strings([e.server for e in events]),
            "source_file": strings([e.source_file for e in events]),
            "source_line": pa.array([e.source_line for e in events], pa.int64()),
            "kafka_topic": strings([m.topic() for m in messages]),
            "kafka_partition": pa.array([m.partition() for m in messages], pa.int32()),
            "kafka_offset": pa.array([m.offset() for m in messages], pa.int64()),
            "kafka_timestamp": pa.array(kafka_ms, pa.int64()).cast(pa.timestamp("ms", tz="UTC")).cast(
                pa.timestamp("us", tz="UTC")),
            "kafka_key": pa.array(keys, pa.binary()).cast(pa.string()),  # invalid UTF-8: reference path
            "ingested_at": pa.nulls(n, pa.timestamp("us", tz="UTC")).fill_null(ingested_at),
            "raw_value": pa.nulls(n, pa.string()),
            "parse_error": pa.nulls(n, pa.string()),
        }
    except (pa.ArrowException, OverflowError, UnicodeError, TypeError):
        # e.g. event_date 2016-02-30; TypeError: a Documents id beyond 64 bits, which msgspec reads
        # but orjson cannot write (the reference path keeps it, as the float orjson reads it as)
        return None
    return pa.RecordBatch.from_arrays([columns[name] for name in BRONZE_NAMES], schema=bronze_arrow_schema())


def bronze_arrow_schema():
    from tripclick_assets.lib.lake.schema import arrow_schema

    return arrow_schema(BRONZE_COLUMNS)


def bronze_batch(messages: Sequence, attribution: DateAttribution, ingested_at: datetime):
    """The bronze rows of ``messages`` as one pyarrow RecordBatch (``BRONZE_COLUMNS``)."""
    import pyarrow as pa

    batch = _fast_batch(messages, ingested_at)
    if batch is not None:
        return batch
    schema = bronze_arrow_schema()
    columns = bronze_columns(messages, attribution, ingested_at)
    return pa.RecordBatch.from_arrays([pa.array(columns[f.name], f.type) for f in schema], schema=schema)
