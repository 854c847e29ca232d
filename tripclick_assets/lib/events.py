"""The event contract on Kafka (DESIGN §3): raw fields + event_ts, event_date, dedup_key, provenance.

Every producer, in any language or container, must compute the same ``dedup_key``:
lowercase hex of ``xxh64(f"{session_id}|{document_id}|{event_ts}", seed=0)`` with
``event_ts`` formatted exactly as :func:`format_event_ts` does.
"""

from __future__ import annotations

import time

import orjson
import xxhash

from tripclick_assets.lib.tripclick_logs import ClickRecord

TOPIC = "tripclick_raw_logs"
DLQ_TOPIC = "tripclick_raw_logs_dlq"
PROVENANCE_FIELDS = ("server", "source_file", "source_line")


def format_event_ts(epoch_ms: int) -> str:
    """Epoch milliseconds -> ``2016-01-01T11:41:35.927Z`` (UTC, always three decimals)."""
    seconds, millis = divmod(epoch_ms, 1000)
    t = time.gmtime(seconds)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
        t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, millis
    )


def dedup_key(session_id: str, document_id: int, event_ts: str) -> str:
    return xxhash.xxh64_hexdigest(f"{session_id}|{document_id}|{event_ts}".encode("utf-8"), seed=0)


def shard_of(session_id: str, server_count: int) -> int:
    """Stable server index for a session, so each session is replayed by exactly one server."""
    return xxhash.xxh64_intdigest(session_id.encode("utf-8"), seed=0) % server_count


def build_event(record: ClickRecord, *, server: str, source_file: str, source_line: int) -> dict:
    """The Kafka payload for one record (a new dict; the record is not modified)."""
    event_ts = format_event_ts(record.epoch_ms)
    event = dict(record.raw)
    event["SessionId"] = record.session_id
    event["event_ts"] = event_ts
    event["event_date"] = event_ts[:10]
    event["dedup_key"] = dedup_key(record.session_id, record.document_id, event_ts)
    event["server"] = server
    event["source_file"] = source_file
    event["source_line"] = source_line
    return event


def encode_event(event: dict) -> bytes:
    return orjson.dumps(event)
