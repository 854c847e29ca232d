"""Resources and instances for end-to-end lineage tests (real broker, PostgreSQL, Spark)."""

import hashlib

import dagster as dg

from tripclick_assets.resources.kafka import KafkaResource
from tripclick_assets.resources.lake import LakeResource
from tripclick_assets.resources.postgres import PostgresResource
from tripclick_assets.resources.producers import LocalProducersResource, SyntheticSource
from tripclick_assets.resources.spark import LocalSparkResource


def lineage_resources(tmp_path, broker, postgres=None, *, topic="tripclick_raw_logs", synthetic=None) -> dict:
    resources = {
        "kafka": KafkaResource(bootstrap_servers=broker.bootstrap_servers, topic=topic, dlq_topic=f"{topic}_dlq"),
        "producers": LocalProducersResource(logs_dir=str(tmp_path / "logs"), synthetic=synthetic or SyntheticSource()),
        "lake": lake_resource(tmp_path, postgres),
        "spark": LocalSparkResource(spark_config={"spark.sql.shuffle.partitions": "4"}),
    }
    if postgres is not None:
        resources["postgres"] = PostgresResource(url=postgres.url)
    return resources


def lake_resource(tmp_path, postgres=None) -> LakeResource:
    """The lake under ``tmp_path/lake``; its catalog in the session PostgreSQL (else SQLite beside it),
    named after the directory so that tests sharing the PostgreSQL never see each other's tables."""
    uri = postgres.url if postgres is not None else f"sqlite:///{tmp_path}/catalog.db"
    name = "t_" + hashlib.sha1(str(tmp_path).encode()).hexdigest()[:12]
    return LakeResource(root=str(tmp_path / "lake"), catalog_uri=uri, catalog_name=name)


def materialize(assets, resources, instance, partition_key=None, selection=None, tags=None, raise_on_error=True):
    return dg.materialize(
        assets, resources=resources, instance=instance, partition_key=partition_key,
        selection=selection, tags=tags, raise_on_error=raise_on_error,
    )
