"""EventEncoder (the producer's fast path) against the reference parse_record + build_event + encode_event."""

import json
import random
from datetime import date

import orjson
import pytest

from tripclick_assets.lib.kafka.events import (
    EventEncoder,
    build_event,
    encode_event,
    format_event_ts,
    plain_session_digest,
    session_digest,
)
from tripclick_assets.lib.source.synthetic import generate_day
from tripclick_assets.lib.source.reader import MalformedRecord, iter_lines, parse_fields, parse_record

BASE = {
    "DateCreated": "/Date(1451648495927)/", "SessionId": "svdse145tl1h2o450xjkwg45", "DocumentId": 8944284,
    "Url": "http://cks.nice.org.uk/x", "Title": "Travel immunizations", "DOI": "",
    "ClinicalAreas": ",Infectious Disease", "Keywords": "travel", "Documents": [1, 2],
}


def compact(**changes) -> bytes:
    return orjson.dumps({**BASE, **changes})


# Lines the fast path must take: the dump's own shape, compact or spaced, ASCII or not.
FAST = {
    "compact": compact(),
    "spaced": json.dumps(BASE).encode(),
    "non-ASCII title": compact(Title="Sjögren's syndrome in Ménière's disease"),
    "escaped non-ASCII": json.dumps({**BASE, "Title": "Sjögren"}, ensure_ascii=True).encode(),
    "nested SessionId": compact(Extra={"SessionId": "other", "server": "x"}),
    "zero DocumentId": compact(DocumentId=0),
}
# Lines the reference path must decide: normalised, colliding with added fields, or bad.
SLOW = {
    "string DocumentId": compact(DocumentId="8944284"),
    "padded SessionId": compact(SessionId="  svdse145tl1h2o450xjkwg45 "),
    "date with offset": compact(DateCreated="/Date(1451648495927+0000)/"),
    "own server field": compact(server="mine"),
    "own event_ts field": compact(event_ts="2016-01-01T00:00:00.000Z"),
    "trailing space": compact() + b"  ",
    "bool DocumentId": compact(DocumentId=True),
    "float DocumentId": compact(DocumentId=1.5),
    "negative DocumentId": compact(DocumentId=-3),
    "huge DocumentId": compact().replace(b"8944284", b"123456789012345678901234567890"),
    "DocumentId over int64": compact(DocumentId=2**63),
    "missing SessionId": orjson.dumps({k: v for k, v in BASE.items() if k != "SessionId"}),
    "empty SessionId": compact(SessionId=""),
    "missing DateCreated": orjson.dumps({k: v for k, v in BASE.items() if k != "DateCreated"}),
    "bad date": compact(DateCreated="2016-01-01"),
    "unicode digits in date": compact(DateCreated="/Date(١٤٥١٦٤٨٤٩٥٩٢٧)/"),
    "date with newline": compact(DateCreated="/Date(1451648495927)/\n"),
    "invalid UTF-8": compact(Title="AAAA").replace(b"AAAA", b"\xff\xfe"),
    "lone surrogate": compact(Title="AAAA").replace(b"AAAA", b"\\ud800"),
    "broken JSON": compact()[:-2] + b"}",
    "not an object": b"[1, 2, 3]",
    "too long": compact(Title="y" * 70_000),
}


def reference(line: bytes, line_no: int) -> bytes:
    return encode_event(build_event(parse_record(line), server="server0", source_file="2016-01-01.json",
                                    source_line=line_no))


def assert_same_as_reference(encoder: EventEncoder, line: bytes, line_no: int = 7):
    try:
        expected = parse_fields(line)
    except MalformedRecord as bad:
        with pytest.raises(MalformedRecord) as raised:
            encoder.read(line)
        assert raised.value.reason == bad.reason
        return None
    fields = encoder.read(line)
    assert fields[1:] == expected[1:]
    payload = encoder.encode(line, fields, line_no)
    assert orjson.loads(payload) == orjson.loads(reference(line, line_no))
    return fields, payload


@pytest.mark.parametrize("name", sorted(FAST))
def test_dump_shaped_lines_take_the_fast_path_and_match_the_reference(name):
    line = FAST[name]
    fields, payload = assert_same_as_reference(EventEncoder(server="server0", source_file="2016-01-01.json"), line)
    assert fields[0] is None, "expected the fast path"
    assert payload.startswith(line[:-1])  # the line's own bytes, fields spliced in before the brace
    if line == orjson.dumps(orjson.loads(line)):
        assert payload == reference(line, 7)


@pytest.mark.parametrize("name", sorted(SLOW))
def test_other_lines_take_the_reference_path(name):
    encoder = EventEncoder(server="server0", source_file="2016-01-01.json")
    result = assert_same_as_reference(encoder, SLOW[name])
    if result is not None:
        assert result[0][0] is not None, "expected the reference path"


def test_names_needing_json_escapes_are_escaped():
    encoder = EventEncoder(server='web "1"\\', source_file="2016-01-01.json")
    event = orjson.loads(encoder.encode(compact(), encoder.read(compact()), 3))
    assert (event["server"], event["source_line"]) == ('web "1"\\', 3)


def test_event_ts_cache_matches_format_event_ts():
    encoder = EventEncoder(server="s", source_file="f")
    rng = random.Random(5)
    for ms in [0, 999, 1000, -1, 1451606399999, 1451606400000] + [rng.randrange(-10**12, 4 * 10**12)
                                                                   for _ in range(5000)]:
        assert encoder.event_ts(ms) == format_event_ts(ms)


def test_a_generated_day_encodes_byte_for_byte_like_the_reference(tmp_path):
    summary = generate_day(tmp_path, date(2016, 1, 1), volume=3000, duplicate_rate=0.05, malformed_rate=0.05)
    encoder = EventEncoder(server="server0", source_file=summary.path.name)
    fast = bad = 0
    for line_no, line in iter_lines(summary.path):
        try:
            expected = reference(line, line_no)
        except MalformedRecord as error:
            with pytest.raises(MalformedRecord, match=error.reason[:20]):
                encoder.read(line)
            bad += 1
            continue
        fields = encoder.read(line)
        fast += fields[0] is None
        assert encoder.encode(line, fields, line_no) == expected
    assert bad > 50 and fast > 2500


@pytest.mark.parametrize("line, session_id", [
    (b'{"DateCreated":"/Date(1451606563064)/","SessionId":"adjq83xl2c1crq7c8r2m6m1h","DocumentId":1}',
     "adjq83xl2c1crq7c8r2m6m1h"),  # the dump's compact layout
    (b'{"DateCreated": "/Date(1451648495927)/", "SessionId": "svdse145tl1h2o450xjkwg45", "DocumentId": 8}',
     "svdse145tl1h2o450xjkwg45"),  # json.dumps' default spacing
    (b'{"SessionId": "abc-def", "DateCreated": "/Date(1)/"}', "abc-def"),
    (b'{"SessionId":"abc","x":1}', "abc"),
    (b'{"Title":"say \\"SessionId\\":\\"zzz\\"","SessionId":"abc"}', "abc"),  # the pattern inside a value
    (b'{"SessionId":"ab\\u0063"}', None),  # an escape: decode to know
    (b'{"SessionId":" abc"}', None),  # parsing strips it
    (b'{"SessionId":"caf\xc3\xa9"}', None),
    (b'{"SessionId":""}', None),
    (b'{"SessionId": 12}', None),
    (b'{"SessionId":"abc', None),
    (b'{"SessionId"  :"abc"}', None),
    (b'{"x":1}', None),
])
def test_plain_session_digest_reads_plainly_written_ids_and_declines_the_rest(line, session_id):
    expected = None if session_id is None else session_digest(session_id)
    assert plain_session_digest(line) == expected
