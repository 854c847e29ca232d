"""Turn per-partition verdicts into Dagster check results, one evaluation per event_date."""

from collections.abc import Callable

import dagster as dg

from tripclick_assets.defs.partitions import event_date_partitions
from tripclick_assets.lib.lake.reads import TableSource
from tripclick_assets.lib.quality.rules import Verdict
from tripclick_assets.resources.lake import LakeResource
from tripclick_assets.resources.postgres import PostgresResource


def _metadata(metadata: dict) -> dict:
    return {k: dg.MetadataValue.json(v) if isinstance(v, (dict, list)) else v for k, v in metadata.items()}


def _severity(verdict: Verdict) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.WARN if verdict.severity == "WARN" else dg.AssetCheckSeverity.ERROR


def report(
    context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey, check_name: str,
    verdicts: dict[str, Verdict], blocking: bool,
) -> dg.AssetCheckResult:
    """A single-partition run returns the verdict; a range run also logs one evaluation per day.

    Each verdict keeps its severity. A blocking check stops downstream steps only when the
    returned result fails with ERROR (Dagster 1.13), so a range's result is ERROR when any day
    failed with ERROR and WARN when every failed day only warned.
    """
    if len(verdicts) == 1:
        (day, verdict), = verdicts.items()
        return dg.AssetCheckResult(passed=verdict.passed, description=verdict.description,
                                   metadata=_metadata(verdict.metadata), severity=_severity(verdict))
    for day, verdict in verdicts.items():
        context.op_execution_context.log_event(dg.AssetCheckEvaluation(
            asset_key=asset_key, check_name=check_name, passed=verdict.passed, partition=day,
            description=verdict.description, metadata=_metadata(verdict.metadata), blocking=blocking,
            severity=_severity(verdict),
        ))
    failed = sorted(day for day, v in verdicts.items() if not v.passed)
    errors = [day for day in failed if verdicts[day].severity != "WARN"]
    return dg.AssetCheckResult(
        passed=not failed,
        description=f"{len(failed)} of {len(verdicts)} partitions failed" if failed else f"all {len(verdicts)} partitions passed",
        metadata={"failed_partitions": dg.MetadataValue.json(failed[:100]), "partitions": len(verdicts)},
        severity=dg.AssetCheckSeverity.ERROR if errors or not failed else dg.AssetCheckSeverity.WARN,
    )


AUDIT_RULES: dict[dg.AssetKey, list[tuple[str, Callable]]] = {}
"""The blocking lake rules per asset: the same functions the asset runs on its staged candidate (WAP)."""


def lake_check(*, asset: dg.AssetKey, name: str, description: str, blocking: bool = True):
    """A partitioned check whose rule is ``rule(context, day, source) -> Verdict``.

    ``source`` reads partitions (``source.read(layer, day, columns)``, ``source.schema(layer, day)``):
    the published tables here, the staged candidate when the asset audits before publishing.
    """

    def decorator(rule: Callable) -> dg.AssetChecksDefinition:
        if blocking:
            AUDIT_RULES.setdefault(asset, []).append((name, rule))

        @dg.asset_check(asset=asset, name=name, description=description, blocking=blocking,
                        partitions_def=event_date_partitions)
        def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
            source = TableSource(lake.tables())
            verdicts = {day: rule(context, day, source) for day in context.partition_keys}
            return report(context, asset, name, verdicts, blocking)

        return _check

    return decorator


MART_AUDIT_RULES: dict[str, Callable] = {}
"""Every mart rule, run on the load's candidate schema before it is published (WAP)."""


def mart_check(*, asset: dg.AssetKey, name: str, description: str, blocking: bool = True):
    """A partitioned check whose rule is ``rule(context, day, lake, connection) -> Verdict``.

    The rule queries unqualified mart names: the published marts here, the candidate when the
    marts asset audits it (its connection's ``search_path`` is the candidate schema). Blocking,
    so a failure on the published marts fails the run and the failure sensor alerts.
    """

    def decorator(rule: Callable) -> dg.AssetChecksDefinition:
        MART_AUDIT_RULES[name] = rule

        @dg.asset_check(asset=asset, name=name, description=description, blocking=blocking,
                        partitions_def=event_date_partitions)
        def _check(
            context: dg.AssetCheckExecutionContext, lake: LakeResource, postgres: PostgresResource
        ) -> dg.AssetCheckResult:
            store = lake.tables()
            with postgres.connect() as connection:
                verdicts = {day: rule(context, day, store, connection) for day in context.partition_keys}
            return report(context, asset, name, verdicts, blocking)

        return _check

    return decorator
