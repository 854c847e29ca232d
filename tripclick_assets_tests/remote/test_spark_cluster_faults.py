"""Faults on the Spark standalone cluster: a worker killed mid-job, the master restarted between runs, the SSH
connection dropped mid-job. Nothing is half-published, and the next run (or the step's retry) succeeds."""

import threading
import time

import dagster as dg
import pytest

from tripclick_assets.defs.keys import BRONZE, SILVER
from tripclick_assets.defs.resources import RESOURCES, fixed
from tripclick_assets.lib.lake.reads import partition_rows
from tripclick_assets_tests.remote.servers import DroppableProxy
from tripclick_assets_tests.remote.test_prod_lineage import DEFS
from tripclick_assets_tests.remote.test_spark_cluster import cluster_environment

pytestmark = pytest.mark.slow
DAY = "2016-03-11"


@pytest.fixture(scope="module")
def on_cluster(tmp_path_factory, broker, postgres, dockerd, producer_image, sshd, spark_cluster, cluster_dir):
    """DAY produced, landed in bronze and silver on the cluster through the production resources."""
    tmp_path = tmp_path_factory.mktemp("cluster_faults")
    env = cluster_environment(tmp_path, broker, postgres, dockerd, sshd, spark_cluster, cluster_dir)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        resources = {k: fixed(v) for k, v in RESOURCES["prod"]().items()}
        with dg.instance_for_test() as instance:
            assert dg.materialize(DEFS, resources=resources, instance=instance, partition_key=DAY,
                                  selection=dg.AssetSelection.assets(BRONZE).upstream() | dg.AssetSelection.assets(SILVER)
                                  ).success
            yield env, resources, instance


def materialize_in_thread(resources, instance, selection) -> tuple[threading.Thread, dict]:
    outcome = {}

    def run():
        outcome["result"] = dg.materialize(DEFS, resources=resources, instance=instance, partition_key=DAY,
                                           selection=selection, raise_on_error=False)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def wait_for_tasks_on(spark_cluster, worker: str, app_name: str, timeout: float = 180) -> str:
    """The id of the running application ``app_name`` once a task of it runs on ``worker``."""
    before = spark_cluster.tasks_by_worker()[worker]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = {a["id"] for a in spark_cluster.state()["activeapps"] if a["name"] == app_name}
        running = {app for app, n in spark_cluster.tasks_by_worker()[worker].items()
                   if app in active and n > before.get(app, 0)}
        if running:
            return running.pop()
        time.sleep(0.2)
    raise TimeoutError(f"no task of {app_name} ran on {worker} within {timeout} s")


def test_a_worker_killed_mid_job_leaves_the_job_to_the_other_worker(on_cluster, spark_cluster):
    env, resources, instance = on_cluster
    before = published_silver_rows(env)
    thread, outcome = materialize_in_thread(resources, instance, dg.AssetSelection.assets(SILVER))
    app = wait_for_tasks_on(spark_cluster, "spark-worker-2", "tripclick-silver")
    spark_cluster.containers["spark-worker-2"].kill()
    killed_at = time.time()
    try:
        thread.join(timeout=600)
        result = outcome["result"]
        failures = [str(e.event_specific_data.error) for e in result.all_events
                    if e.event_type_value == "STEP_FAILURE"]
        assert result.success, failures  # the lost tasks ran again on spark-worker-1
        completed = {a["id"]: a for a in spark_cluster.state()["completedapps"]}
        assert completed[app]["starttime"] / 1000 + completed[app]["duration"] / 1000 > killed_at  # killed mid-job
        assert published_silver_rows(env) == before
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert checks and all(checks.values()), checks
    finally:
        spark_cluster.containers["spark-worker-2"].start()
        spark_cluster.wait_for_workers(2)


def test_the_master_restarted_between_two_runs(on_cluster, spark_cluster):
    env, resources, instance = on_cluster
    spark_cluster.restart_master()
    result = dg.materialize(DEFS, resources=resources, instance=instance, partition_key=DAY,
                            selection=dg.AssetSelection.assets(SILVER))
    assert result.success
    names = {a["name"] for a in spark_cluster.state()["completedapps"]}
    assert "tripclick-silver" in names  # it ran on the restarted master


def test_a_dropped_ssh_connection_stops_the_remote_driver_and_the_retry_succeeds(
    on_cluster, spark_cluster, sshd, tmp_path, monkeypatch
):
    env, _, instance = on_cluster
    proxy = DroppableProxy(sshd.port)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd.known_hosts.read_text().replace(f"]:{sshd.port} ", f"]:{proxy.port} "))
    for name, value in {**env, "TRIPCLICK_SPARK_SSH_PORT": str(proxy.port),
                        "TRIPCLICK_SPARK_KNOWN_HOSTS": str(known_hosts)}.items():
        monkeypatch.setenv(name, value)
    resources = {k: fixed(v) for k, v in RESOURCES["prod"]().items()}
    before = published_silver_rows(env)
    try:
        thread, outcome = materialize_in_thread(resources, instance, dg.AssetSelection.assets(SILVER))
        wait_for_tasks_on(spark_cluster, "spark-worker-1", "tripclick-silver")
        proxy.drop()
        thread.join(timeout=600)
    finally:
        proxy.close()
    result = outcome["result"]
    assert result.success
    retried = [str(e.event_specific_data.error) for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retried and "dropped while spark job silver was running" in retried[0], retried
    logs = [e.message for e in instance.all_logs(result.run_id) if e.message]
    assert any("stopped the remote spark-submit" in m for m in logs)
    leftover = spark_cluster.containers["spark-master"].exec_run(["pgrep", "-f", "SparkSubmit"]).output.decode()
    assert leftover.strip() == "", leftover  # no orphan driver in the master container
    assert [a for a in spark_cluster.state()["activeapps"]] == []
    assert published_silver_rows(env) == before


def published_silver_rows(env) -> int:
    """Silver rows of DAY in the lake table's current snapshot."""
    from tripclick_assets.resources.lake import LakeResource

    lake = LakeResource(root=env["TRIPCLICK_LAKE_ROOT"], catalog_uri=env["TRIPCLICK_POSTGRES_URL"],
                        catalog_name=env["TRIPCLICK_LAKE_CATALOG_NAME"])
    return partition_rows(lake.tables(), "silver", DAY)
