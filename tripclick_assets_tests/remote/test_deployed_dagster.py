"""Dagster as deploy/ runs it: an instance configured by deploy/dagster/dagster.yaml (PostgreSQL run, event and
schedule storage, the run queue, run retries); the lineage run queued and launched by a real dagster-daemon, in a
run worker that loads the production resources, on the Spark cluster; and the 15:00 schedule's tick evaluated by
the code server as the daemon's scheduler evaluates it."""

import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml

from tripclick_assets.lib.marts.postgres_load import ensure_schema
from tripclick_assets.lib.marts.tables import MART_TABLES
from tripclick_assets.services._process import stop_pid
from tripclick_assets_tests.remote.test_spark_cluster import cluster_environment

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAY = "2016-03-13"


def deployed_home(tmp_path: Path, postgres) -> tuple[Path, str]:
    """DAGSTER_HOME holding deploy/dagster/dagster.yaml (its volume paths moved under tmp_path) and a new database."""
    database = f"dagster_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database}")
    info = psycopg.conninfo.conninfo_to_dict(postgres.url)
    url = f"postgresql+psycopg2://{info['user']}:{info['password']}@{info['host']}:{info['port']}/{database}"
    config = yaml.safe_load((REPO / "deploy" / "dagster" / "dagster.yaml").read_text())
    for section in ("compute_logs", "local_artifact_storage"):  # the containers' volume, here a temp dir
        config[section]["config"]["base_dir"] = str(tmp_path / "storage" / section)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home, url


def test_the_daemon_launches_the_lineage_on_the_cluster_and_the_schedule_asks_for_the_last_full_day(
    tmp_path, broker, postgres, dockerd, producer_image, sshd, spark_cluster, cluster_dir
):
    import dagster as dg
    from dagster._core.remote_representation.external_data import ScheduleExecutionErrorSnap
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster._core.definitions.timestamp import TimestampWithTimezone

    home, storage_url = deployed_home(tmp_path, postgres)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "TRIPCLICK_"))}
    env |= cluster_environment(tmp_path, broker, postgres, dockerd, sshd, spark_cluster, cluster_dir)
    env |= {"DAGSTER_HOME": str(home), "DAGSTER_POSTGRES_URL": storage_url, "DAGSTER_MAX_CONCURRENT_RUNS": "1"}
    with psycopg.connect(postgres.url) as conn:
        ensure_schema(conn)
        for table in MART_TABLES:
            conn.execute(f"DELETE FROM {table.name} WHERE event_date = %s", (DAY,))

    target = ["-m", "tripclick_assets.definitions"]
    launched = subprocess.run([str(BIN / "dagster"), "job", "launch", *target, "-j", "tripclick_daily_lineage",
                               "--tags", json.dumps({"dagster/partition": DAY})],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert launched.returncode == 0, launched.stderr[-3000:]
    daemon_log = tmp_path / "daemon.log"
    daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", *target], cwd=REPO, env=env,
                              stdout=open(daemon_log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    os.environ["DAGSTER_POSTGRES_URL"] = storage_url  # for this process's view of the same instance
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            (run,) = instance.get_runs()
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                run = instance.get_run_by_id(run.run_id)
                if run.is_finished:
                    break
                assert daemon.poll() is None, daemon_log.read_text()[-3000:]
                time.sleep(2)
            events = [e for e in instance.all_logs(run.run_id)]
            types = [e.dagster_event.event_type_value for e in events if e.is_dagster_event]
            failures = [e.message for e in events if e.is_dagster_event
                        and e.dagster_event.event_type_value in ("STEP_FAILURE", "RUN_FAILURE")]
            assert run.status == dg.DagsterRunStatus.SUCCESS, (failures, daemon_log.read_text()[-2000:])
            # queued by `dagster job launch` (QueuedRunCoordinator): only the daemon's run queue could start it
            assert {dg.DagsterEventType.RUN_ENQUEUED.value, dg.DagsterEventType.RUN_STARTING.value} <= set(types)
            assert types.index(dg.DagsterEventType.RUN_ENQUEUED.value) < types.index(dg.DagsterEventType.RUN_STARTING.value)
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            checks = [e.dagster_event.event_specific_data for e in events if e.is_dagster_event
                      and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"]
            assert checks and all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]
            logs = [e.message for e in events]
            assert {m.split("]")[0] for m in logs if m.startswith("[spark ")} >= {"[spark bronze", "[spark marts"}

            # The schedule's tick, evaluated through the code server as the scheduler daemon does it.
            tick = dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
            with WorkspaceProcessContext(instance, ModuleTarget("tripclick_assets.definitions", None, str(REPO),
                                                                "tripclick_assets")) as workspace:
                location = workspace.create_request_context().get_code_location("tripclick_assets")
                (repository,) = location.get_repositories().values()
                data = location.get_schedule_execution_data(
                    instance, repository.handle, "daily_lineage_schedule",
                    TimestampWithTimezone(tick.timestamp(), "Asia/Seoul"), None)
            assert not isinstance(data, ScheduleExecutionErrorSnap), data
            (request,) = data.run_requests
            assert request.partition_key == "2026-12-01" and request.run_key == "2026-12-01"
            assert request.tags["tripclick/trigger"] == "schedule"
    finally:
        os.environ.pop("DAGSTER_POSTGRES_URL", None)
        stop_pid(daemon.pid, timeout=30)
    with psycopg.connect(postgres.url) as conn:
        total = conn.execute("SELECT total_events FROM mart_daily_traffic WHERE event_date = %s", (DAY,)).fetchone()
    assert total and total[0] > 1000
