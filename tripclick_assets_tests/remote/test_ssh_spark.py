"""SSHSparkResource against a real sshd on 127.0.0.1 running the virtualenv's real spark-submit."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from tripclick_assets.lib.lake.store import LakeLocation
from tripclick_assets.resources.spark_code import code_bundle
from tripclick_assets_tests.remote.probes import spark_probe, spark_probe_retried, spark_run_config
from tripclick_assets_tests.remote.servers import REPO, DroppableProxy, processes_matching, wait_for
from tripclick_assets_tests.remote.support import ssh_spark

DAY = "2099-01-01"  # far from every other test's partitions


def bronze_params(lake_dir: Path) -> dict:
    """The bronze job over no offset ranges: a Spark session, an empty partition committed, a result."""
    return {"lake": LakeLocation(str(lake_dir)).to_params(), "kafka": {"bootstrap.servers": "127.0.0.1:9"},
            "topic": "none", "ranges_by_date": {DAY: {}}}


def materialize(asset, spark, job: str, params: dict, instance=None):
    return dg.materialize([asset], resources={"spark": spark}, instance=instance, raise_on_error=False,
                          run_config=spark_run_config(asset.key.path[-1], job, params))


def run_logs(instance, result) -> list[str]:
    return [e.message for e in instance.all_logs(result.run_id) if e.message]


def step_failures(result) -> list[str]:
    return [str(e.event_specific_data.error) for e in result.all_events if e.event_type_value == "STEP_FAILURE"]


@pytest.mark.parametrize("known_hosts", ["empty", "other_key", "missing"])
def test_an_unknown_host_key_is_refused(sshd, tmp_path, known_hosts):
    path = tmp_path / "known_hosts"
    if known_hosts == "empty":
        path.write_text("")
    elif known_hosts == "other_key":
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "impostor")], check=True)
        kind, key = (tmp_path / "impostor.pub").read_text().split()[:2]
        path.write_text(f"[127.0.0.1]:{sshd.port} {kind} {key}\n")
    spark = ssh_spark(sshd, tmp_path / "remote", known_hosts=str(path))
    result = materialize(spark_probe, spark, "bronze", bronze_params(tmp_path / "lake"))
    assert not result.success
    (message,) = step_failures(result)
    expected = {"empty": "is not in", "other_key": "does not match", "missing": "does not exist"}[known_hosts]
    assert f"SSH host key of 127.0.0.1:{sshd.port} {expected}" in message or (
        known_hosts == "missing" and f"known_hosts file {path} does not exist" in message)
    assert not (tmp_path / "remote").exists()  # nothing was shipped to an unverified host


@pytest.mark.slow
def test_a_job_runs_over_ssh_with_its_code_shipped_and_its_result_through_pipes(sshd, tmp_path):
    remote = tmp_path / "remote"
    spark = ssh_spark(sshd, remote)
    with dg.instance_for_test() as instance:
        result = materialize(spark_probe, spark, "bronze", bronze_params(tmp_path / "lake"), instance)
        assert result.success, step_failures(result)
        logs = run_logs(instance, result)
    (event,) = result.get_asset_materialization_events()
    output = event.materialization.metadata["result"].value
    assert output["layer"] == "bronze" and output["by_date"][DAY]["rows"] == 0 and output["job"] == "bronze"
    assert any(m.startswith("[spark bronze] ") for m in logs)  # driver output streamed into the run log
    assert any("shipping job code" in m for m in logs)

    bundle = code_bundle()
    shipped = remote / "code" / bundle.version
    assert (shipped / "tripclick_assets.zip").read_bytes() == bundle.files["tripclick_assets.zip"]
    assert sorted(p.name for p in (shipped / "jobs").iterdir()) == ["bronze.py", "marts.py", "silver.py"]
    assert list((remote / "runs").iterdir()) == []  # the params file (credentials) is gone

    # An altered copy on the host fails the version check and is replaced before the next submit.
    (shipped / "tripclick_assets.zip").write_bytes(b"not the shipped code")
    with dg.instance_for_test() as instance:
        again = materialize(spark_probe, spark, "bronze", bronze_params(tmp_path / "lake"), instance)
        assert again.success, step_failures(again)
        assert any("shipping job code" in m for m in run_logs(instance, again))
    assert (shipped / "tripclick_assets.zip").read_bytes() == bundle.files["tripclick_assets.zip"]


@pytest.mark.slow
def test_a_failing_job_fails_the_step_with_the_driver_log_tail(sshd, tmp_path):
    spark = ssh_spark(sshd, tmp_path / "remote")
    result = materialize(spark_probe, spark, "marts", {"dates": [], "postgres_url": "postgresql://x@127.0.0.1:9/x"})
    assert not result.success
    (message,) = step_failures(result)
    assert "spark job marts on 127.0.0.1 exited with status 1" in message
    assert "ValueError: marts job: params.dates is empty" in message  # the driver's traceback, from the tail


@pytest.mark.slow
def test_a_dropped_connection_is_reported_and_the_retry_succeeds(sshd, tmp_path):
    proxy = DroppableProxy(sshd.port)
    known_hosts = tmp_path / "known_hosts"  # the same host key, listed for the proxy's port
    known_hosts.write_text(sshd.known_hosts.read_text().replace(f"]:{sshd.port} ", f"]:{proxy.port} "))
    remote = tmp_path / "remote"
    spark = ssh_spark(sshd, remote, port=proxy.port, known_hosts=str(known_hosts))
    driver = f"{remote}/code/{code_bundle().version}/jobs/bronze.py"
    dropped = threading.Event()

    def drop_when_the_driver_runs():
        try:  # the Python driver (started by spark-submit's JVM) is running: mid-job
            wait_for(lambda: python_drivers(driver), 120, "the Python driver")
        except AssertionError:
            return
        proxy.drop()
        dropped.set()

    threading.Thread(target=drop_when_the_driver_runs, daemon=True).start()
    try:
        with dg.instance_for_test() as instance:
            result = materialize(spark_probe_retried, spark, "bronze", bronze_params(tmp_path / "lake"), instance)
            logs = run_logs(instance, result)
    finally:
        proxy.close()
    assert dropped.is_set()
    assert result.success, step_failures(result)
    (retried,) = [str(e.event_specific_data.error) for e in result.all_events
                  if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert f"SSH connection to 127.0.0.1:{proxy.port} dropped while spark job bronze was running" in retried
    assert any("stopped the remote spark-submit" in m for m in logs)  # the orphaned driver was killed
    assert proxy.accepted >= 3  # the first attempt, its clean-up connection, the retry
    wait_for(lambda: not python_drivers(driver), 30, "no driver left behind")


def python_drivers(script: str) -> list[int]:
    """Pids of ``python <script> ...`` processes (not the shells or the JVM that mention the path)."""
    found = []
    for pid in processes_matching(script):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(argv) > 1 and b"python" in Path(argv[0].decode()).name.encode() and argv[1].decode() == script:
            found.append(pid)
    return found


@pytest.mark.slow
def test_terminating_the_run_kills_the_remote_process(sshd, tmp_path):
    remote = tmp_path / "remote"
    spark = ssh_spark(sshd, remote)
    # A range on a closed port: the job would wait ~20 s for Kafka before failing on its own.
    stuck = {**bronze_params(tmp_path / "lake"), "ranges_by_date": {DAY: {"0": [0, 10]}}}
    spec = {"kind": "ssh", "spark": spark.model_dump(), "job": "bronze", "params": stuck}
    log = tmp_path / "child.log"
    with open(log, "wb") as out:
        child = subprocess.Popen([sys.executable, "-m", "tripclick_assets_tests.remote.probes", json.dumps(spec)],
                                 cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    marker = f"{remote}/runs/params-bronze-"
    try:
        wait_for(lambda: python_drivers(f"{remote}/code/{code_bundle().version}/jobs/bronze.py"), 120, "the driver")
        assert processes_matching(marker)
        interrupted = time.monotonic()
        os.kill(child.pid, signal.SIGINT)  # what Dagster sends a step when the run is terminated
        child.wait(timeout=90)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    wait_for(lambda: not processes_matching(marker), 30, "the remote spark-submit to be gone")
    assert time.monotonic() - interrupted < 15  # killed, not finished on its own (~20 s later)
    assert child.returncode != 0
    assert "stopped the remote spark-submit on 127.0.0.1" in log.read_text()
    assert list((remote / "runs").iterdir()) == []
