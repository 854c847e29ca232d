"""TRIPCLICK_ENV=prod end to end: the daily lineage through the resources settings.py builds for prod,
pointed at the loopback dockerd (TLS), sshd, broker and PostgreSQL, against the local run of the same day.

The lake is a local directory here (s3a:// needs an S3 endpoint and hadoop-aws on the Spark
side, neither of which this machine has); LakeResource treats both the same way.
"""

import sys

import dagster as dg
import psycopg
import pytest

from tripclick_assets import settings
from tripclick_assets.defs.resources import RESOURCES
from tripclick_assets.defs.ingestion.assets import tripclick_raw_logs
from tripclick_assets.defs.lake.assets import bronze_events, silver_events
from tripclick_assets.defs.marts.assets import marts
from tripclick_assets_tests.defs_support import lake_checks, mart_checks
from tripclick_assets.lib.marts.tables import MART_TABLES
from tripclick_assets.resources.docker_producers import DockerProducersResource
from tripclick_assets.resources.ssh_spark import SSHSparkResource
from tripclick_assets_tests.integration.lineage_support import lineage_resources
from tripclick_assets_tests.remote.support import PRODUCER_IMAGE, PRODUCER_TAG, SPARK_SUBMIT, containers_of

pytestmark = pytest.mark.slow

DEFS = [tripclick_raw_logs, bronze_events, silver_events, marts, *lake_checks(), *mart_checks()]
DAY = "2016-03-05"


def marts_of(url: str, day: str) -> dict[str, list[tuple]]:
    """Every mart's rows for ``day`` (all columns but the load time), in primary-key order."""
    rows = {}
    with psycopg.connect(url) as conn:
        for table in MART_TABLES:
            columns = [r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                "AND table_schema = 'public' AND column_name <> 'loaded_at' ORDER BY ordinal_position",
                (table.name,)).fetchall()]
            rows[table.name] = conn.execute(
                f"SELECT {', '.join(columns)} FROM {table.name} WHERE event_date = %s "
                f"ORDER BY {', '.join(table.primary_key)}", (day,)).fetchall()
    return rows


def prod_environment(tmp_path, broker, postgres, dockerd, sshd) -> dict[str, str]:
    """What an operator sets for production (docs/remote-execution.md), pointed at the loopback servers."""
    tls = dockerd.tls
    return {
        "TRIPCLICK_ENV": "prod",
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "TRIPCLICK_PRODUCER_SERVERS": f"server0={dockerd.tcp_url},server1={dockerd.tcp_url}",
        "TRIPCLICK_DOCKER_TLS_CA": str(tls["ca"]),
        "TRIPCLICK_DOCKER_TLS_CERT": str(tls["client_cert"]),
        "TRIPCLICK_DOCKER_TLS_KEY": tls["client_key"].read_text(),  # PEM text in the variable itself
        "TRIPCLICK_PRODUCER_TAG": PRODUCER_TAG,
        "TRIPCLICK_PRODUCER_IMAGE": PRODUCER_IMAGE,
        "TRIPCLICK_PRODUCER_SYNTHETIC": "true",  # no TripClick dump on these "web servers"
        "TRIPCLICK_SPARK_SSH_HOST": "127.0.0.1",
        "TRIPCLICK_SPARK_SSH_PORT": str(sshd.port),
        "TRIPCLICK_SPARK_SSH_USER": "root",
        "TRIPCLICK_SPARK_SSH_KEY": sshd.client_key.read_text(),
        "TRIPCLICK_SPARK_KNOWN_HOSTS": str(sshd.known_hosts),
        "TRIPCLICK_SPARK_SUBMIT_TEMPLATE": SPARK_SUBMIT,
        "TRIPCLICK_SPARK_REMOTE_DIR": str(tmp_path / "spark-host"),
        "TRIPCLICK_SPARK_ENV": f"PYSPARK_PYTHON={sys.executable}",
        "TRIPCLICK_LAKE_ROOT": str(tmp_path / "prod-lake"),
        "TRIPCLICK_POSTGRES_URL": postgres.url,
    }


def test_prod_resources_materialize_the_day_with_the_local_runs_marts(
    tmp_path, monkeypatch, broker, postgres, dockerd, producer_image, sshd
):
    # 1. the local run of the day (local producers and PySpark), then its marts
    local = lineage_resources(tmp_path / "local", broker, postgres, topic="rx_local_raw_logs")
    with dg.instance_for_test() as instance:
        assert dg.materialize(DEFS, resources=local, instance=instance, partition_key=DAY).success
    expected = marts_of(postgres.url, DAY)
    assert expected["mart_daily_traffic"][0][1] > 1000  # total_events: a real day, not an empty one

    # 2. the same day through TRIPCLICK_ENV=prod: the resources the code location would load
    for name, value in prod_environment(tmp_path, broker, postgres, dockerd, sshd).items():
        monkeypatch.setenv(name, value)
    assert settings.environment() == "prod"
    resources = RESOURCES[settings.environment()]()
    assert isinstance(resources["producers"], DockerProducersResource)
    assert isinstance(resources["spark"], SSHSparkResource)
    with psycopg.connect(postgres.url) as conn:  # nothing of the local run may survive into the comparison
        for table in MART_TABLES:
            conn.execute(f"DELETE FROM {table.name} WHERE event_date = %s", (DAY,))
    with dg.instance_for_test() as instance:
        result = dg.materialize(DEFS, resources=resources, instance=instance, partition_key=DAY)
        logs = [e.message for e in instance.all_logs(result.run_id) if e.message]
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert len(checks) == len(lake_checks()) + len(mart_checks()) and all(checks.values()), checks
    # it really ran remotely: producer containers on both servers, spark-submit over SSH
    assert any(m.startswith("[server0 stderr] ") for m in logs) and any(m.startswith("[server1 stderr] ") for m in logs)
    assert {m.split("]")[0] for m in logs if m.startswith("[spark ")} == {"[spark bronze", "[spark silver",
                                                                        "[spark marts"}
    assert (tmp_path / "prod-lake" / "silver").is_dir()
    assert containers_of(dockerd) == []

    assert marts_of(postgres.url, DAY) == expected
