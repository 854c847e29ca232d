"""An independent computation of the marts straight from TripClick log files.

Plain Python over the raw lines, sharing nothing with the project's reader, Spark jobs or
mart SQL; only the documented alias table (data, not logic) is borrowed to canonicalise
clinical areas.
"""

import json
import re
from collections import Counter, defaultdict
from datetime import datetime, timezone

from tripclick_assets.lib.source.clinical_areas import ALIASES

DATE_RE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")


def valid_clicks(path) -> tuple[list[dict], int]:
    """(distinct valid clicks, number of valid lines) of one log file."""
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
        clicks.append({"session": sid, "doc": doc, "ms": ms, "title": rec.get("Title"),
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


def expected_marts(path) -> dict:
    clicks, valid_lines = valid_clicks(path)
    hours = Counter(datetime.fromtimestamp(c["ms"] / 1000, timezone.utc).hour for c in clicks)
    peak = min(hours, key=lambda h: (-hours[h], h)) if hours else None
    daily = {
        "total_events": len(clicks),
        "unique_sessions": len({c["session"] for c in clicks}),
        "unique_documents": len({c["doc"] for c in clicks}),
        "peak_hour": peak,
        "peak_hour_events": hours[peak] if peak is not None else 0,
        "duplicates_removed": valid_lines - len(clicks),
    }
    by_session = defaultdict(list)
    for c in clicks:
        by_session[c["session"]].append(c)
    sessions = {
        s: (len(cs), len({c["doc"] for c in cs}), (max(c["ms"] for c in cs) - min(c["ms"] for c in cs)) // 1000)
        for s, cs in by_session.items()
    }
    areas = defaultdict(lambda: [0, set(), set()])
    for c in clicks:
        for a in c["areas"]:
            areas[a][0] += 1
            areas[a][1].add(c["session"])
            areas[a][2].add(c["doc"])
    views = Counter(c["doc"] for c in clicks)
    ranked = sorted(views, key=lambda d: (-views[d], d))
    documents = {d: (views[d], len({c["session"] for c in clicks if c["doc"] == d}), rank)
                 for rank, d in enumerate(ranked, start=1) if rank <= 200}
    windows = Counter((c["session"], c["ms"] // 300_000) for c in clicks)
    anomalies = {(s, w * 300): (n, "CRITICAL" if n >= 100 else "WARNING") for (s, w), n in windows.items() if n >= 50}
    return {
        "daily": daily,
        "sessions": sessions,
        "areas": {a: (v[0], len(v[1]), len(v[2])) for a, v in areas.items()},
        "documents": documents,
        "anomalies": anomalies,
    }
