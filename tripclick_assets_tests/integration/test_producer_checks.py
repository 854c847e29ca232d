"""The producer step through Dagster with its checks: real broker, producers as Pipes subprocesses."""

import dagster as dg

from tripclick_assets.defs.ingestion.assets import tripclick_raw_logs
from tripclick_assets.resources.kafka import KafkaResource
from tripclick_assets.resources.producers import LocalProducersResource, SyntheticSource
from tripclick_assets_tests.defs_support import ingestion_checks

GENERATOR = {"volume": 300, "duplicate_rate": 0.02, "malformed_rate": 0.01, "bot_sessions": 0, "seed": 3}


def test_a_synthetic_range_says_so_and_every_line_is_accounted_for(tmp_path, broker):
    resources = {
        "kafka": KafkaResource(bootstrap_servers=broker.bootstrap_servers, topic="checks_raw_logs",
                               dlq_topic="checks_raw_logs_dlq"),
        "producers": LocalProducersResource(logs_dir=str(tmp_path / "logs"), synthetic=SyntheticSource(**GENERATOR)),
    }
    days = ("2016-04-01", "2016-04-09")  # nine days: the last ones have a week of volume history
    with dg.instance_for_test() as instance:
        result = dg.materialize([tripclick_raw_logs, *ingestion_checks()], resources=resources, instance=instance,
                                tags={"dagster/asset_partition_range_start": days[0],
                                      "dagster/asset_partition_range_end": days[1]})
        assert result.success
        per_day = [e for e in result.get_asset_check_evaluations() if e.partition]
        assert len(per_day) == 9 * 3 and all(e.passed for e in per_day), [e.description for e in per_day if not e.passed]
        volume = [e for e in per_day if e.check_name == "daily_volume_near_trailing_median" and e.partition == days[1]]
        assert volume[0].metadata["history_days"].value == 8
        record = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("tripclick_raw_logs"), asset_partitions=[days[1]]), limit=1
        ).records[0]
        metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        assert metadata["synthetic"] is True and metadata["synthetic_seed"] == 3
        assert metadata["log_lines"] == metadata["produced"] + metadata["quarantined"] + metadata["other_days_lines"]
        assert set(metadata["lines_by_server"]) == {"server0", "server1"}
        # Re-materialized: the files exist, nothing is generated, so the day is no longer marked synthetic.
        again = dg.materialize([tripclick_raw_logs, *ingestion_checks()], resources=resources, instance=instance,
                               partition_key=days[1])
        assert again.success
        latest = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("tripclick_raw_logs"), asset_partitions=[days[1]]), limit=1
        ).records[0].asset_materialization.metadata
        assert "synthetic" not in latest
