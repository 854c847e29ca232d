"""Merge producer day summaries: a server's local processes, then the servers (pure, no Dagster)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from tripclick_assets.lib.kafka.ranges import merge_offset_ranges

# Summed over the parts of a day; everything else but lines, reasons, errors and partitions is the first part's.
DAY_COUNTS = ("produced", "sent", "failed", "quarantined", "quarantine_delivered", "quarantine_failed",
              "skipped_other_dates")
# What the asset records per day.
_COUNTS = ("produced", "sent", "failed", "quarantined", "quarantine_failed")


def merge_day_parts(parts: Sequence[Mapping]) -> dict:
    """One day's summary from the summaries of the parts that replayed it (each read every line of the file).

    The parts are a server's local processes (``producer.local_shards``) or the servers
    (:func:`merge_by_day`): every part reads the whole file and keeps its own sessions, so the
    lines are counted once and the rest adds up; partitions merge with :func:`merge_offset_ranges`.
    """
    merged = dict(parts[0])
    merged["lines"] = max(part.get("lines", 0) for part in parts)
    for key in DAY_COUNTS:
        merged[key] = sum(part.get(key, 0) for part in parts)
    reasons, errors = Counter(), Counter()
    for part in parts:
        reasons.update(part.get("quarantine_reasons", {}))
        errors.update(part.get("errors", {}))
    merged["quarantine_reasons"] = dict(reasons)
    merged["errors"] = dict(errors.most_common(5))
    merged["partitions"] = merge_offset_ranges(part.get("partitions", {}) for part in parts)
    return merged


def _server_figures(day: Mapping) -> dict:
    """One server's line accounting for a day: lines = produced + quarantined + other servers' + other days'."""
    return {
        "lines": day.get("lines", 0), "produced": day.get("produced", 0), "acknowledged": day.get("sent", 0),
        "quarantined": day.get("quarantined", 0), "other_servers_lines": day.get("skipped_other_servers", 0),
        "other_days_lines": day.get("skipped_other_dates", 0),
    }


def merge_by_day(summaries: Iterable[Mapping]) -> dict[str, dict]:
    """``{event_date: {lines, produced, sent, failed, quarantined, ..., by_server, offset_ranges, ...}}``.

    Per day: ``lines`` (the file's non-blank lines, read by every server), what the servers
    produced, acknowledged and quarantined (``quarantine_reasons``), ``other_days_lines`` (lines
    another day's replay accounts for) and ``other_servers_lines`` (summed over servers: each
    server skips the lines of the others' sessions); ``by_server`` has each server's own figures
    (:func:`_server_figures`), ``servers`` its acknowledged count; ``offset_ranges`` and
    ``acknowledged_by_partition`` are each Kafka partition's ``[first, last]`` and acknowledged
    count (fewer than ``last - first + 1`` when other records lie in between). ``synthetic`` is the
    generator's summary when a server generated the day's file in this run.
    """
    day_parts: dict[str, list[tuple[str, Mapping]]] = {}
    synthetic: dict[str, Mapping] = {}
    for server_summary in summaries:
        for day in server_summary["days"]:
            day_parts.setdefault(day["event_date"], []).append((server_summary["server"], day))
        for key, generated in (server_summary.get("synthetic_days") or {}).items():
            synthetic.setdefault(key, generated)
    days: dict[str, dict] = {}
    for key, parts in sorted(day_parts.items()):
        merged = merge_day_parts([day for _, day in parts])
        days[key] = {
            "lines": merged["lines"], **{c: merged[c] for c in _COUNTS},
            "other_servers_lines": sum(day.get("skipped_other_servers", 0) for _, day in parts),
            "other_days_lines": merged["skipped_other_dates"],
            "servers": {server: day["sent"] for server, day in parts},
            "by_server": {server: _server_figures(day) for server, day in parts},
            "quarantine_reasons": merged["quarantine_reasons"],
            "offset_ranges": {p: [r["first"], r["last"]] for p, r in merged["partitions"].items()},
            # what bronze must find in those ranges: the acknowledged records of each partition
            "acknowledged_by_partition": {p: r["count"] for p, r in merged["partitions"].items()},
        }
        if key in synthetic:
            days[key]["synthetic"] = dict(synthetic[key])
    return days


def synthetic_days(generated: Iterable) -> dict[str, dict]:
    """``{event_date: what the generator wrote}`` from the GenerationSummary of each day a replay generated."""
    return {
        s.event_date.isoformat(): {"seed": s.seed, "volume": s.volume, "lines": s.lines, "duplicates": s.duplicates,
                                   "malformed": s.malformed, "bot_sessions": s.bot_sessions}
        for s in generated
    }
