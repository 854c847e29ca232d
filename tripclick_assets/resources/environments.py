"""Resource sets per environment; :mod:`tripclick_assets.settings` picks one."""

from __future__ import annotations

import dagster as dg

from tripclick_assets.resources.alerts import AlertsResource
from tripclick_assets.resources.kafka import KafkaResource
from tripclick_assets.resources.lake import LakeResource
from tripclick_assets.resources.postgres import PostgresResource
from tripclick_assets.resources.producers import LocalProducersResource
from tripclick_assets.resources.spark import LocalSparkResource


def alerts_resource(alerts) -> AlertsResource:
    # The webhook is a secret: passed as an EnvVar (resolved at run time), only when it is set.
    webhook = dg.EnvVar(alerts.webhook_env_var) if alerts.webhook_configured else None
    return AlertsResource(webhook_url=webhook, ui_url=alerts.ui_url)


def local_resources(settings, alerts) -> dict:
    """Embedded broker and PostgreSQL on loopback, lake in a local directory, local PySpark."""
    return {
        "kafka": KafkaResource(bootstrap_servers=settings.bootstrap_servers),
        "producers": LocalProducersResource(logs_dir=str(settings.logs_dir)),
        "lake": LakeResource(root=str(settings.lake_dir)),
        "spark": LocalSparkResource(),
        "postgres": PostgresResource(url=settings.postgres_dsn),
        "alerts": alerts_resource(alerts),
    }


def prod_resources(alerts) -> dict:
    """The production cluster; every address and secret comes from the environment."""
    return {
        "kafka": KafkaResource(
            bootstrap_servers=dg.EnvVar("KAFKA_BOOTSTRAP_SERVERS"),
            security_protocol=dg.EnvVar("KAFKA_SECURITY_PROTOCOL"),
            sasl_mechanism=dg.EnvVar("KAFKA_SASL_MECHANISM"),
            sasl_username=dg.EnvVar("KAFKA_SASL_USERNAME"),
            sasl_password=dg.EnvVar("KAFKA_SASL_PASSWORD"),
            ssl_ca_location=dg.EnvVar("KAFKA_SSL_CA_LOCATION"),
            replication_factor=2,
        ),
        "alerts": alerts_resource(alerts),
    }
