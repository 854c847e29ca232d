"""The resources of each environment, chosen in one place: ``RESOURCES[settings.environment()]``."""

import dagster as dg

from tripclick_assets import settings
from tripclick_assets.resources.alerts import AlertsResource
from tripclick_assets.resources.kafka import KafkaResource
from tripclick_assets.resources.lake import LakeResource
from tripclick_assets.resources.postgres import PostgresResource


def dagster_values(value):
    """Settings as resource arguments: each :class:`settings.Secret` becomes a ``dg.EnvVar``."""
    if isinstance(value, settings.Secret):
        return dg.EnvVar(str(value))
    if isinstance(value, dict):
        return {k: dagster_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [dagster_values(v) for v in value]
    return value


def local_resources() -> dict:
    """Embedded broker and PostgreSQL on loopback, lake in a local directory, local PySpark."""
    from tripclick_assets.resources.producers import LocalProducersResource
    from tripclick_assets.resources.spark import LocalSparkResource

    local = settings.local_settings()
    return {
        "kafka": KafkaResource(bootstrap_servers=local.bootstrap_servers),
        "producers": LocalProducersResource(logs_dir=str(local.logs_dir)),
        "lake": LakeResource(root=str(local.lake_dir)),
        "spark": LocalSparkResource(master=local.spark_master, class_archive=str(local.spark_class_archive)),
        "postgres": PostgresResource(url=local.postgres_dsn),
        "alerts": AlertsResource(**dagster_values(settings.alerts())),
    }


def prod_resources() -> dict:
    """The production cluster: addresses from the settings, secrets as EnvVars."""
    from tripclick_assets.resources.docker_producers import DockerProducersResource
    from tripclick_assets.resources.ssh_spark import SSHSparkResource

    prod = dagster_values(settings.prod_settings())
    return {
        "kafka": KafkaResource(**prod["kafka"]),
        "producers": DockerProducersResource(**prod["producers"]),
        "spark": SSHSparkResource(**prod["spark"]),
        "lake": LakeResource(**prod["lake"]),
        "postgres": PostgresResource(**prod["postgres"]),
        "alerts": AlertsResource(**prod["alerts"]),
    }


RESOURCES = {"local": local_resources, "prod": prod_resources}


@dg.definitions
def resources() -> dg.Definitions:
    # One process per run: every step of a run shares one Spark session.
    return dg.Definitions(resources=RESOURCES[settings.environment()](), executor=dg.in_process_executor)
