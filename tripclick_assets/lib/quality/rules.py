"""Data-quality rules over one partition's Arrow tables (pure: no Dagster, no Spark).

Each rule returns a :class:`Verdict`; the Dagster checks in ``defs/lake/checks.py`` and ``defs/marts/checks.py`` only load the
data and report. They read the lake with pyarrow, independently of the Spark jobs they verify.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tripclick_assets.lib.lake.schema import arrow_schema
from tripclick_assets.lib.marts.tables import ANOMALY_WARNING_CLICKS, ANOMALY_WINDOW_SECONDS


@dataclass(frozen=True)
class Verdict:
    passed: bool
    description: str
    metadata: dict = field(default_factory=dict)
    # How bad a failure is: "ERROR" (a blocking check then stops downstream) or "WARN" (reported only).
    severity: str = "ERROR"


def _same_type(actual, expected) -> bool:
    """Type equality that ignores list child names (Spark writes ``element``, pyarrow ``item``) and large offsets."""
    import pyarrow as pa

    if pa.types.is_list(actual) or pa.types.is_large_list(actual):
        return pa.types.is_list(expected) and _same_type(actual.value_type, expected.value_type)
    if pa.types.is_large_string(actual):  # an Iceberg table's strings read as large_string
        return pa.types.is_string(expected)
    return actual.equals(expected)


def schema_matches(actual, columns: tuple[tuple[str, str], ...]) -> Verdict:
    """The partition's schema against the layer contract: missing or retyped columns fail."""
    expected = arrow_schema(columns)
    actual_types = {f.name: f.type for f in actual}
    missing = [f.name for f in expected if f.name not in actual_types]
    retyped = {
        f.name: f"{actual_types[f.name]} (expected {f.type})"
        for f in expected
        if f.name in actual_types and not _same_type(actual_types[f.name], f.type)
    }
    extra = [name for name in actual_types if name not in expected.names]
    passed = not missing and not retyped
    description = "schema matches the contract" if passed else "schema differs from the contract"
    if extra:
        description += f"; extra columns {extra}"
    return Verdict(passed, description, {"missing_columns": missing, "retyped_columns": retyped, "extra_columns": extra})


def counts_equal(name_a: str, a: int, name_b: str, b: int) -> Verdict:
    return Verdict(a == b, f"{name_a} {a} {'=' if a == b else '!='} {name_b} {b}", {name_a: a, name_b: b})


def at_most(name_a: str, a: int, name_b: str, b: int) -> Verdict:
    return Verdict(a <= b, f"{name_a} {a} {'<=' if a <= b else '>'} {name_b} {b}", {name_a: a, name_b: b})


def unique(table, column: str) -> Verdict:
    values = table.column(column).to_pylist()
    repeated = [v for v, n in Counter(values).items() if n > 1]
    return Verdict(
        not repeated,
        f"{len(repeated)} {column} values repeated" if repeated else f"{column} unique over {len(values)} rows",
        {"rows": len(values), "repeated_values": len(repeated), "examples": [str(v) for v in repeated[:5]]},
    )


def not_null(table, columns: tuple[str, ...]) -> Verdict:
    nulls = {c: table.column(c).null_count for c in columns}
    bad = {c: n for c, n in nulls.items() if n}
    return Verdict(not bad, f"nulls in {bad}" if bad else f"no nulls in {', '.join(columns)}", {"null_counts": nulls})


def all_equal_to(table, column: str, expected) -> Verdict:
    values = Counter(table.column(column).to_pylist())
    wrong = {str(v): n for v, n in values.items() if v != expected}
    return Verdict(
        not wrong,
        f"{sum(wrong.values())} rows with {column} != {expected}" if wrong else f"every {column} is {expected}",
        {"unexpected_values": wrong},
    )


def parsed_rows(bronze) -> int:
    """Bronze rows that are valid events (``parse_error`` is null)."""
    return bronze.column("parse_error").null_count


# --- Bronze: the acknowledged events, each found in the offset ranges (``tripclick_raw_logs`` figures) ---

#: What names one produced event: the source line it came from and its dedup_key. Each line is
#: produced by exactly one process of one server in a replay, so the producer's acknowledged
#: records are distinct events; a row whose event is already there is a repeated delivery.
DELIVERY_COLUMNS = ("kafka_partition", "source_file", "source_line", "dedup_key", "parse_error")
REPRODUCE_THE_DAY = "Re-materialize the producer step (tripclick_raw_logs) for the day, then bronze_events"


def delivery_figures(bronze) -> dict:
    """A bronze day's parsed rows, distinct events and repeated deliveries, in all and per Kafka partition.

    ``bronze``: the day's rows with :data:`DELIVERY_COLUMNS`. An event is a (source file, source
    line, dedup_key): the same event delivered again (a producer process that died and was
    replayed, a producer that kept sending into a later run's ranges) is one more row of it, which
    silver removes by ``dedup_key``. A line repeated in the source is two events, as the producer
    acknowledged two.
    """
    import pyarrow.compute as pc

    parsed = bronze.filter(pc.is_null(bronze.column("parse_error"))).select(list(DELIVERY_COLUMNS[:4]))

    def per_partition(table) -> dict[str, int]:
        counts = table.group_by("kafka_partition").aggregate([("kafka_partition", "count")]).to_pylist()
        return {str(r["kafka_partition"]): r["kafka_partition_count"] for r in counts}

    rows = per_partition(parsed)
    if _lines_unique(parsed):  # the usual day: no line twice, so every row is its own event
        events, distinct = rows, parsed.num_rows
    else:
        events_table = parsed.group_by(list(DELIVERY_COLUMNS[:4])).aggregate([])
        events, distinct = per_partition(events_table), events_table.num_rows
    by_partition = {p: {"rows": rows[p], "events": events.get(p, 0)} for p in sorted(rows, key=int)}
    return {"parsed_rows": parsed.num_rows, "events": distinct,
            "repeated_deliveries": parsed.num_rows - distinct, "by_partition": by_partition}


def _lines_unique(parsed) -> bool:
    """Whether no (partition, source file, source line) occurs twice: one int64 key per row, hashed once.

    False also when a value does not fit the key (nulls, huge line numbers): the caller then counts
    the events exactly, which costs a multi-column group-by only on such days.
    """
    import numpy as np
    import pyarrow.compute as pc

    if parsed.num_rows == 0:
        return True
    partition, line = parsed.column("kafka_partition"), parsed.column("source_line")
    files = pc.dictionary_encode(parsed.column("source_file")).combine_chunks()
    if partition.null_count or line.null_count or files.null_count or len(files.dictionary) >= 1 << 10:
        return False
    if pc.min(partition).as_py() < 0 or pc.max(partition).as_py() >= 1 << 10:
        return False
    if pc.min(line).as_py() < 0 or pc.max(line).as_py() >= 1 << 40:
        return False
    key = (partition.to_numpy().astype(np.int64) << 54) | (files.indices.to_numpy().astype(np.int64) << 44)
    key |= line.to_numpy()
    key.sort()  # a sort beats Arrow's hash-based unique on a million int64
    return not bool((key[1:] == key[:-1]).any())


def deliveries_match(figures: dict, produced: dict | None) -> Verdict:
    """Every event the producer acknowledged is in bronze, nothing else; repeated deliveries warn.

    ``figures``: :func:`delivery_figures` of the day; ``produced``: the latest
    ``tripclick_raw_logs`` metadata of the day (``acknowledged`` and, per Kafka partition,
    ``acknowledged_by_partition``; an older materialization without it is compared per day).
    Events per partition = acknowledged: passes, or with repeated deliveries fails with WARN
    (silver keeps one per dedup_key; nothing is blocked). Fewer (missing) or more (unexpected)
    events on any partition: ERROR, the records at the recorded offsets are not the ones the
    producer acknowledged.
    """
    missing = _missing_figures(produced, ("acknowledged",))
    if missing is not None:
        return Verdict(False, missing.description, {**missing.metadata, "parsed_bronze_rows": figures["parsed_rows"]})
    acknowledged = int(produced["acknowledged"])
    by_partition = produced.get("acknowledged_by_partition")
    if by_partition is None:  # recorded before the producer counted per partition
        expected, found = {"all": acknowledged}, {"all": figures["events"]}
    else:
        expected = {str(p): int(n) for p, n in by_partition.items()}
        found = {p: f["events"] for p, f in figures["by_partition"].items()}
    gaps = {p: found.get(p, 0) - expected.get(p, 0) for p in sorted(set(expected) | set(found), key=lambda p: int(p) if p.isdigit() else -1)
            if found.get(p, 0) != expected.get(p, 0)}
    missing_events = -sum(n for n in gaps.values() if n < 0)
    unexpected_events = sum(n for n in gaps.values() if n > 0)
    repeats, parsed = figures["repeated_deliveries"], figures["parsed_rows"]
    metadata = {"parsed_bronze_rows": parsed, "acknowledged": acknowledged, "events": figures["events"],
                "repeated_deliveries": repeats, "missing_events": missing_events,
                "unexpected_events": unexpected_events, "by_partition": figures["by_partition"],
                "acknowledged_by_partition": by_partition}
    if gaps:
        where = ", ".join(f"partition {p}: {found.get(p, 0)} events for {expected.get(p, 0)} acknowledged"
                          for p in gaps) if by_partition is not None else f"{figures['events']} events"
        return Verdict(False, f"{missing_events} acknowledged event(s) missing and {unexpected_events} unexpected "
                              f"event(s) in the day's offset ranges ({where}): the records at those offsets are not "
                              f"the ones the producer acknowledged. {REPRODUCE_THE_DAY}", metadata)
    text = f"parsed bronze rows {parsed} = {acknowledged} acknowledged events"
    if not repeats:
        return Verdict(True, text, metadata)
    return Verdict(False, f"{text} + {repeats} repeated deliveries of them (the same events delivered again, "
                          "e.g. a producer process that died and was replayed; silver keeps one per dedup_key)",
                   metadata, severity="WARN")


def area_counts(silver) -> Counter:
    """Silver events per canonical clinical area (each event counts once per area it carries)."""
    counts: Counter = Counter()
    for areas in silver.column("clinical_areas").to_pylist():
        counts.update(set(areas or ()))
    return counts


def anomaly_windows(silver, window_s: int = ANOMALY_WINDOW_SECONDS, threshold: int = ANOMALY_WARNING_CLICKS) -> dict:
    """``{(session_id, window_start_epoch_s): clicks}`` for clock-aligned windows with >= threshold clicks."""
    counts: Counter = Counter()
    for session, ts in zip(silver.column("session_id").to_pylist(), silver.column("event_ts").to_pylist()):
        counts[(session, int(ts.timestamp()) // window_s * window_s)] += 1
    return {key: n for key, n in counts.items() if n >= threshold}


def mapping_equal(name: str, actual: dict, expected: dict) -> Verdict:
    diff = {str(k): {"mart": actual.get(k, 0), "silver": expected.get(k, 0)}
            for k in set(actual) | set(expected) if actual.get(k, 0) != expected.get(k, 0)}
    return Verdict(
        not diff,
        f"{len(diff)} {name} differ from silver" if diff else f"all {len(expected)} {name} match silver",
        {"differences": dict(list(diff.items())[:20])},
    )


# --- The source: the producer's per-day figures (``tripclick_raw_logs`` metadata) -------------------

#: Quarantined share of a day's own lines (produced + quarantined) above which the day warns / errors.
QUARANTINE_WARN_RATE = 0.01
QUARANTINE_ERROR_RATE = 0.10
#: A day's acknowledged events may differ this much from the median of the trailing days ...
VOLUME_TOLERANCE = 0.5
VOLUME_WINDOW_DAYS = 28
#: ... once at least this many of those days have a materialization.
VOLUME_MIN_HISTORY_DAYS = 7
_ACCOUNTING = ("log_lines", "produced", "quarantined", "other_days_lines", "lines_by_server")


def _missing_figures(figures, names, asset: str = "tripclick_raw_logs") -> Verdict | None:
    missing = [name for name in names if name not in (figures or {})]
    if not missing:
        return None
    return Verdict(False, f"the latest {asset} materialization of the day lacks "
                          f"{', '.join(missing)}: materialize {asset} for the day", {"missing": missing})


def lines_accounted_for(figures: dict | None) -> Verdict:
    """Every source line is accounted for, per server and for the day.

    Per server: ``lines = produced + quarantined + other_servers_lines + other_days_lines``, and
    every server read the same number of lines (the day's ``log_lines``). For the day: each line is
    produced, quarantined or left to another day by exactly one server, so
    ``log_lines = produced + quarantined + other_days_lines`` (sums over servers).
    """
    missing = _missing_figures(figures, _ACCOUNTING)
    if missing is not None:
        return missing
    lines = figures["log_lines"]
    problems: list[str] = []
    servers: dict = figures["lines_by_server"]
    for name, f in sorted(servers.items()):
        accounted = f["produced"] + f["quarantined"] + f["other_servers_lines"] + f["other_days_lines"]
        if accounted != f["lines"]:
            problems.append(f"{name} read {f['lines']} lines but accounts for {accounted} (produced "
                            f"{f['produced']} + quarantined {f['quarantined']} + other servers' "
                            f"{f['other_servers_lines']} + other days' {f['other_days_lines']})")
    read = {name: f["lines"] for name, f in servers.items()}
    if len(set(read.values()) | {lines}) > 1:
        problems.append(f"the servers did not all read the day's {lines} lines: {read}")
    day_accounted = figures["produced"] + figures["quarantined"] + figures["other_days_lines"]
    if day_accounted != lines:
        problems.append(f"the day's {lines} lines != produced {figures['produced']} + quarantined "
                        f"{figures['quarantined']} + other days' {figures['other_days_lines']} = {day_accounted}")
    metadata = {"log_lines": lines, "produced": figures["produced"], "quarantined": figures["quarantined"],
                "other_days_lines": figures["other_days_lines"], "lines_by_server": servers}
    if problems:
        return Verdict(False, "; ".join(problems), metadata | {"problems": problems})
    return Verdict(True, f"all {lines} lines accounted for by {len(servers)} server(s): produced "
                         f"{figures['produced']}, quarantined {figures['quarantined']}, other days' "
                         f"{figures['other_days_lines']}", metadata)


def share_verdict(count: int, total: int, *, unit: str, outcome: str, reasons: dict[str, int], metadata: dict,
                  rate_key: str, warn_rate: float, error_rate: float) -> Verdict:
    """``count`` of ``total`` ``unit``s had ``outcome`` (quarantined, rejected): the one rate rule.

    Over ``error_rate``, or every one: fails with ERROR. Over ``warn_rate``: fails with WARN.
    ``total == 0`` passes (nothing to judge). ``metadata`` gains ``rate_key``.
    """
    if total == 0:
        return Verdict(True, f"no {unit}s for the day", metadata | {rate_key: 0.0})
    rate = count / total
    metadata = metadata | {rate_key: round(rate, 6)}
    text = f"{count} of {total} {unit}s {outcome} ({100 * rate:.2f}%)"
    if reasons:
        text += ": " + ", ".join(f"{reason} {n}" for reason, n in sorted(reasons.items(), key=lambda r: -r[1]))
    if count == total:
        return Verdict(False, f"every {unit} {outcome}: {text}", metadata, severity="ERROR")
    if rate > error_rate:
        return Verdict(False, f"{text}, over {100 * error_rate:g}%", metadata, severity="ERROR")
    if rate > warn_rate:
        return Verdict(False, f"{text}, over {100 * warn_rate:g}%" if warn_rate else text, metadata, severity="WARN")
    return Verdict(True, text, metadata)


def quarantine_rate(figures: dict | None, warn_rate: float = QUARANTINE_WARN_RATE,
                    error_rate: float = QUARANTINE_ERROR_RATE) -> Verdict:
    """Quarantined share of the day's own lines (produced + quarantined).

    Over ``error_rate``, or every line quarantined: fails with ERROR. Over ``warn_rate``: fails
    with WARN. A day without lines passes (the volume check reports it).
    """
    missing = _missing_figures(figures, ("produced", "quarantined"))
    if missing is not None:
        return missing
    quarantined, own = figures["quarantined"], figures["produced"] + figures["quarantined"]
    reasons = figures.get("quarantine_reasons") or {}
    return share_verdict(quarantined, own, unit="line", outcome="quarantined", reasons=reasons,
                         metadata={"quarantined": quarantined, "day_lines": own, "quarantine_reasons": reasons},
                         rate_key="quarantine_rate", warn_rate=warn_rate, error_rate=error_rate)


def volume_near_median(acknowledged: int | None, history: dict[str, int], tolerance: float = VOLUME_TOLERANCE,
                       min_history: int = VOLUME_MIN_HISTORY_DAYS) -> Verdict:
    """The day's acknowledged events within ``±tolerance`` of the median of ``history`` (earlier days).

    Fails with WARN outside that band; passes when fewer than ``min_history`` days are known.
    """
    import statistics

    if acknowledged is None:
        return _missing_figures({}, ("acknowledged",))
    metadata = {"acknowledged": acknowledged, "history_days": len(history)}
    if len(history) < min_history:
        return Verdict(True, f"only {len(history)} earlier day(s) materialized, {min_history} needed "
                             "for a volume baseline", metadata)
    median = statistics.median(history.values())
    low, high = median * (1 - tolerance), median * (1 + tolerance)
    metadata |= {"trailing_median": median, "low": low, "high": high}
    text = (f"{acknowledged} events acknowledged; the median of the {len(history)} earlier days is {median:g} "
            f"(band {low:g}..{high:g})")
    if low <= acknowledged <= high:
        return Verdict(True, text, metadata)
    return Verdict(False, text, metadata, severity="WARN")


# --- Silver: what the silver job could not type (``silver_events`` figures) -----------------------

#: Rejected share of a day's parsed bronze rows: the quarantine's rule and error rate, but any
#: rejected row warns. A source line that cannot be read is routine (the dump is known to hold
#: some); a row that passed the reader and bronze's validation and still cannot be typed is a gap
#: in the contract, so every one is shown (WARN blocks nothing). Over 10 % the day is not published.
SILVER_REJECT_WARN_RATE = 0.0
SILVER_REJECT_ERROR_RATE = QUARANTINE_ERROR_RATE
_SILVER_FIGURES = ("duplicates_removed", "rejected_rows", "rejected_by_reason", "dropped_document_ids",
                   "dropped_document_ids_by_reason")


def silver_rejections(figures: dict | None, parsed_bronze_rows: int, silver_rows: int,
                      warn_rate: float = SILVER_REJECT_WARN_RATE,
                      error_rate: float = SILVER_REJECT_ERROR_RATE) -> Verdict:
    """Every parsed bronze row is a silver row, a duplicate removed or a rejected row; and how many were rejected.

    ``figures``: what the silver job reported for the day (the candidate's, or the latest
    materialization's); ``parsed_bronze_rows`` and ``silver_rows`` are read from the tables. A
    mismatch (silver or bronze changed since the job ran) fails with ERROR. Otherwise the
    rejected share goes through :func:`share_verdict`; document ids dropped from kept rows also
    warn.
    """
    missing = _missing_figures(figures, _SILVER_FIGURES, asset="silver_events")
    if missing is not None:
        return missing
    duplicates, rejected = figures["duplicates_removed"], figures["rejected_rows"]
    dropped, dropped_reasons = figures["dropped_document_ids"], figures["dropped_document_ids_by_reason"] or {}
    metadata = {"parsed_bronze_rows": parsed_bronze_rows, "silver_rows": silver_rows,
                "duplicates_removed": duplicates, "rejected_rows": rejected,
                "rejected_by_reason": figures["rejected_by_reason"] or {},
                "dropped_document_ids": dropped, "dropped_document_ids_by_reason": dropped_reasons}
    accounted = silver_rows + duplicates + rejected
    if accounted != parsed_bronze_rows:
        return Verdict(False, f"parsed bronze rows {parsed_bronze_rows} != silver rows {silver_rows} + duplicates "
                              f"removed {duplicates} + rejected {rejected} = {accounted}: bronze or silver changed "
                              "after the silver job ran; re-materialize silver_events for the day", metadata)
    verdict = share_verdict(rejected, parsed_bronze_rows, unit="parsed bronze row", outcome="rejected",
                            reasons=metadata["rejected_by_reason"], metadata=metadata, rate_key="rejected_rate",
                            warn_rate=warn_rate, error_rate=error_rate)
    if not dropped:
        return verdict
    text = f"{verdict.description}; {dropped} document id(s) dropped from kept rows: " + ", ".join(
        f"{reason} {n}" for reason, n in sorted(dropped_reasons.items(), key=lambda r: -r[1]))
    if verdict.passed:
        return Verdict(False, text, verdict.metadata, severity="WARN")
    return Verdict(False, text, verdict.metadata, severity=verdict.severity)
