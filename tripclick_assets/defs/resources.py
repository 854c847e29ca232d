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
        "lake": LakeResource(root=str(local.lake_dir), catalog_uri=local.postgres_dsn, **settings.lake_tables()),
        "spark": LocalSparkResource(master=local.spark_master, class_archive=str(local.spark_class_archive),
                                    worker_python=local.spark_worker_python),
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


def fixed(resource: dg.ConfigurableResource) -> dg.ResourceDefinition:
    """``resource`` as the deployment built it, with an empty run-config schema.

    Values given to a ConfigurableResource become run-config defaults that anyone who reaches
    the UI could override (a submit command, a host mount, ``{env: VAR}``). This definition
    accepts no resource config: a launch that sets any field is refused as invalid config.
    Its EnvVars are resolved, and the resource validated again, when a run initializes it;
    setup and teardown run as for the resource itself.
    """

    def initialize(_):
        with resource.process_config_and_initialize_cm() as value:
            yield value

    doc = (type(resource).__doc__ or type(resource).__name__).strip().splitlines()[0]
    return dg.ResourceDefinition(resource_fn=initialize, config_schema={},
                                 description=f"{doc} (fixed by the deployment settings; no run config)")


@dg.definitions
def resources() -> dg.Definitions:
    # One process per run: every step of a run shares one Spark session. Both environments' resources
    # are fixed: infrastructure comes from the settings, never from the launchpad.
    built = RESOURCES[settings.environment()]()
    return dg.Definitions(resources={key: fixed(value) for key, value in built.items()},
                          executor=dg.in_process_executor)
