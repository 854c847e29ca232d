"""The producer's encode stage: blocks -> the keys and payloads one process of one server owns."""

from datetime import date

import pytest

from tripclick_assets.lib.kafka.events import build_event, encode_event, session_digest, shard_of
from tripclick_assets.lib.source.synthetic import generate_day
from tripclick_assets.lib.source.reader import MalformedRecord, iter_blocks, iter_lines, parse_record
from tripclick_assets.producer.blocks import DayShare, encode_block
from tripclick_assets.producer.config import ReplayConfig

DAY = date(2016, 1, 1)
DAY_START_MS = 1451606400000


def share(path, index=0, count=1, keep_times=False, local=(0, 1)) -> DayShare:
    return DayShare(day_start_ms=DAY_START_MS, day_end_ms=DAY_START_MS + 86_400_000, server=f"server{index}",
                    server_index=index, server_count=count, source_file=path.name, owns_unattributed=True,
                    keep_times=keep_times, local_index=local[0], local_count=local[1])


@pytest.fixture(scope="module")
def day_file(tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs")
    return generate_day(logs, DAY, volume=4000, duplicate_rate=0.03, malformed_rate=0.02).path


def flatten(blocks) -> dict:
    out = {"keys": [], "values": [], "times": [], "quarantined": [], "lines": 0, "other_shards": 0}
    for block in blocks:
        out["keys"] += block.keys
        out["values"] += block.values
        out["times"] += block.times_ms
        out["quarantined"] += block.quarantined
        out["lines"] += block.lines
        out["other_shards"] += block.other_shards
    return out


def encoded(path, day_share, block_bytes=4096) -> dict:
    return flatten(encode_block(day_share, *block) for block in iter_blocks(path, block_bytes))


def test_blocks_give_the_reference_events_in_file_order(day_file):
    got = encoded(day_file, share(day_file, keep_times=True))
    expected_values, expected_keys, expected_times, bad = [], [], [], []
    for line_no, line in iter_lines(day_file):
        try:
            record = parse_record(line)
        except MalformedRecord as error:
            bad.append((line_no, line, error.reason))
            continue
        expected_keys.append(record.session_id.encode())
        expected_times.append(record.epoch_ms)
        expected_values.append(encode_event(build_event(record, server="server0", source_file=day_file.name,
                                                        source_line=line_no)))
    assert got["values"] == expected_values and got["keys"] == expected_keys and got["times"] == expected_times
    assert got["quarantined"] == bad and len(bad) > 40
    assert got["lines"] == len(expected_values) + len(bad)


def test_servers_split_sessions_and_bad_lines_without_overlap(day_file):
    shares = [encoded(day_file, share(day_file, i, 3)) for i in range(3)]
    alone = encoded(day_file, share(day_file))
    assert sum(len(s["values"]) for s in shares) == len(alone["values"]) > 3000
    assert sorted(q for s in shares for q in s["quarantined"]) == sorted(alone["quarantined"])
    for index, s in enumerate(shares):
        assert {shard_of(k.decode(), 3) for k in s["keys"]} == {index}
        # Every line is produced, quarantined or left to exactly one other server.
        assert s["lines"] == len(s["values"]) + len(s["quarantined"]) + s["other_shards"] == alone["lines"]


def test_a_servers_processes_split_its_sessions_and_bad_lines_exactly_once(day_file):
    server = encoded(day_file, share(day_file, 1, 2))
    parts = [encoded(day_file, share(day_file, 1, 2, local=(i, 3))) for i in range(3)]
    assert sorted(v for p in parts for v in p["values"]) == sorted(server["values"])
    assert sorted(q for p in parts for q in p["quarantined"]) == sorted(server["quarantined"])
    for i, part in enumerate(parts):
        assert len(part["values"]) > 300
        assert {session_digest(k.decode()) // 2 % 3 for k in part["keys"]} == {i}  # one process per session
        # Every process reads every line; skipped_other_servers counts only other servers' sessions.
        assert (part["lines"], part["other_shards"]) == (server["lines"], server["other_shards"])
        mine = set(part["values"])  # each session's clicks in file order
        assert part["values"] == [v for v in server["values"] if v in mine]


def test_sessions_written_with_escapes_or_spaces_go_to_the_process_of_their_parsed_id(tmp_path):
    plain = b'{"DateCreated":"/Date(1451606400000)/","SessionId":"abcdef","DocumentId":1}'
    odd = [b'{"DateCreated":"/Date(1451606400001)/","SessionId":"ab\\u0063def","DocumentId":2}',
           b'{"DateCreated":"/Date(1451606400002)/","SessionId":" abcdef ","DocumentId":3}',
           b'{"DateCreated": "/Date(1451606400003)/", "SessionId": "abcdef", "DocumentId": 4}']
    path = tmp_path / "2016-01-01.json"
    path.write_bytes(b"\n".join([plain, *odd]) + b"\n")
    owner = session_digest("abcdef") % 4
    for index in range(4):
        got = encoded(path, share(path, local=(index, 4)))
        assert len(got["values"]) == (4 if index == owner else 0), index
        assert set(got["keys"]) <= {b"abcdef"}


def test_a_bad_line_is_quarantined_by_one_process_whether_or_not_its_session_is_readable(tmp_path):
    lines = [b'{"DateCreated":"/Date(oops)/","SessionId":"s1","DocumentId":1}',  # readable session
             b'{"DateCreated":"/Date(1451606400000)/","SessionId":"s2","DocumentId":"x"}',
             b"{not json", b"\xff\xfe"]
    path = tmp_path / "2016-01-01.json"
    path.write_bytes(b"\n".join(lines) + b"\n")
    got = [encoded(path, share(path, local=(index, 3)))["quarantined"] for index in range(3)]
    assert sorted(line_no for q in got for line_no, _, _ in q) == [1, 2, 3, 4]
    assert [line_no for line_no, _, _ in got[session_digest("s1") % 3]][:1] == [1]


def test_worker_counts_are_checked():
    with pytest.raises(ValueError, match="workers"):
        ReplayConfig(logs_dir=".", bootstrap_servers="x", workers=-2)
    big = 64 * 1024 * 1024
    assert ReplayConfig(logs_dir=".", bootstrap_servers="x", mode="realtime", workers=3).processes_for(big) == 1
    assert ReplayConfig(logs_dir=".", bootstrap_servers="x", workers=3).processes_for(big) == 4
    assert ReplayConfig(logs_dir=".", bootstrap_servers="x", workers=3).processes_for(1024) == 1
    assert ReplayConfig(logs_dir=".", bootstrap_servers="x", workers=0).processes_for(big) == 1


DAY_MS = 86_400_000


def click(ms: int, session: str, doc: int) -> bytes:
    return (f'{{"DateCreated":"/Date({ms})/","SessionId":"{session}","DocumentId":{doc},"Url":"u","Title":"t",'
            f'"DOI":"","ClinicalAreas":"","Keywords":"","Documents":[]}}').encode()


def accounted(got: dict) -> int:
    return len(got["values"]) + len(got["quarantined"]) + got["other_shards"] + got["other_dates"]


def flatten_all(path, day_share, block_bytes=4096) -> dict:
    blocks = [encode_block(day_share, *block) for block in iter_blocks(path, block_bytes)]
    out = flatten(blocks)
    out["other_dates"] = sum(b.other_dates for b in blocks)
    return out


def test_a_click_of_another_day_in_a_day_file_is_quarantined_with_its_day_never_skipped(tmp_path):
    lines = [click(DAY_START_MS + i * 1000, f"s{i % 7}", i) for i in range(60)]
    lines[10] = click(DAY_START_MS + DAY_MS + 5, "s3", 1010)  # the next day
    lines[20] = click(DAY_START_MS - 1, "s4", 1020)  # the previous day, last millisecond
    path = tmp_path / "2016-01-01.json"
    path.write_bytes(b"\n".join(lines) + b"\n")
    alone = flatten_all(path, share(path))
    assert [(n, r.split(":")[0]) for n, _, r in alone["quarantined"]] == [(11, "other_event_date"),
                                                                           (21, "other_event_date")]
    reasons = [r for _, _, r in alone["quarantined"]]
    assert reasons[0].startswith("other_event_date: 2016-01-02 ") and reasons[1].startswith("other_event_date: 2015-12-31 ")
    assert alone["quarantined"][0][1] == lines[10]  # the line as read
    assert alone["other_dates"] == 0 and len(alone["values"]) == 58
    assert alone["lines"] == accounted(alone) == 60
    # Over servers and processes: each other-day line is quarantined once, by the owner of its session.
    parts = [flatten_all(path, share(path, i, 2, local=(j, 2))) for i in range(2) for j in range(2)]
    assert sorted(q for p in parts for q in p["quarantined"]) == sorted(alone["quarantined"])
    servers = [flatten_all(path, share(path, i, 2)) for i in range(2)]
    for s in servers:
        assert s["lines"] == accounted(s) == 60


def test_a_month_file_leaves_its_other_days_to_their_replays_and_quarantines_other_months_once(tmp_path):
    jan1, jan2 = DAY_START_MS, DAY_START_MS + DAY_MS
    lines = [click(jan1 + i, f"s{i % 5}", i) for i in range(10)] + [click(jan2 + i, f"s{i % 5}", 100 + i) for i in range(10)]
    lines += [click(jan1 - 1, "s1", 500), b"{not json"]  # a click of December, a bad line
    path = tmp_path / "2016-01.json"
    path.write_bytes(b"\n".join(lines) + b"\n")
    feb1 = DAY_START_MS + 31 * DAY_MS

    def month_share(day_start, first_day, index=0, count=1):
        return DayShare(day_start_ms=day_start, day_end_ms=day_start + DAY_MS, server=f"server{index}",
                        server_index=index, server_count=count, source_file=path.name,
                        owns_unattributed=first_day, file_start_ms=jan1, file_end_ms=feb1)

    first = flatten_all(path, month_share(jan1, True))
    second = flatten_all(path, month_share(jan2, False))
    assert (len(first["values"]), first["other_dates"]) == (10, 10)
    assert [r.split(":")[0] for _, _, r in first["quarantined"]] == ["other_event_date", "invalid JSON"]
    assert (len(second["values"]), second["quarantined"], second["other_dates"]) == (10, [], 12)
    for got in (first, second):
        assert got["lines"] == accounted(got) == 22
    for index in range(3):  # per server too
        got = flatten_all(path, month_share(jan2, False, index, 3))
        assert got["lines"] == accounted(got) == 22
