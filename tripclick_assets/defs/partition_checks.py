"""Turn per-partition verdicts into Dagster check results, one evaluation per event_date."""

from collections.abc import Callable

import dagster as dg

from tripclick_assets.defs.partitions import event_date_partitions
from tripclick_assets.lib.quality.rules import Verdict
from tripclick_assets.resources.lake import LakeResource
from tripclick_assets.resources.postgres import PostgresResource


def _metadata(metadata: dict) -> dict:
    return {k: dg.MetadataValue.json(v) if isinstance(v, (dict, list)) else v for k, v in metadata.items()}


def report(
    context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey, check_name: str,
    verdicts: dict[str, Verdict], blocking: bool,
) -> dg.AssetCheckResult:
    """A single-partition run returns the verdict; a range run also logs one evaluation per day."""
    if len(verdicts) == 1:
        (day, verdict), = verdicts.items()
        return dg.AssetCheckResult(passed=verdict.passed, description=verdict.description,
                                   metadata=_metadata(verdict.metadata))
    for day, verdict in verdicts.items():
        context.op_execution_context.log_event(dg.AssetCheckEvaluation(
            asset_key=asset_key, check_name=check_name, passed=verdict.passed, partition=day,
            description=verdict.description, metadata=_metadata(verdict.metadata), blocking=blocking,
        ))
    failed = sorted(day for day, v in verdicts.items() if not v.passed)
    return dg.AssetCheckResult(
        passed=not failed,
        description=f"{len(failed)} of {len(verdicts)} partitions failed" if failed else f"all {len(verdicts)} partitions passed",
        metadata={"failed_partitions": dg.MetadataValue.json(failed[:100]), "partitions": len(verdicts)},
    )


def lake_check(*, asset: dg.AssetKey, name: str, description: str, blocking: bool = True):
    """A partitioned check whose rule is ``rule(context, day, lake) -> Verdict``."""

    def decorator(rule: Callable) -> dg.AssetChecksDefinition:
        @dg.asset_check(asset=asset, name=name, description=description, blocking=blocking,
                        partitions_def=event_date_partitions)
        def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
            store = lake.lake()
            verdicts = {day: rule(context, day, store) for day in context.partition_keys}
            return report(context, asset, name, verdicts, blocking)

        return _check

    return decorator


def mart_check(*, asset: dg.AssetKey, name: str, description: str, blocking: bool = False):
    """A partitioned check whose rule is ``rule(context, day, lake, connection) -> Verdict``."""

    def decorator(rule: Callable) -> dg.AssetChecksDefinition:
        @dg.asset_check(asset=asset, name=name, description=description, blocking=blocking,
                        partitions_def=event_date_partitions)
        def _check(
            context: dg.AssetCheckExecutionContext, lake: LakeResource, postgres: PostgresResource
        ) -> dg.AssetCheckResult:
            store = lake.lake()
            with postgres.connect() as connection:
                verdicts = {day: rule(context, day, store, connection) for day in context.partition_keys}
            return report(context, asset, name, verdicts, blocking)

        return _check

    return decorator
