"""The lineage with benchmark resources: for in-process runs and for fresh-process CLI runs.

``benchmarks/lineage.py`` imports :func:`bench_resources` and :data:`ASSETS`, and also runs
one run per process with::

    BENCH_WORKDIR=... BENCH_KAFKA=host:port BENCH_POSTGRES_URL=postgresql://... BENCH_TOPIC=... \\
        python -m dagster asset materialize -f benchmarks/lineage_defs.py --select '*' --partition 2014-12-31

The resources are the local ones (``defs/resources.py``: default local Spark
settings, synthetic producers with the default volume) pointed at the benchmark's own
broker, PostgreSQL and work directory. Asset checks are not included: the benchmark times
the assets only.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from tripclick_assets.defs.ingestion.assets import tripclick_raw_logs
from tripclick_assets.defs.lake.assets import bronze_events, silver_events
from tripclick_assets.defs.marts.assets import marts
from tripclick_assets.resources.kafka import KafkaResource
from tripclick_assets.resources.lake import LakeResource
from tripclick_assets.resources.postgres import PostgresResource
from tripclick_assets.resources.producers import LocalProducersResource, SyntheticSource
from tripclick_assets.resources.spark import LocalSparkResource
from tripclick_assets.settings import local_settings

ASSETS = [tripclick_raw_logs, bronze_events, silver_events, marts]
DOWNSTREAM = [bronze_events, silver_events, marts]  # everything after the producer


def bench_resources(workdir: Path, bootstrap_servers: str, postgres_url: str, topic: str) -> dict:
    return {
        "kafka": KafkaResource(bootstrap_servers=bootstrap_servers, topic=topic, dlq_topic=f"{topic}_dlq"),
        "producers": LocalProducersResource(logs_dir=str(Path(workdir) / "logs"), synthetic=SyntheticSource()),
        "lake": LakeResource(root=str(Path(workdir) / "lake"), catalog_uri=postgres_url,  # catalog per workdir
                             catalog_name="bench_" + Path(workdir).name.replace("-", "_")[-20:]),
        # BENCH_SPARK_MASTER=spark://...: the same jobs on a standalone cluster (benchmarks/cluster.py)
        "spark": LocalSparkResource(master=os.environ.get("BENCH_SPARK_MASTER", "local[*]"),
                                    worker_python=os.environ.get("BENCH_SPARK_WORKER_PYTHON") or None,
                                    class_archive=str(local_settings().spark_class_archive)),
        "postgres": PostgresResource(url=postgres_url),
    }


def bench_env(workdir: Path, bootstrap_servers: str, postgres_url: str, topic: str) -> dict[str, str]:
    """The variables a fresh process needs to build the same resources as :func:`bench_resources`."""
    return {"BENCH_WORKDIR": str(workdir), "BENCH_KAFKA": bootstrap_servers,
            "BENCH_POSTGRES_URL": postgres_url, "BENCH_TOPIC": topic}


def defs_from_env() -> dg.Definitions:
    resources = bench_resources(Path(os.environ["BENCH_WORKDIR"]), os.environ["BENCH_KAFKA"],
                                os.environ["BENCH_POSTGRES_URL"], os.environ["BENCH_TOPIC"])
    # As in tripclick_assets/definitions.py: one process per run, every step shares one Spark session.
    return dg.Definitions(assets=ASSETS, resources=resources, executor=dg.in_process_executor)


# Loaded by `dagster asset materialize -f benchmarks/lineage_defs.py` (lineage.py sets the variables).
if os.environ.get("BENCH_WORKDIR"):
    defs = defs_from_env()
