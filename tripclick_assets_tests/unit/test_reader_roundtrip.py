"""The reader is the only input path: it must read back exactly what the generator wrote."""

import json
from datetime import date

from tripclick_assets.lib.kafka.events import build_event
from tripclick_assets.lib.source.synthetic import generate_day
from tripclick_assets.lib.source.reader import (
    MalformedRecord,
    find_day_source,
    iter_lines,
    load_articles,
    parse_documents,
    parse_record,
)


def read_back(path):
    good, bad = [], []
    for line_no, line in iter_lines(path):
        try:
            good.append((line_no, parse_record(line)))
        except MalformedRecord as exc:
            bad.append((line_no, exc.reason))
    return good, bad


def test_generated_day_reads_back_exactly(tmp_path):
    day = date(2016, 5, 4)
    summary = generate_day(tmp_path, day, volume=3000, duplicate_rate=0.05, malformed_rate=0.02, bot_sessions=1)
    path = find_day_source(tmp_path, day)
    good, bad = read_back(path)
    assert len(good) == summary.volume + summary.duplicates
    assert len(bad) == summary.malformed
    distinct = {(r.session_id, r.document_id, r.epoch_ms) for _, r in good}
    assert len(distinct) == summary.volume
    events = [build_event(r, server="s", source_file=path.name, source_line=n) for n, r in good]
    assert {e["event_date"] for e in events} == {"2016-05-04"}
    assert len({e["dedup_key"] for e in events}) == summary.volume  # duplicates share their key
    articles = load_articles(tmp_path / "allarticles.txt").articles
    assert all(articles[r.document_id].title == r.raw["Title"] for _, r in good)
    assert all(isinstance(parse_documents(r.raw["Documents"]), list) for _, r in good)


def test_month_file_and_legacy_documents_read_back(tmp_path):
    day = date(2013, 2, 3)
    summary = generate_day(tmp_path, day, volume=500, legacy_documents=True)
    day_file = tmp_path / "2013-02-03.json"
    month_file = tmp_path / "2013-02.json"
    day_file.rename(month_file)  # early periods of the dump come as one file per month
    assert find_day_source(tmp_path, day) == month_file
    good, bad = read_back(month_file)
    assert len(good) == summary.volume and not bad
    legacy = [r.raw["Documents"] for _, r in good if r.raw["Documents"]]
    assert legacy and all(isinstance(v, str) and ":" in v for v in legacy)
    assert all(parse_documents(v) for v in legacy)
    assert json.loads(month_file.read_bytes().splitlines()[0])["SessionId"]
