"""The synthetic TripClick generator, checked with plain ``json`` (never the project reader)."""

from __future__ import annotations

import io
import json
import re
from collections import Counter, defaultdict
from contextlib import redirect_stdout
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from tripclick_assets.lib.source.synthetic.model import AREA_SHARES
from tripclick_assets.lib.source.clinical_areas import (
    CANONICAL_AREAS,
    SLUG_VARIANTS,
    is_known,
    parse_clinical_areas,
)
from tripclick_assets.lib.source.synthetic import (
    MALFORMED_KINDS,
    article_for,
    default_volume,
    ensure_days,
    generate_day,
    main,
    write_articles,
)

KEYS = ["DateCreated", "SessionId", "DocumentId", "Url", "Title", "DOI", "ClinicalAreas",
        "Keywords", "Documents"]
DATE_RE = re.compile(r"^/Date\((\d+)\)/$")
SESSION_RE = re.compile(r"^[a-z0-9]{24}$")
BIG_DAY = date(2016, 3, 15)
BIG_VOLUME = 200_000


def day_bounds_ms(day: date) -> tuple[int, int]:
    start = int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)
    return start, start + 86_400_000


def classify(line: bytes):
    """('valid', record) or ('malformed', defect) for one line, with plain json only."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "malformed", "non_utf8"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return "malformed", "invalid_json"
    if obj == {}:
        return "malformed", "empty_object"
    if "SessionId" not in obj:
        return "malformed", "missing_session_id"
    if "DocumentId" not in obj:
        return "malformed", "missing_document_id"
    if "DateCreated" not in obj:
        return "malformed", "missing_date_created"
    if not DATE_RE.match(obj["DateCreated"]):
        return "malformed", "bad_date_created"
    if not isinstance(obj["DocumentId"], int):
        return "malformed", "non_integer_document_id"
    return "valid", obj


def read_valid(path: Path) -> list[dict]:
    records = []
    with open(path, "rb") as fh:
        for line in fh:
            kind, value = classify(line.rstrip(b"\n"))
            assert kind == "valid", value
            records.append(value)
    return records


def ts_of(record: dict) -> int:
    return int(DATE_RE.match(record["DateCreated"]).group(1))


@pytest.fixture(scope="module")
def big_day(tmp_path_factory):
    logs = tmp_path_factory.mktemp("big_logs")
    summary = generate_day(logs, BIG_DAY, seed=7, volume=BIG_VOLUME)
    return summary, read_valid(summary.path)


@pytest.fixture(scope="module")
def dirty_day(tmp_path_factory):
    logs = tmp_path_factory.mktemp("dirty_logs")
    summary = generate_day(logs, date(2019, 7, 4), seed=3, volume=4_000,
                           duplicate_rate=0.05, malformed_rate=0.02, bot_sessions=2)
    return summary, summary.path.read_bytes().split(b"\n")


# ------------------------------------------------------------------------------------------
# Determinism, layout, accounting
# ------------------------------------------------------------------------------------------


def test_same_arguments_give_identical_bytes_and_other_seeds_differ(tmp_path):
    kwargs = dict(volume=3_000, duplicate_rate=0.03, malformed_rate=0.01, bot_sessions=1)
    a = generate_day(tmp_path / "a", date(2017, 5, 1), seed=11, **kwargs)
    b = generate_day(tmp_path / "b", date(2017, 5, 1), seed=11, **kwargs)
    c = generate_day(tmp_path / "c", date(2017, 5, 1), seed=12, **kwargs)
    d = generate_day(tmp_path / "d", date(2017, 5, 2), seed=11, **kwargs)
    assert a.path.name == "2017-05-01.json"
    assert a.path.read_bytes() == b.path.read_bytes()
    assert (tmp_path / "a" / "allarticles.txt").read_bytes() == (
        tmp_path / "b" / "allarticles.txt").read_bytes()
    assert a.path.read_bytes() != c.path.read_bytes()
    assert a.path.read_bytes() != d.path.read_bytes()
    # only the day file and allarticles.txt: no temporary files left behind
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["2017-05-01.json",
                                                                  "allarticles.txt"]


def test_rates_only_add_extra_lines(tmp_path):
    clean = generate_day(tmp_path / "clean", date(2014, 2, 3), seed=5, volume=2_000)
    dirty = generate_day(tmp_path / "dirty", date(2014, 2, 3), seed=5, volume=2_000,
                         duplicate_rate=0.1, malformed_rate=0.05)
    clean_lines = clean.path.read_bytes().splitlines()
    dirty_valid = [line for line in dirty.path.read_bytes().splitlines()
                   if classify(line)[0] == "valid"]
    assert len(dirty_valid) == dirty.volume + dirty.duplicates
    # first occurrences, in file order, are exactly the clean day's lines
    assert list(dict.fromkeys(dirty_valid)) == clean_lines


def test_records_have_the_real_keys_in_order_and_fall_inside_the_day(big_day):
    summary, records = big_day
    start, end = day_bounds_ms(BIG_DAY)
    stamps = [ts_of(r) for r in records]
    assert all(list(r) == KEYS for r in records)
    assert min(stamps) >= start and max(stamps) < end
    assert stamps == sorted(stamps)  # web-server log order
    assert len(records) == summary.volume == summary.lines == BIG_VOLUME
    assert summary.duplicates == summary.malformed == summary.bot_sessions == 0
    keys = {(r["SessionId"], r["DocumentId"], r["DateCreated"]) for r in records}
    assert len(keys) == len(records)  # every valid record is distinct
    for r in records[:2_000]:
        assert isinstance(r["DocumentId"], int) and 1 <= r["DocumentId"] <= 12_000_000
        assert all(isinstance(r[k], str) for k in KEYS if k not in ("DocumentId", "Documents"))


def test_session_ids(big_day):
    summary, records = big_day
    sessions = {r["SessionId"] for r in records}
    assert all(SESSION_RE.match(s) for s in sessions)
    assert len(sessions) == summary.sessions


def test_exact_duplicate_and_malformed_counts(dirty_day):
    summary, lines = dirty_day
    assert lines[-1] == b""  # newline-terminated
    lines = lines[:-1]
    assert summary.volume == 4_000 + summary.bot_clicks
    assert summary.duplicates == round(0.05 * summary.volume)
    assert summary.malformed == round(0.02 * summary.volume)
    assert len(lines) == summary.lines == summary.volume + summary.duplicates + summary.malformed

    seen: set[bytes] = set()
    valid = duplicates = 0
    defects: Counter[str] = Counter()
    start, end = day_bounds_ms(summary.event_date)
    previous_ts = 0
    for line in lines:
        kind, value = classify(line)
        if kind == "malformed":
            defects[value] += 1
        elif line in seen:
            duplicates += 1  # an exact byte copy of an earlier valid line
        else:
            seen.add(line)
            valid += 1
            ts = ts_of(value)
            assert start <= ts < end
            assert ts >= previous_ts  # valid lines stay in time order
            previous_ts = ts
    assert valid == summary.volume
    assert duplicates == summary.duplicates
    assert sum(defects.values()) == summary.malformed
    assert set(defects) == set(MALFORMED_KINDS)
    # cycling through the defects: counts differ by at most one
    assert max(defects.values()) - min(defects.values()) <= 1
    assert any(b"\xff\xfe" in line for line in lines)


def test_default_volume_scale():
    n_days = (date(2020, 10, 31) - date(2013, 1, 1)).days + 1
    days = [date(2013, 1, 1) + timedelta(days=i) for i in range(n_days)]
    volumes = [default_volume(d) for d in days]
    assert volumes == [default_volume(d) for d in days]  # deterministic
    assert abs(np.mean(volumes) - 5_272_064 / len(days)) / (5_272_064 / len(days)) < 0.02
    first_year = np.mean(volumes[:365])
    last_year = np.mean(volumes[-365:])
    assert last_year > 1.8 * first_year  # grows over the period
    weekday = np.mean([v for d, v in zip(days, volumes) if d.weekday() < 5])
    weekend = np.mean([v for d, v in zip(days, volumes) if d.weekday() >= 5])
    assert weekend < 0.85 * weekday


# ------------------------------------------------------------------------------------------
# Statistics (the published figures in lib/source/synthetic/model.py)
# ------------------------------------------------------------------------------------------


def test_session_statistics(big_day):
    _, records = big_day
    clicks: dict[str, list[int]] = defaultdict(list)
    for r in records:
        clicks[r["SessionId"]].append(ts_of(r))
    counts = np.array([len(v) for v in clicks.values()])
    assert counts.mean() == pytest.approx(3.3, abs=0.3)
    assert (counts == 1).mean() == pytest.approx(0.42, abs=0.04)
    spans = np.array([(max(v) - min(v)) / 1000 for v in clicks.values() if len(v) > 1])
    assert np.median(spans) == pytest.approx(82, rel=0.3)
    assert np.percentile(spans, 90) == pytest.approx(49 * 60, rel=0.3)
    assert counts.max() < 50  # humans never look like bots


def test_clinical_area_statistics(big_day):
    _, records = big_day
    raw = [r["ClinicalAreas"] for r in records]
    areas = [parse_clinical_areas(x) for x in raw]
    k = np.array([len(a) for a in areas])
    assert (k == 0).mean() == pytest.approx(0.13, abs=0.03)
    assert (k == 1).mean() == pytest.approx(0.42, abs=0.03)
    assert (k == 2).mean() == pytest.approx(0.31, abs=0.03)
    assert (k >= 3).mean() == pytest.approx(0.14, abs=0.03)

    mentions = Counter(a for row in areas for a in row)
    total = sum(mentions.values())
    published = dict(list(AREA_SHARES.items())[:10])  # the ten published shares; the rest are each below 4%
    for area, share in AREA_SHARES.items():
        assert 100 * mentions[area] / total == pytest.approx(share, abs=1.5), area
    for area in set(mentions) - set(published):
        assert 100 * mentions[area] / total < 4.0, area
    assert set(mentions) == set(CANONICAL_AREAS)

    # raw spellings: leading comma usually, a mix of canonical names and slug variants
    non_empty = [x for x in raw if x]
    assert len(non_empty) == int((k > 0).sum())  # empty string when there is no area
    assert 0.8 < np.mean([x.startswith(",") for x in non_empty]) < 0.99
    spellings = Counter(s for x in non_empty for s in x.split(",") if s)
    assert all(is_known(s) for s in spellings)
    variants = {v for vs in SLUG_VARIANTS.values() for v in vs} - set(CANONICAL_AREAS)
    assert {"obgyn", "emergencymedicine", "sports_medicine", "public_health"} <= set(spellings)
    variant_share = sum(n for s, n in spellings.items() if s in variants) / sum(spellings.values())
    assert 0.15 < variant_share < 0.45


def test_keyword_doi_and_documents_statistics(big_day):
    _, records = big_day
    keywords = [r["Keywords"] for r in records]
    assert np.mean([k == "" for k in keywords]) == pytest.approx(0.13, abs=0.02)
    assert np.mean([r["DOI"] != "" for r in records]) == pytest.approx(0.38, abs=0.03)
    text = "\n".join(set(keywords))
    for syntax in ("title:", "from:20", " AND ", " OR ", " NOT ", "(", '"'):
        assert syntax in text, syntax

    documents = [r["Documents"] for r in records]
    assert all(isinstance(d, list) and len(d) <= 20 for d in documents)
    assert all(isinstance(x, int) for d in documents[:5_000] for x in d)
    assert np.mean([d == [] for d in documents]) == pytest.approx(0.5, abs=0.05)
    assert all(r["DocumentId"] in r["Documents"] for r in records if r["Documents"])


def test_traffic_dips_at_05_08_utc(big_day):
    _, records = big_day
    hours = np.bincount([(ts_of(r) // 3_600_000) % 24 for r in records], minlength=24)
    assert hours[5:9].mean() < hours.mean()
    assert hours[5:9].mean() < hours[12:18].mean() / 2


def test_document_popularity_is_long_tailed_at_default_volume(tmp_path):
    summary = generate_day(tmp_path, date(2016, 6, 15), seed=0)
    assert summary.volume == default_volume(date(2016, 6, 15))
    counts = np.array(list(Counter(r["DocumentId"] for r in read_valid(summary.path)).values()))
    assert (counts == 1).mean() == pytest.approx(0.89, abs=0.04)
    assert counts.max() > 2  # some popular documents


def test_title_url_doi_are_properties_of_the_document(big_day):
    _, records = big_day
    by_doc: dict[int, tuple] = {}
    for r in records:
        fields = (r["Title"], r["Url"], r["DOI"])
        assert by_doc.setdefault(r["DocumentId"], fields) == fields
    for doc_id, fields in list(by_doc.items())[:500]:
        assert article_for(doc_id) == fields


def test_article_for():
    articles = [article_for(i) for i in range(1, 20_001)]
    assert articles[:50] == [article_for(i) for i in range(1, 51)]
    assert np.mean([doi == "" for _, _, doi in articles]) == pytest.approx(0.62, abs=0.02)
    for title, url, doi in articles:
        assert title and not set(title) & {"\t", "\n", "\r", '"'}
        assert url.startswith(("http://", "https://")) and not set(url) & {"\t", "\n", " "}
        assert doi == "" or doi.startswith("10.")


# ------------------------------------------------------------------------------------------
# allarticles.txt
# ------------------------------------------------------------------------------------------


def read_articles(path: Path) -> tuple[str, list[list[str]]]:
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    return lines[0], [line.split("\t") for line in lines[1:-1]]


def test_allarticles_holds_every_clicked_document(big_day):
    summary, records = big_day
    header, rows = read_articles(summary.path.parent / "allarticles.txt")
    assert header == "id\ttitle\turl"
    ids = [int(row[0]) for row in rows]
    assert ids == sorted(set(ids))
    assert all(len(row) == 3 for row in rows)
    table = {int(row[0]): (row[1], row[2]) for row in rows}
    assert set(table) == {r["DocumentId"] for r in records}
    for r in records[:1_000]:
        assert table[r["DocumentId"]] == (r["Title"], r["Url"])


def test_write_articles_merges_with_the_existing_file(tmp_path):
    path = write_articles(tmp_path, [30, 10, 20, 10])
    assert path == tmp_path / "allarticles.txt"
    header, rows = read_articles(path)
    assert header == "id\ttitle\turl"
    assert [int(r[0]) for r in rows] == [10, 20, 30]
    assert rows[0][1:] == list(article_for(10)[:2])

    # an existing row is kept as it is (e.g. from a real dump); new ids are merged in order
    path.write_text(path.read_text().replace(rows[1][1], "Kept title"), encoding="utf-8")
    write_articles(tmp_path, [25, 5, 20])
    _, rows = read_articles(path)
    assert [int(r[0]) for r in rows] == [5, 10, 20, 25, 30]
    assert rows[2][1] == "Kept title"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["allarticles.txt"]

    # generating a day merges into the same file
    summary = generate_day(tmp_path, date(2015, 1, 1), volume=300)
    _, rows = read_articles(path)
    ids = {int(r[0]) for r in rows}
    assert {5, 10, 20, 25, 30} <= ids
    assert {r["DocumentId"] for r in read_valid(summary.path)} <= ids


def test_ensure_days_generates_only_missing_days_like_one_by_one(tmp_path):
    days = [date(2013, 2, 27) + timedelta(days=i) for i in range(5)]  # Feb 27 .. Mar 3
    kwargs = dict(seed=2, volume=300, duplicate_rate=0.02, malformed_rate=0.01, bot_sessions=1)
    (tmp_path / "batch").mkdir()
    (tmp_path / "batch" / "2013-02.json").write_bytes(b"")  # a month file holds February
    existing = generate_day(tmp_path / "batch", days[3], seed=9, volume=50)
    summaries = ensure_days(tmp_path / "batch", days, **kwargs)
    assert [s.event_date for s in summaries] == [days[2], days[4]]
    assert ensure_days(tmp_path / "batch", days, **kwargs) == []  # nothing missing any more

    # the same bytes as generating the missing days one by one
    generate_day(tmp_path / "single", days[3], seed=9, volume=50)
    for day in (days[2], days[4]):
        generate_day(tmp_path / "single", day, **kwargs)
    for name in ("2013-03-01.json", "2013-03-02.json", "2013-03-03.json", "allarticles.txt"):
        assert (tmp_path / "batch" / name).read_bytes() == (tmp_path / "single" / name).read_bytes()
    assert existing.path.read_bytes() == (tmp_path / "single" / "2013-03-02.json").read_bytes()


# ------------------------------------------------------------------------------------------
# Bots, legacy Documents, command line
# ------------------------------------------------------------------------------------------


def test_bot_sessions_burst_inside_one_five_minute_window(dirty_day):
    summary, lines = dirty_day
    assert summary.bot_sessions == 2
    windows: Counter[tuple[str, int]] = Counter()
    per_session: Counter[str] = Counter()
    seen: set[bytes] = set()
    for line in lines[:-1]:
        kind, record = classify(line)
        if kind != "valid" or line in seen:
            continue
        seen.add(line)
        windows[(record["SessionId"], ts_of(record) // 300_000)] += 1
        per_session[record["SessionId"]] += 1
    heavy = {session: n for (session, _), n in windows.items() if n >= 50}
    assert len(heavy) == summary.bot_sessions
    assert all(60 <= n <= 150 for n in heavy.values())
    assert all(per_session[s] == n for s, n in heavy.items())  # the whole session in one window
    assert sum(heavy.values()) == summary.bot_clicks
    assert summary.sessions == len(per_session)


def test_legacy_documents_are_docid_score_strings(tmp_path):
    summary = generate_day(tmp_path, date(2013, 6, 1), seed=1, volume=3_000,
                           legacy_documents=True)
    records = read_valid(summary.path)
    docs = [r["Documents"] for r in records]
    assert all(isinstance(d, str) for d in docs)
    assert 0.4 < np.mean([d == "" for d in docs]) < 0.6
    pattern = re.compile(r"^\d+:\d+\.\d(,\d+:\d+\.\d)*$")
    for r in records:
        if r["Documents"]:
            assert pattern.match(r["Documents"]), r["Documents"]
            pairs = [p.split(":") for p in r["Documents"].split(",")]
            assert len(pairs) <= 20
            assert str(r["DocumentId"]) in [doc for doc, _ in pairs]
            scores = [float(s) for _, s in pairs]
            assert scores == sorted(scores, reverse=True)


def test_command_line(tmp_path):
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["--logs-dir", str(tmp_path), "--date", "2018-02-28", "--seed", "4",
                     "--volume", "500", "--duplicate-rate", "0.1", "--malformed-rate", "0.016",
                     "--bot-sessions", "1", "--legacy-documents"])
    assert code == 0
    printed = out.getvalue().splitlines()
    assert len(printed) == 1
    summary = json.loads(printed[0])
    assert summary["path"] == str(tmp_path / "2018-02-28.json")
    assert summary["event_date"] == "2018-02-28"
    assert summary["seed"] == 4
    assert summary["volume"] == 500 + summary["bot_clicks"]
    assert summary["duplicates"] == round(0.1 * summary["volume"])
    assert summary["malformed"] == round(0.016 * summary["volume"])
    assert summary["lines"] == summary["volume"] + summary["duplicates"] + summary["malformed"]
    assert summary["bot_sessions"] == 1
    assert len((tmp_path / "2018-02-28.json").read_bytes().splitlines()) == summary["lines"]

    with pytest.raises(SystemExit):
        main(["--logs-dir", str(tmp_path), "--date", "2018-02-30"])
