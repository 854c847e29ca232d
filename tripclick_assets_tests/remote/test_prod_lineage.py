"""TRIPCLICK_ENV=prod end to end: the daily lineage through the resources settings.py builds for prod,
pointed at the loopback dockerd (TLS), sshd, broker and PostgreSQL, against the local run of the same day.

The lake is a local directory here (s3a:// needs an S3 endpoint and hadoop-aws on the Spark
side, neither of which this machine has); LakeResource treats both the same way.
"""

import os
import sys
import threading
import uuid
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from tripclick_assets import settings
from tripclick_assets.defs.resources import RESOURCES, fixed
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
        # by digest, as production must: the built image's ID (what docker load keeps; no registry here)
        "TRIPCLICK_PRODUCER_IMAGE": f"{PRODUCER_IMAGE}@{dockerd.client().images.get(f'{PRODUCER_IMAGE}:{PRODUCER_TAG}').id}",
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
        "TRIPCLICK_LAKE_CATALOG_NAME": f"prod_{abs(hash(str(tmp_path))) % 10**8}",  # its own tables in the shared PostgreSQL
        "TRIPCLICK_POSTGRES_URL": postgres.url,
        "TRIPCLICK_POSTGRES_SSLMODE": "disable",  # the session's PostgreSQL has no TLS (test_postgres_tls.py has)
        "TRIPCLICK_KAFKA_ALLOW_PLAINTEXT": "true",  # the embedded broker speaks PLAINTEXT only
        "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
    }


class ProcessTable(threading.Thread):
    """Samples every process's command line (and, but for this process, environment) for ``needles``."""

    def __init__(self, needles: dict[str, str]):
        super().__init__(daemon=True)
        self.needles, self.found, self.samples = needles, [], 0
        self.done = threading.Event()

    @staticmethod
    def _descends_from_us(pid: str) -> bool:
        """This process or one it started: they hold the settings by design, as dagster-code does."""
        own = os.getpid()
        for _ in range(64):
            if int(pid) == own:
                return True
            try:
                pid = (Path("/proc") / pid / "stat").read_text().rsplit(")", 1)[1].split()[1]
            except (OSError, IndexError):
                return False
            if pid in ("0", "1"):
                return False
        return False

    def run(self):
        while not self.done.is_set():
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                for part in ("cmdline", "environ"):
                    if part == "environ" and self._descends_from_us(proc.name):
                        continue  # the orchestrator's own environment (and its children's) holds the settings
                    try:
                        data = (proc / part).read_bytes().decode("utf-8", "replace")
                    except OSError:
                        continue
                    for what, needle in self.needles.items():
                        if needle in data:
                            self.found.append((what, part, proc.name, data.replace("\0", " ")[:300]))
            self.samples += 1
            self.done.wait(0.2)


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
    # Recognisable dummy secrets: the Kafka password (sent to the producers and the Spark jobs, unused by
    # the PLAINTEXT broker), the alert webhook, and a PostgreSQL role of its own for the marts.
    tag = uuid.uuid4().hex[:12]
    kafka_password, pg_password = f"S3CR3T-kafka-{tag}", f"S3CR3T-pg-{tag}"
    pg_role = f"rx_loader_{tag}"
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {pg_role} LOGIN SUPERUSER PASSWORD '{pg_password}'")
    env = prod_environment(tmp_path, broker, postgres, dockerd, sshd)
    env["TRIPCLICK_POSTGRES_URL"] = postgres.url.replace("tripclick:tripclick@", f"{pg_role}:{pg_password}@", 1)
    assert pg_password in env["TRIPCLICK_POSTGRES_URL"]
    env |= {"KAFKA_SASL_PASSWORD": kafka_password, "KAFKA_SASL_USERNAME": "tripclick",
            "TRIPCLICK_ALERT_WEBHOOK_URL": f"http://127.0.0.1:9/S3CR3T-hook-{tag}"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    key_line = next(line for line in env["TRIPCLICK_SPARK_SSH_KEY"].splitlines() if len(line) > 40)
    tls_line = next(line for line in env["TRIPCLICK_DOCKER_TLS_KEY"].splitlines() if len(line) > 40)
    needles = {"kafka password": kafka_password, "postgres password": pg_password, "webhook": f"S3CR3T-hook-{tag}",
               "ssh key": key_line, "docker tls key": tls_line}
    assert settings.environment() == "prod"
    built = RESOURCES[settings.environment()]()
    assert isinstance(built["producers"], DockerProducersResource)
    assert isinstance(built["spark"], SSHSparkResource)
    resources = {key: fixed(value) for key, value in built.items()}  # as the code location serves them
    with psycopg.connect(postgres.url) as conn:  # nothing of the local run may survive into the comparison
        for table in MART_TABLES:
            conn.execute(f"DELETE FROM {table.name} WHERE event_date = %s", (DAY,))
    watcher = ProcessTable(needles)
    with dg.instance_for_test() as instance:
        watcher.start()
        try:
            result = dg.materialize(DEFS, resources=resources, instance=instance, partition_key=DAY)
        finally:
            watcher.done.set()
            watcher.join()
        logs = [e.message for e in instance.all_logs(result.run_id) if e.message]
        stored = [str(e) for e in instance.all_logs(result.run_id)]
        files = [p for p in Path(instance.root_directory).rglob("*") if p.is_file()]  # event DB, compute logs
        in_files = [(what, str(p)) for p in files for what, needle in needles.items()
                    if needle.encode() in p.read_bytes()]
    assert result.success
    # No secret on any command line (or another process's environment) during the run, nor in the stored logs
    assert watcher.samples > 10 and watcher.found == [], watcher.found[:5]
    assert not [(w, m[:200]) for m in stored for w, n in needles.items() if n in m]
    assert in_files == []
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert len(checks) == len(lake_checks()) + len(mart_checks()) and all(checks.values()), checks
    # it really ran remotely: producer containers on both servers, spark-submit over SSH
    assert any(m.startswith("[server0 stderr] ") for m in logs) and any(m.startswith("[server1 stderr] ") for m in logs)
    assert {m.split("]")[0] for m in logs if m.startswith("[spark ")} == {"[spark bronze", "[spark silver",
                                                                        "[spark marts"}
    assert (tmp_path / "prod-lake" / "silver").is_dir()
    assert containers_of(dockerd) == []

    assert marts_of(postgres.url, DAY) == expected
