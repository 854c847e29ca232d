"""The producer step's checks: every line accounted for, quarantine rate, daily volume (rules, then in Dagster)."""

from datetime import date, timedelta

import dagster as dg
import pytest

from tripclick_assets.defs import keys
from tripclick_assets.defs.ingestion import checks as ingestion_checks
from tripclick_assets.defs.partitions import event_date_partitions
from tripclick_assets.lib.quality import rules as quality

DAY = "2016-02-01"


def figures(produced=990, quarantined=10, other_days=0, servers=2, **overrides) -> dict:
    """A day's producer metadata as the checks read it back: every line accounted for unless overridden."""
    lines = produced + quarantined + other_days
    by_server, left = {}, (produced, quarantined, other_days)
    for index in range(servers):
        share = [n // servers + (index < n % servers) for n in left]
        by_server[f"server{index}"] = {"lines": lines, "produced": share[0], "acknowledged": share[0],
                                       "quarantined": share[1], "other_days_lines": share[2],
                                       "other_servers_lines": lines - sum(share)}
    out = {"log_lines": lines, "produced": produced, "acknowledged": produced, "quarantined": quarantined,
           "other_days_lines": other_days, "lines_by_server": by_server,
           "quarantine_reasons": {"invalid JSON": quarantined} if quarantined else {}}
    return out | overrides


# --- rules -------------------------------------------------------------------------------------------


def test_every_line_accounted_for_per_server_and_for_the_day():
    assert quality.lines_accounted_for(figures(other_days=4)).passed
    lost = figures()
    lost["lines_by_server"]["server1"]["produced"] -= 3  # 3 lines of server1 went nowhere
    verdict = quality.lines_accounted_for(lost)
    assert not verdict.passed and verdict.severity == "ERROR" and "server1 read 1000 lines" in verdict.description
    uneven = figures()
    uneven["lines_by_server"]["server0"]["lines"] += 2
    uneven["lines_by_server"]["server0"]["other_servers_lines"] += 2
    verdict = quality.lines_accounted_for(uneven)
    assert not verdict.passed and "did not all read" in verdict.description
    twice = figures(produced=990)
    twice["produced"] = 995  # a line produced by two servers
    assert "the day's 1000 lines" in quality.lines_accounted_for(twice).description
    verdict = quality.lines_accounted_for(None)
    assert not verdict.passed and "materialize tripclick_raw_logs" in verdict.description


@pytest.mark.parametrize(("produced", "quarantined", "passed", "severity"), [
    (1000, 10, True, "ERROR"),    # 0.99%: fine
    (1000, 0, True, "ERROR"),
    (0, 0, True, "ERROR"),        # no lines: the volume check says so
    (980, 20, False, "WARN"),     # 2%
    (900, 100, False, "WARN"),    # exactly 10%: still a warning
    (880, 120, False, "ERROR"),   # 12%
    (0, 3, False, "ERROR"),       # every line quarantined
])
def test_quarantine_rate_warns_over_1_percent_and_errors_over_10(produced, quarantined, passed, severity):
    verdict = quality.quarantine_rate(figures(produced=produced, quarantined=quarantined))
    assert (verdict.passed, verdict.severity) == (passed, severity), verdict.description


def test_volume_warns_outside_half_to_one_and_a_half_times_the_trailing_median():
    history = {f"d{i}": n for i, n in enumerate([1000, 1100, 900, 1000, 5000, 1000, 950])}
    assert quality.volume_near_median(1400, history).passed
    assert quality.volume_near_median(500, history).passed
    low = quality.volume_near_median(499, history)
    assert (low.passed, low.severity, low.metadata["trailing_median"]) == (False, "WARN", 1000)
    assert not quality.volume_near_median(1501, history).passed
    few = quality.volume_near_median(1, dict(list(history.items())[:6]))
    assert few.passed and "7 needed" in few.description


# --- in Dagster: the checks read the producer's materializations ----------------------------------------

PRODUCED: dict[str, dict] = {}


@dg.asset(key=keys.RAW_LOGS, partitions_def=event_date_partitions, backfill_policy=dg.BackfillPolicy.single_run())
def fake_raw_logs(context: dg.AssetExecutionContext) -> None:
    for day in context.partition_keys:  # as the real asset does: each day's figures on its partition
        context.add_asset_metadata(PRODUCED[day], partition_key=day)


@dg.asset(key=keys.BRONZE, deps=[keys.RAW_LOGS], partitions_def=event_date_partitions,
          backfill_policy=dg.BackfillPolicy.single_run())
def fake_bronze() -> None:
    return None


CHECKS = [ingestion_checks.every_line_accounted_for, ingestion_checks.quarantine_rate,
          ingestion_checks.daily_volume_near_trailing_median]


def as_metadata(values: dict) -> dict:
    return {k: dg.MetadataValue.json(v) if isinstance(v, dict) else v for k, v in values.items()}


def run_day(instance, values: dict) -> tuple[dict, set]:
    PRODUCED[DAY] = as_metadata(values)
    result = dg.materialize([fake_raw_logs, fake_bronze, *CHECKS], instance=instance, partition_key=DAY,
                            raise_on_error=False)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    return evaluations, materialized


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        start = date.fromisoformat(DAY)
        for back in range(1, 11):  # ten earlier days of ~1000 acknowledged events
            instance.report_runless_asset_event(dg.AssetMaterialization(
                keys.RAW_LOGS, partition=(start - timedelta(days=back)).isoformat(),
                metadata={"acknowledged": 1000 + back}))
        yield instance


def test_a_clean_day_passes_every_check_and_bronze_runs(instance):
    evaluations, materialized = run_day(instance, figures())
    assert {name: e.passed for name, e in evaluations.items()} == {
        "every_line_accounted_for": True, "quarantine_rate": True, "daily_volume_near_trailing_median": True}
    assert keys.BRONZE.to_user_string() in {k.to_user_string() for k in materialized}


def test_a_quarantine_rate_over_10_percent_is_an_error_that_blocks_bronze(instance):
    evaluations, materialized = run_day(instance, figures(produced=850, quarantined=150))
    q = evaluations["quarantine_rate"]
    assert not q.passed and q.severity == dg.AssetCheckSeverity.ERROR
    assert keys.BRONZE not in materialized


def test_a_warning_does_not_block_bronze(instance):
    evaluations, materialized = run_day(instance, figures(produced=400, quarantined=8))  # 2%, and a low volume
    assert (evaluations["quarantine_rate"].passed, evaluations["quarantine_rate"].severity) == (
        False, dg.AssetCheckSeverity.WARN)
    volume = evaluations["daily_volume_near_trailing_median"]
    assert not volume.passed and volume.severity == dg.AssetCheckSeverity.WARN
    assert volume.metadata["history_days"].value == 10
    assert keys.BRONZE in materialized


def test_lines_not_accounted_for_block_bronze(instance):
    broken = figures()
    broken["lines_by_server"]["server0"]["quarantined"] += 1
    evaluations, materialized = run_day(instance, broken)
    assert not evaluations["every_line_accounted_for"].passed
    assert keys.BRONZE not in materialized


def test_a_range_run_reports_each_day_and_keeps_the_worst_severity(instance):
    days = ["2016-02-01", "2016-02-02"]
    PRODUCED.update({days[0]: as_metadata(figures(produced=980, quarantined=20)),
                     days[1]: as_metadata(figures(produced=980, quarantined=20))})
    result = dg.materialize([fake_raw_logs, *CHECKS], instance=instance, raise_on_error=False, tags={
        "dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[1]})
    per_day = [e for e in result.get_asset_check_evaluations() if e.check_name == "quarantine_rate"]
    assert sorted((e.partition, e.severity) for e in per_day if e.partition) == [
        (d, dg.AssetCheckSeverity.WARN) for d in days]
    overall = [e for e in per_day if not e.partition]
    assert [(e.passed, e.severity) for e in overall] == [(False, dg.AssetCheckSeverity.WARN)]
