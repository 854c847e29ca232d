"""The asset graph (assets, checks, jobs, schedules, sensors, resource keys) matches snapshots/asset_graph.json.

After an intended change, rewrite it with ``TRIPCLICK_UPDATE_SNAPSHOTS=1 pytest <this file>`` and review the diff.
"""

import difflib
import json
import os
from pathlib import Path

import pytest

import dagster as dg

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def _load_defs() -> dg.Definitions:
    from tripclick_assets import definitions

    defs = definitions.defs
    # `@dg.definitions def defs(): ...` is a lazy loader; calling it builds the Definitions, as Dagster does.
    return defs if isinstance(defs, dg.Definitions) else defs()


def _first_line(text: str | None) -> str | None:
    return text.strip().splitlines()[0] if text and text.strip() else None


def _partitions(p: dg.PartitionsDefinition | None) -> dict | None:
    if p is None:
        return None
    out = {"type": type(p).__name__}
    if isinstance(p, dg.TimeWindowPartitionsDefinition):
        out |= {"start": p.start.isoformat(), "timezone": p.timezone, "fmt": p.fmt, "end_offset": p.end_offset,
                "cron_schedule": p.cron_schedule}
    return out


def _freshness(policy) -> dict | None:
    if policy is None:
        return None
    return {"type": type(policy).__name__, "deadline_cron": getattr(policy, "deadline_cron", None),
            "timezone": getattr(policy, "timezone", None)}


def _check_id(key: dg.AssetCheckKey) -> str:
    return f"{key.asset_key.to_user_string()}:{key.name}"


def _asset(node) -> dict:
    backfill = node.backfill_policy
    return {
        "group_name": node.group_name,
        "kinds": sorted(node.kinds),
        "partitions": _partitions(node.partitions_def),
        "backfill_policy": backfill and {"type": backfill.policy_type.value,
                                         "max_partitions_per_run": backfill.max_partitions_per_run},
        "deps": sorted(k.to_user_string() for k in node.parent_keys),
        "freshness_policy": _freshness(node.freshness_policy or node.legacy_freshness_policy),
        "code_version": node.code_version,
        "owners": sorted(node.owners),
        "tags": {k: v for k, v in node.tags.items() if not k.startswith("dagster/kind/")},  # kinds are above
        "description": _first_line(node.description),
    }


def build_snapshot(defs: dg.Definitions) -> dict:
    """Everything a restructure must keep, as plain JSON values (identifiers only, no resource values)."""
    graph = defs.resolve_asset_graph()
    repo = defs.get_repository_def()
    checks = {}
    for key in graph.asset_check_keys:
        spec = graph.get_check_spec(key)
        checks[_check_id(key)] = {
            "asset": key.asset_key.to_user_string(), "name": key.name, "blocking": spec.blocking,
            "partitions_def": type(spec.partitions_def).__name__ if spec.partitions_def else None,
        }
    jobs = {}
    for job in defs.resolve_all_job_defs():
        if job.name.startswith("__"):  # Dagster's implicit asset job
            continue
        jobs[job.name] = {
            "assets": sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys),
            "checks": sorted(_check_id(k) for k in job.asset_layer.asset_graph.asset_check_keys),
            "tags": dict(job.tags),
        }
    snapshot = {
        "assets": {key.to_user_string(): _asset(graph.get(key)) for key in graph.get_all_asset_keys()},
        "asset_checks": checks,
        "jobs": jobs,
        "schedules": {
            s.name: {"cron": s.cron_schedule, "execution_timezone": s.execution_timezone, "job": s.job_name,
                     "default_status": s.default_status.value}
            for s in repo.schedule_defs
        },
        "sensors": {
            s.name: {"type": s.sensor_type.value, "default_status": s.default_status.value,
                     # the status a run-status sensor watches (FAILURE: @run_failure_sensor); no public accessor
                     "run_status": getattr(getattr(s, "_run_status", None), "value", None)}
            for s in repo.sensor_defs
        },
        "resources": sorted(defs.resources or {}),
        "executor": defs.executor.name if defs.executor else None,
    }
    return json.loads(render(snapshot))  # plain JSON types, so it compares equal to the loaded file


def render(snapshot: dict) -> str:
    return json.dumps(snapshot, indent=2, sort_keys=True) + "\n"


def test_asset_graph_matches_snapshot(monkeypatch, tmp_path):
    monkeypatch.delenv("TRIPCLICK_ENV", raising=False)  # local resources: nothing is started or connected
    monkeypatch.setenv("TRIPCLICK_HOME", str(tmp_path))
    actual = build_snapshot(_load_defs())

    if os.environ.get("TRIPCLICK_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(render(actual))
        return
    assert SNAPSHOT.exists(), f"{SNAPSHOT} is missing; create it with TRIPCLICK_UPDATE_SNAPSHOTS=1"
    expected = json.loads(SNAPSHOT.read_text())
    if actual != expected:
        diff = difflib.unified_diff(render(expected).splitlines(keepends=True), render(actual).splitlines(keepends=True),
                                    fromfile="snapshots/asset_graph.json", tofile="current definitions")
        pytest.fail(f"The asset graph changed:\n{''.join(diff)}\nIf intended, rewrite it: TRIPCLICK_UPDATE_SNAPSHOTS=1",
                    pytrace=False)
