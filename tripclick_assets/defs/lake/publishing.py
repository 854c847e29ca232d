"""Write, audit, publish: a Spark job's staged partitions become table snapshots only if they pass.

The asset holds a lease on its staging version while Spark writes and the audit reads (so
maintenance never removes those files), runs every blocking rule of the asset's checks on
the staged candidate (the same functions, ``AUDIT_RULES``), and then publishes all the
run's days in one Iceberg commit. A rule failing with ERROR commits nothing: the candidate is
removed and the step fails with the candidate's figures in its metadata (a WARN is logged and
the candidate published). Rules read the figures the job reported through ``source.figures``.
A write the lake's file system refuses for lack of room (while leasing, staging or committing)
fails the step, without a retry, with an error that names the layer, the days and the path; the
staged files are removed and the table keeps its current snapshot.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Sequence

import dagster as dg

from tripclick_assets.defs.partition_checks import AUDIT_RULES
from tripclick_assets.lib.lake.reads import StagedSource
from tripclick_assets.lib.lake.store import new_version, out_of_space
from tripclick_assets.resources.lake import LakeResource


@contextlib.contextmanager
def staging_lease(lake: LakeResource, layer: str, days: Sequence[str] = ()):
    """A new staging version, leased until the block ends (its files are removed if nothing was published).

    ``outcome["phase"]`` says what the block is doing (``leasing``, ``staging``, ``committing``) for the
    error of a full file system.
    """
    store = lake.lake()
    version = new_version()
    outcome = {"published": False, "phase": "leasing"}
    try:
        store.take_lease(layer, version)
        outcome["phase"] = "staging"
        yield version, outcome
    except Exception as exc:
        reason = out_of_space(exc)
        if reason is None:
            raise
        doing = {
            "leasing": f"taking the staging lease {store.lease_path(layer, version)}",
            "staging": f"staging version {version} under {store.staging_dir(layer, version)}",
            "committing": f"committing to the {layer} table (its manifests and metadata under "
                          f"{posixpath.join(store.layer_dir(layer), 'metadata')})",
        }[outcome["phase"]]
        raise dg.Failure(
            description=f"{layer} {_span(days)}: the filesystem is full ({reason}) while {doing}. Nothing was "
                        "published (the table keeps its current snapshot) and the staged files are removed; "
                        "free space on the lake and re-materialize",
            metadata={"phase": outcome["phase"], "reason": reason, "lake_root": lake.root},
            allow_retries=False,
        ) from exc
    finally:
        if not outcome["published"]:
            store.remove_staging(layer, version)
        store.release_lease(layer, version)


def _span(days: Sequence[str]) -> str:
    days = sorted(days)
    if not days:
        return "partitions"
    return f"event_date {days[0]}" if len(days) == 1 else f"event_date {days[0]}..{days[-1]} ({len(days)} days)"


def audit(context, asset_key: dg.AssetKey, source: StagedSource, days: list[str]) -> dict[str, dict[str, dict]]:
    """``{day: {rule: verdict metadata}}`` of the blocking rules the candidate fails with ERROR (empty: it passes).

    A rule that fails with WARN is logged and does not reject the candidate, as a WARN failure of
    a blocking check blocks nothing in Dagster; the check itself shows it after the publish.
    """
    # checks.py registers its rules on import (the defs loader imports it too; this makes it certain)
    from tripclick_assets.defs.lake import checks  # noqa: F401

    failures: dict[str, dict[str, dict]] = {}
    for name, rule in AUDIT_RULES.get(asset_key, []):
        for day in days:
            verdict = rule(context, day, source)
            if verdict.passed:
                continue
            if verdict.severity == "WARN":
                context.log.warning(f"{name} {day}: {verdict.description} (WARN: published all the same)")
                continue
            failures.setdefault(day, {})[name] = {"description": verdict.description, **verdict.metadata}
    return failures


def audit_and_publish(context, lake: LakeResource, layer: str, asset_key: dg.AssetKey,
                      staged: dict[str, list[str]], figures: dict[str, dict], outcome: dict) -> dict:
    """Audit the candidate, then publish it; returns the materialization metadata of the commit."""
    from tripclick_assets.lib.lake.publish import publish

    tables = lake.tables()
    days = sorted(staged)
    failures = audit(context, asset_key, StagedSource(tables, layer, staged, figures), days)
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
    outcome["phase"] = "committing"
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
