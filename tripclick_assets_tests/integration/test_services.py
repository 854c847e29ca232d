"""The local broker and PostgreSQL managers, against real processes on free loopback ports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tripclick_assets.services import (
    BrokerService,
    PortInUseError,
    PostgresService,
    ServiceError,
    services_from_settings,
)
from tripclick_assets.services._process import is_alive
from tripclick_assets.settings import LocalSettings

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@pytest.fixture
def held_port():
    """A port held by a plain listening socket that is not ours."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def broker(tmp_path):
    service = BrokerService(tmp_path / "home", host=HOST, port=free_port())
    yield service
    service.stop()


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """One embedded server shared by the PostgreSQL tests (initdb is the slow part)."""
    service = PostgresService(tmp_path_factory.mktemp("pg") / "home", host=HOST, port=free_port())
    began = time.monotonic()
    service.start()
    print(f"postgres first start (initdb included): {time.monotonic() - began:.2f}s")
    yield service
    service.stop()


# --- broker ----------------------------------------------------------------------------------


def test_broker_roundtrip_and_idempotent_start(broker):
    began = time.monotonic()
    broker.start()
    print(f"broker start: {time.monotonic() - began:.2f}s")
    pid = broker.pid
    assert is_alive(pid)
    assert Path(broker.pid_path).read_text().strip() == str(pid)

    topic = f"t-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(10)

    producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
    producer.produce(topic, key=b"k", value=b"hello")
    assert producer.flush(10) == 0

    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap_servers, "group.id": "test", "enable.auto.commit": False}
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + 15
        message = None
        while message is None and time.monotonic() < deadline:
            candidate = consumer.poll(0.5)
            if candidate is not None and candidate.error() is None:
                message = candidate
    finally:
        consumer.close()
    assert message is not None and message.value() == b"hello" and message.key() == b"k"

    broker.start()
    assert broker.pid == pid

    status = broker.status()
    assert status == {
        "service": "kafka",
        "running": True,
        "pid": pid,
        "bootstrap_servers": f"{HOST}:{broker.port}",
        "healthy": True,
        "log": str(broker.log_path),
    }


def test_broker_port_in_use(tmp_path, held_port):
    service = BrokerService(tmp_path / "home", host=HOST, port=held_port)
    with pytest.raises(PortInUseError) as err:
        service.start()
    message = str(err.value)
    assert "TRIPCLICK_KAFKA_PORT" in message and f"{HOST}:{held_port}" in message
    assert f"pid {os.getpid()}" in message
    assert service.pid is None and not service.pid_path.exists()


def test_broker_start_failure_reports_log_tail(tmp_path):
    service = BrokerService(tmp_path / "home", host=HOST, port=free_port(), storage_engine="bogus://nowhere/")
    with pytest.raises(ServiceError, match="UnsupportedStorageUrl") as err:
        service.start(timeout=10)
    assert str(service.log_path) in str(err.value) and "\x1b[" not in str(err.value)
    assert service.pid is None and not service.pid_path.exists()


def test_broker_stop_leaves_no_process(broker):
    broker.start()
    pid = broker.pid
    broker.stop()
    assert not is_alive(pid)
    assert not broker.pid_path.exists()
    assert broker.status()["running"] is False and broker.status()["healthy"] is False
    broker.stop()  # no-op


# --- postgres --------------------------------------------------------------------------------


def test_postgres_data_survives_restart(postgres):
    with psycopg.connect(postgres.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        conn.execute("CREATE TABLE IF NOT EXISTS survivors (name text)")
        conn.execute("INSERT INTO survivors VALUES ('kept')")

    pid = postgres.pid
    postgres.stop()
    assert not is_alive(pid) and postgres.pid is None and not postgres.is_healthy()

    began = time.monotonic()
    postgres.start()
    print(f"postgres restart: {time.monotonic() - began:.2f}s")
    with psycopg.connect(postgres.url) as conn:
        assert conn.execute("SELECT name FROM survivors").fetchall() == [("kept",)]


def test_postgres_idempotent_start_and_status(postgres):
    pid = postgres.pid
    postgres.start()
    assert postgres.pid == pid
    status = postgres.status()
    assert status["service"] == "postgres" and status["running"] and status["healthy"]
    assert status["pid"] == pid and status["external"] is False
    assert status["url"] == f"postgresql://tripclick:***@{HOST}:{postgres.port}/tripclick"
    assert Path(status["binaries"], "pg_ctl").exists()
    assert status["log"] == str(postgres.log_path)


def test_postgres_port_in_use(tmp_path, held_port):
    service = PostgresService(tmp_path / "home", host=HOST, port=held_port)
    with pytest.raises(PortInUseError, match="TRIPCLICK_POSTGRES_PORT"):
        service.start()
    assert service.pid is None


def test_postgres_external_url(postgres, tmp_path):
    home = tmp_path / "home"
    external = PostgresService(home, host=HOST, port=free_port(), external_url=postgres.url)
    external.start()
    external.stop()  # never stops someone else's server
    assert postgres.is_healthy()
    assert not (home / "services").exists()
    status = external.status()
    assert status["external"] is True and status["healthy"] is True and status["pid"] is None
    assert status["url"] == f"postgresql://tripclick:***@{HOST}:{postgres.port}/tripclick"

    dead = f"postgresql://tripclick:secret@{HOST}:{free_port()}/tripclick"
    with pytest.raises(ServiceError, match="TRIPCLICK_POSTGRES_URL") as err:
        PostgresService(home, external_url=dead).start()
    assert "secret" not in str(err.value)


def test_services_from_settings(tmp_path):
    settings = LocalSettings(home=tmp_path, host=HOST, kafka_port=1111, postgres_port=2222, postgres_url=None,
                             spark_master="local[*]")
    broker, pg = services_from_settings(settings)
    assert broker.bootstrap_servers == f"{HOST}:1111"
    assert pg.url == f"postgresql://tripclick:tripclick@{HOST}:2222/tripclick"


# --- CLI -------------------------------------------------------------------------------------


def test_cli_up_status_down(tmp_path):
    env = {
        **os.environ,
        "TRIPCLICK_HOME": str(tmp_path / "home"),
        "TRIPCLICK_HOST": HOST,
        "TRIPCLICK_KAFKA_PORT": str(free_port()),
        "TRIPCLICK_POSTGRES_PORT": str(free_port()),
    }
    env.pop("TRIPCLICK_POSTGRES_URL", None)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "tripclick_assets.cli", "services", *args],
            env=env, capture_output=True, text=True, timeout=120,
        )

    def status() -> dict:
        result = cli("status")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["services"]

    try:
        up = cli("up")
        assert up.returncode == 0, up.stderr
        services = status()
        assert services["kafka"]["healthy"] and services["postgres"]["healthy"]
        assert services["kafka"]["bootstrap_servers"] == f"{HOST}:{env['TRIPCLICK_KAFKA_PORT']}"
        assert f":{env['TRIPCLICK_POSTGRES_PORT']}/" in services["postgres"]["url"]
        pids = [services["kafka"]["pid"], services["postgres"]["pid"]]
        assert all(is_alive(pid) for pid in pids)
    finally:
        down = cli("down")
    assert down.returncode == 0, down.stderr
    assert not any(is_alive(pid) for pid in pids)
    services = status()
    assert not services["kafka"]["running"] and not services["postgres"]["running"]
