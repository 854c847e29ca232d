"""`tripclick sample` (scripts/dev.sh): the sample week, and skipping it once it is materialized."""

import dagster as dg
import pytest

from tripclick_assets import cli, settings
from tripclick_assets.defs import keys


def test_the_sample_is_a_week_from_the_setting(monkeypatch):
    monkeypatch.setenv("TRIPCLICK_SAMPLE_START", "2015-12-30")
    assert settings.sample_days() == [
        "2015-12-30", "2015-12-31", "2016-01-01", "2016-01-02", "2016-01-03", "2016-01-04", "2016-01-05"]


@pytest.mark.parametrize("value", ["2016-13-01", "soon", "2012-12-31"])
def test_a_bad_sample_start_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("TRIPCLICK_SAMPLE_START", value)
    with pytest.raises(settings.SettingsError, match="TRIPCLICK_SAMPLE_START"):
        settings.sample_days()


def test_a_day_counts_as_done_only_when_every_asset_has_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    days = ["2016-01-01", "2016-01-02", "2016-01-03"]
    every_asset = [keys.RAW_LOGS, keys.BRONZE, keys.SILVER, *keys.MARTS.values()]
    assert cli.missing_sample_days(days) == days
    with dg.DagsterInstance.get() as instance:
        for day in days:
            for key in every_asset:
                if (day, key) != ("2016-01-02", keys.MARTS["mart_session_anomalies"]):
                    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=day))
    assert cli.missing_sample_days(days) == ["2016-01-02"]
