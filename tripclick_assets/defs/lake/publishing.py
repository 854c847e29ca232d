"""Write, audit, publish: a Spark job's staged partitions become table snapshots only if they pass.

The asset holds a lease on its staging version while Spark writes and the audit reads (so
maintenance never removes those files), runs every blocking rule of the asset's checks on
the staged candidate (the same functions, ``AUDIT_RULES``), and then publishes all the
run's days in one Iceberg commit. A failed rule commits nothing: the candidate is removed
and the step fails with the candidate's figures in its metadata.
"""

from __future__ import annotations

import contextlib

import dagster as dg

from tripclick_assets.defs.partition_checks import AUDIT_RULES
from tripclick_assets.lib.lake.reads import StagedSource
from tripclick_assets.lib.lake.store import new_version
from tripclick_assets.resources.lake import LakeResource


@contextlib.contextmanager
def staging_lease(lake: LakeResource, layer: str):
    """A new staging version, leased until the block ends (its files are removed if nothing was published)."""
    store = lake.lake()
    version = new_version()
    store.take_lease(layer, version)
    outcome = {"published": False}
    try:
        yield version, outcome
    finally:
        if not outcome["published"]:
            store.remove_staging(layer, version)
        store.release_lease(layer, version)


def audit(context, asset_key: dg.AssetKey, source: StagedSource, days: list[str]) -> dict[str, dict[str, dict]]:
    """``{day: {rule: verdict metadata}}`` of the blocking rules the candidate fails (empty: it passes)."""
    # checks.py registers its rules on import (the defs loader imports it too; this makes it certain)
    from tripclick_assets.defs.lake import checks  # noqa: F401

    failures: dict[str, dict[str, dict]] = {}
    for name, rule in AUDIT_RULES.get(asset_key, []):
        for day in days:
            verdict = rule(context, day, source)
            if not verdict.passed:
                failures.setdefault(day, {})[name] = {"description": verdict.description, **verdict.metadata}
    return failures


def audit_and_publish(context, lake: LakeResource, layer: str, asset_key: dg.AssetKey,
                      staged: dict[str, list[str]], figures: dict[str, dict], outcome: dict) -> dict:
    """Audit the candidate, then publish it; returns the materialization metadata of the commit."""
    from tripclick_assets.lib.lake.publish import publish

    tables = lake.tables()
    days = sorted(staged)
    failures = audit(context, asset_key, StagedSource(tables, layer, staged), days)
    if failures:
        raise dg.Failure(
            description=f"{layer} candidate rejected by its blocking checks for {sorted(failures)}; "
                        "nothing was published (the table keeps its current snapshot)",
            metadata={
                "rejected_partitions": dg.MetadataValue.json(sorted(failures)),
                "failed_rules": dg.MetadataValue.json(failures),
                "candidate": dg.MetadataValue.json(figures),
            },
            allow_retries=False,
        )
    table = tables.table(layer, evolve=True)
    published = publish(table, staged, {"dagster.run-id": context.run.run_id})
    outcome["published"] = True
    context.log.info(f"{layer}: published {days[0]}..{days[-1]} as snapshot {published.snapshot_id} "
                     f"in {published.seconds} s ({published.attempts} attempt(s))")
    return {
        "snapshot_id": str(published.snapshot_id),
        "previous_snapshot_id": str(published.previous_snapshot_id) if published.previous_snapshot_id else "",
        "publish_seconds": published.seconds,
        "publish_attempts": published.attempts,
        "table": f"{'.'.join(table.name())}",
    }
