"""The lake on S3 (a real moto server): producer -> bronze through Dagster with bronze's checks.

The lake root is ``s3a://tripclick-lake/<prefix>`` and nothing of the lake may touch the local
disk: the bronze tasks (Spark's Python workers) write Parquet with pyarrow's S3 file system, the
audit reads the staged candidate on S3, the Iceberg commit writes its manifests and metadata to
S3, and every bronze check reads the table there. Then the commit protocol on S3: a re-run
replaces the partition with a new snapshot of the same rows; a candidate that fails a blocking
rule (the producer's figures disagree with the records; the contract gained a column the job does
not write) is not published and its staged objects are deleted from the bucket; and maintenance
removes the replaced snapshot's objects.

Silver and the marts are not run: Spark reads and writes them through s3a, which needs
hadoop-aws and the AWS SDK bundle from Maven Central (deploy/README.md §0 names the jars and
digests the Spark image adds; tripclick_assets_tests/deploy/test_dockerfiles.py holds the
runbook to the Dockerfile).
"""

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest

from tripclick_assets.defs import keys
from tripclick_assets.defs.ingestion.assets import tripclick_raw_logs
from tripclick_assets.defs.lake import checks as bronze_check_rules
from tripclick_assets.defs.lake.assets import bronze_events
from tripclick_assets.lib.lake.maintenance import maintain
from tripclick_assets.lib.lake.reads import partition_files, read_partition
from tripclick_assets.lib.lake.schema import BRONZE_COLUMNS
from tripclick_assets.lib.lake.store import Lake
from tripclick_assets.resources.lake import LakeResource
from tripclick_assets.resources.producers import SyntheticSource
from tripclick_assets_tests.defs_support import lake_checks
from tripclick_assets_tests.integration.lineage_support import lineage_resources
from tripclick_assets_tests.integration.test_lake_storage import moto_s3  # noqa: F401  (the moto server fixture)

pytestmark = pytest.mark.slow

DAY = "2016-01-05"
BUCKET = "tripclick-lake"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
GENERATOR = {"volume": 1500, "duplicate_rate": 0.03, "malformed_rate": 0.01, "bot_sessions": 1}
ROW_COLUMNS = ["kafka_partition", "kafka_offset", "dedup_key", "event_date", "parse_error"]


def bronze_checks() -> list:
    return [c for c in lake_checks() if all(k.asset_key == keys.BRONZE for k in c.check_keys)]


@pytest.fixture
def s3_credentials(monkeypatch, spark):
    """moto's credentials for this process (Dagster, the audit, pyiceberg) and for Spark's Python workers.

    The workers' environment is the session's ``environment`` (``spark.executorEnv.*``), not the
    test process's: a session started before this test would not see ``monkeypatch.setenv``.
    """
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    saved = dict(spark.sparkContext.environment)
    spark.sparkContext.environment.update(CREDENTIALS)
    yield
    spark.sparkContext.environment.clear()
    spark.sparkContext.environment.update(saved)


def s3_client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def objects(client, prefix: str) -> dict[str, int]:
    """``{key: size}`` of every object under ``prefix`` in the bucket."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        found.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return found


def lake_on_local_disk(tmp_path: Path) -> list[str]:
    """What a lake written to the local disk by mistake would leave: data, manifests or table metadata
    under the test's directory, or the bucket's name (a path taken as relative) or an ``s3:`` directory
    in it or in the working directory (which Spark's Python workers share)."""
    found = [str(p) for pattern in ("**/*.parquet", "**/*.avro", "**/*.metadata.json", "**/_in_progress")
             for p in tmp_path.glob(pattern)]
    return found + [str(d / name) for d in (tmp_path, Path.cwd()) for name in (BUCKET, "s3:", "s3a:")
                    if (d / name).exists()]


def latest(instance, key: str) -> dict:
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), asset_partitions=[DAY]), limit=1).records[0]
    return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def bronze_rows(tables, snapshot_id=None) -> list[tuple]:
    table = read_partition(tables, "bronze", DAY, ROW_COLUMNS, snapshot_id=snapshot_id)
    return sorted(tuple(r.values()) for r in table.to_pylist())


def check_results(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_producer_and_bronze_with_the_lake_on_s3(tmp_path, broker, postgres, spark, topic_names, moto_s3,
                                                 s3_credentials, monkeypatch):
    prefix = f"lake-{uuid.uuid4().hex[:8]}"
    client = s3_client(moto_s3)
    resources = lineage_resources(tmp_path, broker, postgres, topic=topic_names[0],
                                  synthetic=SyntheticSource(**GENERATOR))
    resources["lake"] = lake = LakeResource(
        root=f"s3a://{BUCKET}/{prefix}", s3_endpoint_url=moto_s3, s3_region="us-east-1",
        catalog_uri=postgres.url, catalog_name=f"t_{uuid.uuid4().hex[:10]}")
    tables = lake.tables()
    defs = [tripclick_raw_logs, bronze_events, *bronze_checks()]
    bronze_only = dg.AssetSelection.assets(bronze_events) | dg.AssetSelection.checks_for_assets(bronze_events)

    with dg.instance_for_test() as instance:
        # 1. The producer step and bronze, bronze's checks reading S3 --------------------------------------------
        first = dg.materialize(defs, resources=resources, instance=instance, partition_key=DAY)
        assert first.success
        checks = check_results(first)
        assert set(checks) == {key.name for c in bronze_checks() for key in c.check_keys} and all(checks.values()), checks
        produced, bronze = latest(instance, "tripclick_raw_logs"), latest(instance, "bronze_events")
        assert bronze["parsed_rows"] == produced["acknowledged"] > 1000
        assert bronze["files"] >= 1 and bronze["bytes"] > 0

        in_bucket = objects(client, f"{prefix}/")
        files = partition_files(tables, "bronze", DAY)
        assert len(files) == bronze["files"]
        for uri in files:  # every data file of the snapshot is an object in the bucket, written by a Spark task
            assert uri.startswith(f"s3://{BUCKET}/{prefix}/bronze/data/"), uri
            key = uri[len(f"s3://{BUCKET}/"):]
            assert in_bucket.get(key, 0) > 0 and "/_partition=2016-01-05/part-" in key, key
        table = tables.table("bronze")
        assert table.metadata_location.startswith(f"s3://{BUCKET}/{prefix}/bronze/metadata/")
        metadata_keys = [k for k in in_bucket if k.startswith(f"{prefix}/bronze/metadata/")]
        assert any(k.endswith(".metadata.json") for k in metadata_keys)
        assert any(k.split("/")[-1].startswith("snap-") for k in metadata_keys)  # the manifest list
        assert not [k for k in in_bucket if "/_in_progress/" in k and not k.endswith("/")]  # the lease released
        rows = bronze_rows(tables)
        assert len(rows) == bronze["dagster/row_count"]
        assert lake_on_local_disk(tmp_path) == []  # nothing of the lake on the local disk

        # 2. Re-materialize: a new snapshot replaces the partition with the same rows -----------------------------
        again = dg.materialize(defs, resources=resources, instance=instance, partition_key=DAY, selection=bronze_only)
        assert again.success and all(check_results(again).values()), check_results(again)
        rerun = latest(instance, "bronze_events")
        assert rerun["snapshot_id"] != bronze["snapshot_id"]
        assert rerun["previous_snapshot_id"] == bronze["snapshot_id"]
        assert bronze_rows(tables) == rows
        assert bronze_rows(tables, snapshot_id=int(bronze["snapshot_id"])) == rows  # the old snapshot reads back
        assert set(partition_files(tables, "bronze", DAY)).isdisjoint(files)  # replaced, not appended

        # 3. Candidates failing a blocking rule: not published, their staged objects deleted from the bucket -----
        def rejected_run() -> tuple[str, object]:
            """Materialize bronze expecting a rejected candidate; returns the failure's message and data."""
            staged: dict[str, dict[str, int]] = {}
            remove_staging = Lake.remove_staging

            def spy(store, layer, version):  # what the bucket held of the candidate when it was removed
                staged[version] = objects(client, store.staging_dir(layer, version).split("/", 1)[1] + "/")
                return remove_staging(store, layer, version)

            before = objects(client, f"{prefix}/")
            with monkeypatch.context() as patch:
                patch.setattr(Lake, "remove_staging", spy)
                result = dg.materialize(defs, resources=resources, instance=instance, partition_key=DAY,
                                        selection=bronze_only, raise_on_error=False)
            assert not result.success
            data = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").event_specific_data
            assert "nothing was published" in data.error.message, data.error.message
            assert data.user_failure_data.metadata["rejected_partitions"].value == [DAY]
            assert tables.table("bronze").current_snapshot().snapshot_id == int(rerun["snapshot_id"])
            assert bronze_rows(tables) == rows
            (version, candidate), = staged.items()
            parquet = [k for k in candidate if k.endswith(".parquet")]
            assert parquet and all(candidate[k] > 0 for k in parquet), candidate  # the candidate was in the bucket...
            after = objects(client, f"{prefix}/")
            assert not [k for k in after if f"/bronze/data/{version}/" in k]  # ...and is gone, directory markers too
            assert not [k for k in after if "/_in_progress/" in k and not k.endswith("/")]  # its lease released
            assert {k for k in after if not k.endswith("/")} == {k for k in before if not k.endswith("/")}
            return data.error.message, data.user_failure_data.metadata

        def producer_figures(figures: dict) -> None:
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=keys.RAW_LOGS, partition=DAY, metadata={
                k: dg.MetadataValue.json(v) if isinstance(v, (dict, list)) else v for k, v in figures.items()}))

        # a) The producer's latest figures claim one more acknowledged event than the offset ranges hold
        #    (records lost between the acknowledgement and the read): bronze_rows_match_acknowledged's rule,
        #    on the candidate read back from S3, rejects it.
        claimed = {**produced, "acknowledged": produced["acknowledged"] + 1}
        if "acknowledged_by_partition" in produced:
            by_partition = dict(produced["acknowledged_by_partition"])
            first_partition = sorted(by_partition)[0]
            by_partition[first_partition] = int(by_partition[first_partition]) + 1
            claimed["acknowledged_by_partition"] = by_partition
        producer_figures(claimed)
        message, metadata = rejected_run()
        figures = " ".join(str(v.value) for v in metadata.values())  # the candidate's figures and the claim
        assert "acknowledged" in message + figures and f"'acknowledged': {claimed['acknowledged']}" in figures, figures

        # b) The contract gained a column the job code does not write yet (code and contract diverged):
        #    the audit's bronze_schema reads the staged file's footer on S3 and rejects the candidate.
        producer_figures(produced)
        with monkeypatch.context() as patch:
            patch.setattr(bronze_check_rules, "BRONZE_COLUMNS", BRONZE_COLUMNS + (("referrer", "string"),))
            message, metadata = rejected_run()
        assert "candidate rejected by its blocking checks" in message, message
        assert metadata["failed_rules"].value[DAY]["bronze_schema"]["missing_columns"] == ["referrer"]

    # Maintenance on S3: after the retention, the replaced snapshot's files are removed from the bucket.
    report = maintain(tables.table("bronze"), tables.lake, "bronze", timedelta(days=1),
                      now=datetime.now(timezone.utc) + timedelta(days=3))
    current = partition_files(tables, "bronze", DAY)
    remaining = objects(client, f"{prefix}/bronze/")
    assert report.expired_snapshots >= 1
    assert all(uri[len(f"s3://{BUCKET}/"):] in remaining for uri in current)
    assert not [uri for uri in files if uri[len(f"s3://{BUCKET}/"):] in remaining]
    assert bronze_rows(tables) == rows
    assert lake_on_local_disk(tmp_path) == []
