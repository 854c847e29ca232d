"""Checks on the producer step, per event_date partition, from the figures its materialization recorded.

``every_line_accounted_for`` and ``quarantine_rate`` are blocking: a failure with ERROR severity stops
bronze and everything after it (a WARN failure is reported but blocks nothing, as Dagster 1.13 blocks
only on ERROR). ``daily_volume_near_trailing_median`` only warns. The rules are pure functions in
``lib/quality/rules.py``.
"""

from collections.abc import Callable
from datetime import date, timedelta

import dagster as dg

from tripclick_assets.defs import keys
from tripclick_assets.defs.metadata import latest_partition_metadata
from tripclick_assets.defs.partition_checks import report
from tripclick_assets.defs.partitions import event_date_partitions
from tripclick_assets.lib.quality import rules as quality

RAW_LOGS = keys.RAW_LOGS


def producer_check(*, name: str, description: str, blocking: bool):
    """A partitioned check on ``tripclick_raw_logs`` whose rule is ``rule(day, figures, history) -> Verdict``.

    ``figures`` is the metadata of the day's latest materialization (None if never);
    ``history(day)`` gives ``{earlier day: acknowledged}`` for the trailing window.
    """

    def decorator(rule: Callable) -> dg.AssetChecksDefinition:
        @dg.asset_check(asset=RAW_LOGS, name=name, description=description, blocking=blocking,
                        partitions_def=event_date_partitions)
        def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
            figures = _Figures(context.instance)
            verdicts = {day: rule(day, figures.of(day), figures.history) for day in context.partition_keys}
            return report(context, RAW_LOGS, name, verdicts, blocking)

        return _check

    return decorator


class _Figures:
    """The producer's per-day metadata, read from the instance once per day within one check run."""

    def __init__(self, instance: dg.DagsterInstance):
        self.instance, self._cache = instance, {}

    def of(self, day: str) -> dict | None:
        if day not in self._cache:
            self._cache[day] = latest_partition_metadata(self.instance, RAW_LOGS, day)
        return self._cache[day]

    def history(self, day: str, window: int = quality.VOLUME_WINDOW_DAYS) -> dict[str, int]:
        """``{day: acknowledged}`` of the materialized days among the ``window`` days before ``day``."""
        first = date.fromisoformat(day)
        out = {}
        for back in range(1, window + 1):
            earlier = (first - timedelta(days=back)).isoformat()
            acknowledged = (self.of(earlier) or {}).get("acknowledged")
            if isinstance(acknowledged, int):
                out[earlier] = acknowledged
        return out


@producer_check(
    name="every_line_accounted_for", blocking=True,
    description="Per server: lines read = produced + quarantined + other servers' lines + other days' lines; "
                "every server read the same lines; each line counted by one server.",
)
def every_line_accounted_for(day, figures, history):
    return quality.lines_accounted_for(figures)


@producer_check(
    name="quarantine_rate", blocking=True,
    description="Quarantined share of the day's lines: over 1% warns, over 10% (or every line) is an ERROR "
                "that blocks the lake.",
)
def quarantine_rate(day, figures, history):
    return quality.quarantine_rate(figures)


@producer_check(
    name="daily_volume_near_trailing_median", blocking=False,
    description="Acknowledged events within ±50% of the median of the 28 days before (WARN; needs 7 of them).",
)
def daily_volume_near_trailing_median(day, figures, history):
    return quality.volume_near_median((figures or {}).get("acknowledged"), history(day))
