"""The production path on a real Spark standalone cluster: the deploy image as spark-master and two workers,
jobs submitted over SSH with the production command template (``docker exec spark-master spark-submit
--master spark://...``, the driver inside the master container), producers as containers, marts into
PostgreSQL, compared with a local run of the same day."""

import uuid

import dagster as dg
import psycopg
import pytest

from tripclick_assets import settings
from tripclick_assets.defs.resources import RESOURCES, fixed
from tripclick_assets.lib.marts.tables import MART_TABLES
from tripclick_assets.resources.ssh_spark import SSHSparkResource
from tripclick_assets_tests.integration.lineage_support import lineage_resources
from tripclick_assets_tests.remote.test_prod_lineage import DEFS, marts_of, prod_environment

pytestmark = pytest.mark.slow
DAY = "2016-03-09"


def cluster_environment(tmp_path, broker, postgres, dockerd, sshd, spark_cluster, cluster_dir) -> dict[str, str]:
    run = uuid.uuid4().hex[:8]
    env = prod_environment(tmp_path, broker, postgres, dockerd, sshd)
    return env | {
        "TRIPCLICK_SPARK_SUBMIT_TEMPLATE": spark_cluster.submit_template(dockerd.unix_url),
        "TRIPCLICK_SPARK_KILL_TEMPLATE": spark_cluster.kill_template(dockerd.unix_url),
        "TRIPCLICK_SPARK_REMOTE_DIR": str(cluster_dir / f"spark-host-{run}"),  # the master mounts it
        "TRIPCLICK_SPARK_ENV": "PYSPARK_PYTHON=/opt/venv/bin/python",  # the production default
        "TRIPCLICK_LAKE_ROOT": str(cluster_dir / f"lake-{run}"),  # every container mounts it
        "TRIPCLICK_LAKE_CATALOG_NAME": f"cluster_{run}",
    }


def new_apps(before: dict, after: dict) -> dict[str, dict[str, int]]:
    return {worker: {app: n for app, n in apps.items() if app not in before.get(worker, {})}
            for worker, apps in after.items()}


def test_the_lineage_runs_on_the_cluster_through_the_production_resources(
    tmp_path, monkeypatch, broker, postgres, dockerd, producer_image, sshd, spark_cluster, cluster_dir
):
    local = lineage_resources(tmp_path / "local", broker, postgres, topic="cluster_local_raw_logs")
    with dg.instance_for_test() as instance:
        assert dg.materialize(DEFS, resources=local, instance=instance, partition_key=DAY).success
    expected = marts_of(postgres.url, DAY)
    assert expected["mart_daily_traffic"][0][1] > 1000

    for name, value in cluster_environment(tmp_path, broker, postgres, dockerd, sshd, spark_cluster,
                                           cluster_dir).items():
        monkeypatch.setenv(name, value)
    assert settings.environment() == "prod"
    built = RESOURCES["prod"]()
    assert isinstance(built["spark"], SSHSparkResource)
    assert "spark-master spark-submit --master spark://spark-master:" in built["spark"].command_template
    with psycopg.connect(postgres.url) as conn:
        for table in MART_TABLES:
            conn.execute(f"DELETE FROM {table.name} WHERE event_date = %s", (DAY,))
    before = spark_cluster.tasks_by_worker()
    with dg.instance_for_test() as instance:
        result = dg.materialize(DEFS, resources={k: fixed(v) for k, v in built.items()}, instance=instance,
                                partition_key=DAY)
        logs = [e.message for e in instance.all_logs(result.run_id) if e.message]
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks and all(checks.values()), checks
    assert {m.split("]")[0] for m in logs if m.startswith("[spark ")} == {"[spark bronze", "[spark silver",
                                                                        "[spark marts"}
    # bronze, silver and marts each ran as an application whose tasks ran on both workers
    ran = new_apps(before, spark_cluster.tasks_by_worker())
    apps = set.intersection(*(set(a for a, n in apps.items() if n > 0) for apps in ran.values()))
    assert len(apps) >= 3, ran
    completed = {app["id"]: app for app in spark_cluster.state()["completedapps"]}
    assert {completed[a]["name"] for a in apps} >= {"tripclick-bronze", "tripclick-silver", "tripclick-marts"}
    assert marts_of(postgres.url, DAY) == expected


def test_the_local_default_runs_its_spark_jobs_on_the_cluster(tmp_path, broker, postgres, spark_cluster, cluster_dir):
    """TRIPCLICK_SPARK_MASTER=spark://...: the local definitions (`dagster dev`'s) with the driver in the run's
    process and the executors on the cluster's workers. A process of its own: Spark allows one session per process."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    day = "2016-03-10"
    home = cluster_dir / f"local-home-{uuid.uuid4().hex[:8]}"  # its lake is mounted in every worker
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIPCLICK_", "DAGSTER_"))}
    env |= {"TRIPCLICK_ENV": "local", "TRIPCLICK_HOME": str(home), "DAGSTER_HOME": str(dagster_home),
            "TRIPCLICK_KAFKA_PORT": broker.bootstrap_servers.rsplit(":", 1)[1], "TRIPCLICK_POSTGRES_URL": postgres.url,
            "TRIPCLICK_LAKE_CATALOG_NAME": f"local_cluster_{uuid.uuid4().hex[:8]}",
            "TRIPCLICK_SPARK_MASTER": f"spark://127.0.0.1:{spark_cluster.master_port}",
            "TRIPCLICK_SPARK_WORKER_PYTHON": "/opt/venv/bin/python"}
    before = spark_cluster.tasks_by_worker()
    done = subprocess.run([str(Path(sys.executable).parent / "dagster"), "asset", "materialize",
                           "-m", "tripclick_assets.definitions", "--select", "*", "--partition", day],
                          env=env, capture_output=True, text=True, timeout=900)
    (tmp_path / "materialize.log").write_text(done.stdout + done.stderr)
    causes = [line for line in done.stderr.splitlines() if "Caused by" in line or "Error" in line][:20]
    assert done.returncode == 0, "\n".join(causes) + "\n" + done.stderr[-2000:]
    ran = new_apps(before, spark_cluster.tasks_by_worker())
    assert all(any(n > 0 for n in apps.values()) for apps in ran.values()), ran  # tasks on both workers
    with psycopg.connect(postgres.url) as conn:
        total = conn.execute("SELECT total_events FROM mart_daily_traffic WHERE event_date = %s", (day,)).fetchone()
    assert total and total[0] > 1000
