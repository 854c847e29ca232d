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
        "spark": LocalSparkResource(class_archive=str(settings.spark_class_archive)),
        "postgres": PostgresResource(url=settings.postgres_dsn),
        "alerts": alerts_resource(alerts),
    }


def prod_resources(alerts) -> dict:
    """The production cluster; every address and secret comes from the environment."""
    from tripclick_assets.resources.docker_producers import DockerProducersResource, DockerServer
    from tripclick_assets.resources.producers import SyntheticSource
    from tripclick_assets.resources.ssh_spark import SSHSparkResource
    from tripclick_assets.settings import prod_settings

    prod = prod_settings()
    servers = [
        DockerServer(
            name=s.name, base_url=s.base_url, insecure=s.insecure,
            **(s.tls_paths or {}), **{field: dg.EnvVar(var) for field, var in (s.tls_env or {}).items()},
        )
        for s in prod.producer_servers
    ]
    return {
        # Addresses and names as plain values (the resource validates them); passwords are EnvVars.
        "kafka": KafkaResource(
            bootstrap_servers=prod.kafka_bootstrap_servers,
            security_protocol=prod.kafka_security_protocol,
            sasl_mechanism=prod.kafka_sasl_mechanism,
            sasl_username=prod.kafka_sasl_username,
            sasl_password=dg.EnvVar(prod.kafka_password_env_var) if prod.kafka_password_env_var else None,
            ssl_ca_location=prod.kafka_ssl_ca_location,
            ssl_certificate_location=prod.kafka_ssl_certificate_location,
            ssl_key_location=prod.kafka_ssl_key_location,
            ssl_key_password=dg.EnvVar(prod.kafka_key_password_env_var) if prod.kafka_key_password_env_var else None,
            replication_factor=2,
        ),
        "producers": DockerProducersResource(
            servers=servers, image=prod.producer_image, tag=prod.producer_tag, network_mode=prod.producer_network,
            source_dir=prod.producer_source_dir, mounts=list(prod.producer_mounts),
            synthetic=SyntheticSource(enabled=prod.producer_synthetic),
        ),
        "spark": SSHSparkResource(
            host=prod.spark_host, port=prod.spark_port, user=prod.spark_user,
            private_key=dg.EnvVar(prod.spark_key_env_var), known_hosts=prod.spark_known_hosts,
            command_template=prod.spark_submit_template, kill_template=prod.spark_kill_template,
            remote_dir=prod.spark_remote_dir, submit_dir=prod.spark_submit_dir, env=prod.spark_env,
        ),
        "lake": LakeResource(root=prod.lake_root, s3_endpoint_url=prod.lake_s3_endpoint, s3_region=prod.lake_s3_region),
        "postgres": PostgresResource(url=dg.EnvVar(prod.postgres_url_env_var)),
        "alerts": alerts_resource(alerts),
    }
