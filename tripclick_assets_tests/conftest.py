"""Session-wide real services: one Kafka-protocol broker, one PostgreSQL (and later one Spark session)."""

import os
import socket
from pathlib import Path

import pytest

from tripclick_assets.services import BrokerService, PostgresService


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def services_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tripclick_home")


@pytest.fixture(scope="session")
def broker(services_home):
    service = BrokerService(services_home, port=free_port())
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def postgres(services_home):
    service = PostgresService(services_home, port=free_port(), external_url=os.environ.get("TRIPCLICK_TEST_POSTGRES_URL"))
    service.start()
    yield service
    service.stop()


@pytest.fixture
def topic_names(request):
    """Per-test topic names so tests sharing the broker never see each other's messages."""
    base = "t_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")[:60]
    return base, base + "_dlq"


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole test session (start-up costs ~7 s)."""
    from tripclick_assets.spark_jobs._session import get_or_create_session, local_spark_config

    session = get_or_create_session(local_spark_config({"spark.sql.shuffle.partitions": "4"}), "tripclick-tests")
    yield session
    session.stop()
