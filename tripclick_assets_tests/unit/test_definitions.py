"""The code location loads with the lineage, checks, schedule and sensor a user expects."""

import subprocess
import sys

import pytest

import dagster as dg

from tripclick_assets_tests.defs_support import load_defs


def test_every_layer_and_check_is_defined():
    defs = load_defs()
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {
        "tripclick_raw_logs", "bronze_events", "silver_events", "mart_daily_traffic", "mart_session_analysis",
        "mart_clinical_areas", "mart_popular_documents", "mart_session_anomalies",
    }
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups["tripclick_raw_logs"] == "ingestion" and groups["silver_events"] == "lake"
    assert groups["mart_daily_traffic"] == "marts"
    partitions = {graph.get(k).partitions_def for k in graph.get_all_asset_keys()}
    assert len(partitions) == 1  # one partitioning shared by every asset
    (daily,) = partitions
    assert daily.get_first_partition_key() == "2013-01-01" and daily.timezone == "UTC"
    checks = {k.name for k in graph.asset_check_keys}
    assert {"bronze_rows_match_acknowledged", "silver_dedup_key_unique", "silver_not_more_than_bronze",
            "daily_total_matches_silver", "area_counts_match_silver", "bronze_schema", "silver_schema"} <= checks


def test_schedule_is_15_00_seoul_and_sensor_exists():
    defs = load_defs()
    schedule = defs.resolve_schedule_def("daily_lineage_schedule")
    assert schedule.cron_schedule == "0 15 * * *" and schedule.execution_timezone == "Asia/Seoul"
    assert defs.resolve_sensor_def("tripclick_run_failure_alert")


def test_bad_environment_fails_at_load_naming_the_setting():
    for env, name in [({"TRIPCLICK_ENV": "staging"}, "TRIPCLICK_ENV"), ({"TRIPCLICK_KAFKA_PORT": "nine"}, "TRIPCLICK_KAFKA_PORT")]:
        result = subprocess.run([sys.executable, "-c", "import tripclick_assets.definitions as d; d.defs()"],
                                env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True)
        assert result.returncode != 0
        assert name in result.stderr


@pytest.mark.parametrize("bad", ["2016-13-01", "yesterday", "2012-12-31"])
def test_partition_key_outside_the_definition_is_a_clear_error(bad):
    from dagster._core.errors import DagsterUnknownPartitionError

    from tripclick_assets.defs.partitions import event_date_partitions

    with dg.instance_for_test() as instance:
        assert not event_date_partitions.has_partition_key(bad)
        with pytest.raises(DagsterUnknownPartitionError) as info:
            load_defs().resolve_job_def("tripclick_daily_lineage").execute_in_process(
                partition_key=bad, instance=instance
            )
        assert bad in str(info.value)
