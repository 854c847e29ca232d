"""The tests' one independent computation of the marts (the oracle), in plain Python.

:func:`mart_rows` computes every mart's rows for one day from plain click dicts; the
inputs come from TripClick log files (:func:`valid_clicks`, :func:`expected_marts`) or from
silver rows (``integration/test_marts.py``). It shares nothing with the project's reader,
Spark jobs or mart SQL; only the documented alias table (data, not logic) is borrowed to
canonicalise clinical areas.
"""

import json
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

from tripclick_assets.lib.source.clinical_areas import ALIASES

DATE_RE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ANOMALY_WINDOW = timedelta(minutes=5)  # clock-aligned windows
ANOMALY_WARNING, ANOMALY_CRITICAL = 50, 100  # clicks in one window


def valid_clicks(path) -> tuple[list[dict], int]:
    """(distinct valid clicks as :func:`mart_rows` takes them, number of valid lines) of one log file."""
    seen, clicks, valid_lines = set(), [], 0
    for raw in open(path, "rb"):
        try:
            rec = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue
        if not isinstance(rec, dict) or len(raw) > 64 * 1024:
            continue
        sid, doc, created = rec.get("SessionId"), rec.get("DocumentId"), rec.get("DateCreated")
        if not isinstance(sid, str) or not sid.strip() or type(doc) is not int or not isinstance(created, str):
            continue
        match = DATE_RE.match(created)
        if not match:
            continue
        valid_lines += 1
        ms = int(match.group(1))
        key = (sid, doc, ms)
        if key in seen:
            continue
        seen.add(key)
        clicks.append({"session": sid, "doc": doc, "ts": EPOCH + timedelta(milliseconds=ms), "title": rec.get("Title"),
                       "areas": canonical_areas(rec.get("ClinicalAreas"))})
    return clicks, valid_lines


def canonical_areas(raw) -> list[str]:
    out = []
    for part in (raw or "").split(","):
        if not part.strip():
            continue
        name = ALIASES.get(re.sub("[^a-z0-9]", "", part.lower()), part.strip())
        if name not in out:
            out.append(name)
    return out


def mart_rows(day, clicks: list[dict], parsed: int) -> dict[str, list[tuple]]:
    """Every mart's rows of ``day`` (as the mart tables hold them), from that day's distinct clicks.

    A click is ``{"session", "doc", "ts" (aware UTC datetime), "title", "areas" (list)}``, and may
    carry ``"tiebreak"``: a document's title is that of its earliest click by ``ts``, then
    ``tiebreak``, then list order. ``parsed`` is the number of valid records before
    de-duplication. Rows are sorted by each table's key.
    """
    hours = Counter(c["ts"].astimezone(timezone.utc).hour for c in clicks)
    peak = min(hours, key=lambda h: (-hours[h], h)) if hours else None  # ties: the earlier hour
    daily = (day, len(clicks), len({c["session"] for c in clicks}), len({c["doc"] for c in clicks}),
             peak, hours[peak] if peak is not None else 0, parsed - len(clicks))

    by_session = defaultdict(list)
    for c in clicks:
        by_session[c["session"]].append(c)
    sessions = []
    for session, cs in sorted(by_session.items()):
        first, last = min(c["ts"] for c in cs), max(c["ts"] for c in cs)
        sessions.append((session, day, len(cs), len({c["doc"] for c in cs}), first, last,
                         (last - first) // timedelta(seconds=1)))

    areas = defaultdict(lambda: [0, set(), set()])
    for c in clicks:
        for area in dict.fromkeys(c["areas"] or []):
            areas[area][0] += 1
            areas[area][1].add(c["session"])
            areas[area][2].add(c["doc"])
    area_rows = [(day, a, v[0], len(v[1]), len(v[2])) for a, v in sorted(areas.items())]

    views, viewers, earliest = Counter(), defaultdict(set), {}
    for position, c in enumerate(clicks):
        views[c["doc"]] += 1
        viewers[c["doc"]].add(c["session"])
        order = (c["ts"], c.get("tiebreak", ()), position)
        if c["doc"] not in earliest or order < earliest[c["doc"]][0]:
            earliest[c["doc"]] = (order, c["title"])
    ranks = {doc: rank for rank, doc in enumerate(sorted(views, key=lambda d: (-views[d], d)), start=1)}
    documents = [(day, doc, earliest[doc][1], views[doc], len(viewers[doc]), ranks[doc]) for doc in sorted(views)]

    windows = Counter((c["session"], (c["ts"] - EPOCH) // ANOMALY_WINDOW) for c in clicks)
    anomalies = sorted((day, s, EPOCH + w * ANOMALY_WINDOW, n, "CRITICAL" if n >= ANOMALY_CRITICAL else "WARNING")
                       for (s, w), n in windows.items() if n >= ANOMALY_WARNING)
    return {
        "mart_daily_traffic": [daily],
        "mart_session_analysis": sessions,
        "mart_clinical_areas": area_rows,
        "mart_popular_documents": documents,
        "mart_session_anomalies": anomalies,
    }


def expected_marts(path) -> dict:
    """One log file's marts, keyed for comparing with the mart tables (documents: the top 200)."""
    clicks, valid_lines = valid_clicks(path)
    rows = mart_rows(None, clicks, valid_lines)
    (daily,) = rows["mart_daily_traffic"]
    names = ("total_events", "unique_sessions", "unique_documents", "peak_hour", "peak_hour_events", "duplicates_removed")
    return {
        "daily": dict(zip(names, daily[1:])),
        "sessions": {r[0]: (r[2], r[3], r[6]) for r in rows["mart_session_analysis"]},
        "areas": {r[1]: (r[2], r[3], r[4]) for r in rows["mart_clinical_areas"]},
        "documents": {r[1]: (r[3], r[4], r[5]) for r in rows["mart_popular_documents"] if r[5] <= 200},
        "anomalies": {(r[1], (r[2] - EPOCH) // timedelta(seconds=1)): (r[3], r[4]) for r in rows["mart_session_anomalies"]},
    }
