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


def _same_type(actual, expected) -> bool:
    """Type equality that ignores list child names (Spark writes ``element``, pyarrow ``item``)."""
    import pyarrow as pa

    if pa.types.is_list(actual) or pa.types.is_large_list(actual):
        return pa.types.is_list(expected) and _same_type(actual.value_type, expected.value_type)
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
