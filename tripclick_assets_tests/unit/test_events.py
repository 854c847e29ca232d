"""The event contract and dedup_key (docs/contracts.md), against known-answer vectors."""

import orjson
import pytest

from tripclick_assets.lib.kafka.events import build_event, dedup_key, format_event_ts, shard_of
from tripclick_assets.lib.source.reader import parse_record

# xxh64(seed=0) of the exact UTF-8 strings, computed once and written down.
VECTORS = [
    ("svdse145tl1h2o450xjkwg45", 8944284, "2016-01-01T11:41:35.927Z", "8d5ca8148df656e8"),
    ("abc", 0, "2013-01-01T00:00:00.000Z", "cda4623f219c92ad"),
    ("zzzzzzzzzzzzzzzzzzzzzzzz", 12000000, "2020-10-31T23:59:59.999Z", "c877ec1a3dd1fbc4"),
]


@pytest.mark.parametrize("session_id,document_id,event_ts,expected", VECTORS)
def test_dedup_key_vectors(session_id, document_id, event_ts, expected):
    assert dedup_key(session_id, document_id, event_ts) == expected


@pytest.mark.parametrize("ms,expected", [
    (1451648495927, "2016-01-01T11:41:35.927Z"),
    (1356998400000, "2013-01-01T00:00:00.000Z"),
    (1604188799999, "2020-10-31T23:59:59.999Z"),
    (1451606400005, "2016-01-01T00:00:00.005Z"),
])
def test_event_ts_format(ms, expected):
    assert format_event_ts(ms) == expected


def test_build_event_keeps_raw_fields_and_adds_contract_fields():
    line = (b'{"DateCreated": "/Date(1451648495927)/", "SessionId": "svdse145tl1h2o450xjkwg45", '
            b'"DocumentId": 8944284, "Url": "u", "Title": "t", "DOI": "", "ClinicalAreas": ",obgyn", '
            b'"Keywords": "", "Documents": [1, 2]}')
    event = build_event(parse_record(line), server="server1", source_file="2016-01-01.json", source_line=7)
    assert event["event_ts"] == "2016-01-01T11:41:35.927Z"
    assert event["event_date"] == "2016-01-01"
    assert event["dedup_key"] == "8d5ca8148df656e8"
    assert (event["server"], event["source_file"], event["source_line"]) == ("server1", "2016-01-01.json", 7)
    assert event["ClinicalAreas"] == ",obgyn" and event["Documents"] == [1, 2]
    assert orjson.loads(orjson.dumps(event)) == event


def test_sharding_is_stable_and_covers_all_servers():
    sessions = [f"{i:024d}" for i in range(2000)]
    shards = [shard_of(s, 2) for s in sessions]
    assert shards == [shard_of(s, 2) for s in sessions]
    assert 800 < shards.count(0) < 1200
