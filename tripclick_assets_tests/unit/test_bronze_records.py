"""bronze_batch (msgspec fast path) against the reference bronze_columns, on real Kafka message objects."""

import json
from datetime import date, datetime, timezone

import orjson
import pyarrow as pa
import pytest
from confluent_kafka import Message

from tripclick_assets.lib.lake import bronze_records
from tripclick_assets.lib.lake.bronze_records import DateAttribution, bronze_arrow_schema, bronze_batch, bronze_columns
from tripclick_assets.lib.kafka.events import EventEncoder
from tripclick_assets.lib.source.synthetic import generate_day
from tripclick_assets.lib.source.reader import iter_lines

DAY = "2016-01-01"
INGESTED = datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=timezone.utc)
ATTRIBUTION = DateAttribution({DAY: {"0": [0, 999], "1": [0, 999]}, "2016-01-02": {"0": [1000, 1999]}})
EVENT = {
    "DateCreated": "/Date(1451648495927)/", "SessionId": "s1", "DocumentId": 8944284, "Url": "http://x/1",
    "Title": "Travel \"immunizations\", abroad", "DOI": "", "ClinicalAreas": ",Infectious Disease",
    "Keywords": "travel", "Documents": [1, 2], "event_ts": "2016-01-01T13:41:35.927Z", "event_date": DAY,
    "dedup_key": "8c6f2a0e4b1d3f57", "server": "server0", "source_file": "2016-01-01.json", "source_line": 7,
}


def message(value, offset=0, partition=0, key=b"s1", timestamp=(1, 1451648496000), topic="raw"):
    return Message(topic=topic, partition=partition, offset=offset, key=key, value=value, timestamp=timestamp)


def event(**changes) -> bytes:
    return orjson.dumps({k: v for k, v in {**EVENT, **changes}.items() if v is not ...})


def reference(messages) -> pa.RecordBatch:
    schema = bronze_arrow_schema()
    columns = bronze_columns(messages, ATTRIBUTION, INGESTED)
    return pa.RecordBatch.from_arrays([pa.array(columns[f.name], f.type) for f in schema], schema=schema)


def fast(messages):
    return bronze_records._fast_batch(messages, INGESTED)


# Well-formed events the fast path must take, and give the reference's rows for.
WELL_FORMED = {
    "plain": event(),
    "spaced JSON": json.dumps(EVENT).encode(),
    "non-ASCII and escapes": json.dumps({**EVENT, "Title": "Sjögren \u00e9 \\ /"}, ensure_ascii=True).encode(),
    "optional fields missing": event(Url=..., Title=..., DOI=..., ClinicalAreas=..., Keywords=..., Documents=...,
                                     server=..., source_file=..., source_line=..., DateCreated=...),
    "null optional fields": event(Url=None, Title=None, Documents=None, source_line=None),
    "legacy Documents string": event(Documents='"123:0.5,456:0.2"'),
    "spaced Documents list": b'{"SessionId":"s1","DocumentId":1,"event_ts":"2016-01-01T00:00:00.000Z",'
                             b'"event_date":"2016-01-01","dedup_key":"k","Documents":[ 1 , 2 ]}',
    "duplicate key, last wins": event()[:-1] + b',"Title":"second"}',
    "unknown fields": event(Extra={"SessionId": "nested"}, Score=0.5),
    "largest int64 DocumentId": event(DocumentId=2**63 - 1),
}
# Records the fast path must hand to the reference path (which keeps or rejects them).
OTHER = {
    "not JSON": b"{not json",
    "JSON array": b"[1, 2]",
    "missing SessionId": event(SessionId=...),
    "empty SessionId": event(SessionId=""),
    "string DocumentId": event(DocumentId="8944284"),
    "boolean DocumentId": event(DocumentId=True),
    "DocumentId beyond int64": event(DocumentId=2**63),
    "event_ts without milliseconds": event(event_ts="2016-01-01T13:41:35Z"),
    "event_ts with trailing newline": event(event_ts="2016-01-01T13:41:35.927Z\n"),
    "event_date not event_ts's": event(event_date="2016-01-02"),
    "impossible calendar date": event(event_ts="2016-02-30T00:00:00.000Z", event_date="2016-02-30"),
    "numeric Title": event(Title=12),
    "float in Documents": event(Documents=[1.5]),
    "Documents id beyond 64 bits": event(Documents=["<24 digits>", 5]).replace(b'"<24 digits>"',
                                                                                b"123456789012345678901234"),
    "string source_line": event(source_line="7"),
    "source_line beyond int64": event(source_line=2**63),
    "empty dedup_key": event(dedup_key=""),
    "null value (tombstone)": None,
    "not UTF-8": event(Title="x")[:-3] + b'\xff"}',
}


@pytest.mark.parametrize("name", sorted(WELL_FORMED))
def test_fast_path_takes_well_formed_events_and_matches_the_reference(name):
    messages = [message(WELL_FORMED[name], offset=3)]
    batch = fast(messages)
    assert batch is not None, f"{name}: the fast path declined"
    assert batch.equals(reference(messages))
    assert batch.column("parse_error").null_count == 1


@pytest.mark.parametrize("name", sorted(OTHER))
def test_other_records_take_the_reference_path(name):
    messages = [message(WELL_FORMED["plain"], offset=1), message(OTHER[name], offset=2)]
    assert fast(messages) is None
    assert bronze_batch(messages, ATTRIBUTION, INGESTED).equals(reference(messages))


@pytest.mark.parametrize("name", ["not JSON", "DocumentId beyond int64", "impossible calendar date",
                                  "event_ts with trailing newline", "source_line beyond int64"])
def test_reference_keeps_bad_records_with_a_reason(name):
    batch = bronze_batch([message(OTHER[name], offset=1500)], ATTRIBUTION, INGESTED).to_pylist()[0]
    if name == "source_line beyond int64":  # still an event; the odd line number is dropped
        assert batch["parse_error"] is None and batch["source_line"] is None
        return
    assert batch["parse_error"]
    assert batch["raw_value"] is not None
    assert batch["event_date"] == date(2016, 1, 2)  # attributed by its offset range
    assert batch["session_id"] is None


def test_kafka_metadata_columns():
    messages = [message(event(), offset=5, partition=1, key=b"s1", timestamp=(1, 1451648496123)),
                message(event(), offset=6, partition=1, key=None, timestamp=(0, 0))]
    rows = bronze_batch(messages, ATTRIBUTION, INGESTED).to_pylist()
    assert [(r["kafka_partition"], r["kafka_offset"], r["kafka_key"]) for r in rows] == [(1, 5, "s1"), (1, 6, None)]
    assert rows[0]["kafka_timestamp"] == datetime(2016, 1, 1, 11, 41, 36, 123000, tzinfo=timezone.utc)
    assert rows[1]["kafka_timestamp"] is None  # TIMESTAMP_NOT_AVAILABLE
    assert {r["ingested_at"] for r in rows} == {INGESTED}
    assert rows[0]["documents"] == "[1,2]" and rows[0]["event_date"] == date(2016, 1, 1)


def test_invalid_utf8_key_takes_the_reference_path():
    messages = [message(event(), key=b"\xffkey")]
    assert fast(messages) is None
    assert bronze_batch(messages, ATTRIBUTION, INGESTED).column("kafka_key")[0].as_py() == "\ufffdkey"


def test_a_generated_day_through_the_producer_encoder(tmp_path):
    """The producer's own events for a synthetic day (duplicates included): fast path, same rows."""
    path = generate_day(tmp_path, date(2016, 1, 1), volume=3000, seed=5, duplicate_rate=0.05, malformed_rate=0).path
    encoder = EventEncoder(server="server0", source_file=path.name)
    values = [encoder.encode(line, encoder.read(line), line_no) for line_no, line in iter_lines(path)]
    assert len(values) > 2500
    messages = [message(v, offset=i % 1000, partition=i // 1000) for i, v in enumerate(values)]
    for start in range(0, len(messages), 700):
        chunk = messages[start:start + 700]
        batch = fast(chunk)
        assert batch is not None and batch.equals(reference(chunk))
