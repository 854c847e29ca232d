"""Merge the per-server producer summaries into per-day figures (pure, no Dagster)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tripclick_assets.lib.kafka.ranges import merge_partition_ranges

_COUNTS = ("produced", "sent", "failed", "quarantined", "quarantine_failed")


def merge_by_day(summaries: Iterable[Mapping]) -> dict[str, dict]:
    """``{event_date: {sent, failed, quarantined, ..., servers: {name: sent}, offset_ranges: {p: [first, last]}}}``."""
    days: dict[str, dict] = {}
    day_parts: dict[str, list[Mapping]] = {}
    for server_summary in summaries:
        server = server_summary["server"]
        for day in server_summary["days"]:
            key = day["event_date"]
            merged = days.setdefault(key, {"lines": 0, **{c: 0 for c in _COUNTS}, "servers": {},
                                           "quarantine_reasons": {}})
            # Every server reads the whole file and keeps its own sessions: the lines are counted once.
            merged["lines"] = max(merged["lines"], day.get("lines", 0))
            for c in _COUNTS:
                merged[c] += day.get(c, 0)
            merged["servers"][server] = day["sent"]
            for reason, n in day.get("quarantine_reasons", {}).items():
                merged["quarantine_reasons"][reason] = merged["quarantine_reasons"].get(reason, 0) + n
            day_parts.setdefault(key, []).append(day)
    for key, parts in day_parts.items():
        days[key]["offset_ranges"] = merge_partition_ranges(parts)
    return dict(sorted(days.items()))
