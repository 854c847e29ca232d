"""Local development services (Kafka-protocol broker, PostgreSQL) run as plain processes on loopback,
and the local Spark driver's class-data archive (:mod:`.spark_class_archive`)."""

from __future__ import annotations

from tripclick_assets.services._process import PortInUseError, ServiceError
from tripclick_assets.services.broker import BrokerService
from tripclick_assets.services.postgres import PostgresService

__all__ = ["BrokerService", "PortInUseError", "PostgresService", "ServiceError", "services_from_settings"]


def services_from_settings(settings) -> tuple[BrokerService, PostgresService]:
    """The broker and PostgreSQL described by a ``tripclick_assets.settings.LocalSettings``."""
    broker = BrokerService(settings.home, host=settings.host, port=settings.kafka_port)
    postgres = PostgresService(
        settings.home, host=settings.host, port=settings.postgres_port, external_url=settings.postgres_url
    )
    return broker, postgres
