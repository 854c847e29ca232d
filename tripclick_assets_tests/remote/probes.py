"""Small assets that drive one remote resource, and a runner for them in a child process.

``python -m tripclick_assets_tests.remote.probes SPEC_JSON`` materializes one probe in its own
process, so a test can interrupt it the way Dagster terminates a run (SIGINT to the step).
"""

import json
import sys
from datetime import date

import dagster as dg

from tripclick_assets.defs.partitions import event_date_partitions
from tripclick_assets.lib.spark.jobs import decode_params, params_type, result_message
from tripclick_assets.resources.docker_producers import DockerProducersResource
from tripclick_assets.resources.kafka import KafkaResource
from tripclick_assets.resources.producers import ProducersResource
from tripclick_assets.resources.spark import SparkResource
from tripclick_assets.resources.ssh_spark import SSHSparkResource


class ReplayConfig(dg.Config):
    mode: str = "batch"
    speedup: float = 24.0


@dg.asset(partitions_def=event_date_partitions)
def replay_probe(
    context: dg.AssetExecutionContext, config: ReplayConfig, kafka: KafkaResource, producers: ProducersResource
) -> list:
    """Every server's producer for the partition (no retries, unlike tripclick_raw_logs)."""
    kafka.ensure_topics()
    day = date.fromisoformat(context.partition_key)
    return producers.replay(context, [day], kafka=kafka, mode=config.mode, speedup=config.speedup)


class SparkProbeConfig(dg.Config):
    job: str
    params_json: str


def _run_spark_probe(context, config: SparkProbeConfig, spark: SparkResource) -> dg.MaterializeResult:
    params = decode_params(params_type(config.job), config.params_json)
    result = spark.run_job(context, config.job, params)
    return dg.MaterializeResult(metadata={"result": dg.MetadataValue.json(result_message(result))})


@dg.asset(name="spark_probe")
def spark_probe(context: dg.AssetExecutionContext, config: SparkProbeConfig, spark: SparkResource) -> dg.MaterializeResult:
    """One spark job, no retries."""
    return _run_spark_probe(context, config, spark)


@dg.asset(name="spark_probe_retried", retry_policy=dg.RetryPolicy(max_retries=1, delay=1))
def spark_probe_retried(
    context: dg.AssetExecutionContext, config: SparkProbeConfig, spark: SparkResource
) -> dg.MaterializeResult:
    """One spark job, retried once (like the lake assets' IO retry policy)."""
    return _run_spark_probe(context, config, spark)


def spark_run_config(asset_name: str, job: str, params: dict) -> dg.RunConfig:
    return dg.RunConfig(ops={asset_name: SparkProbeConfig(job=job, params_json=json.dumps(params))})


def main(spec: dict) -> int:
    """spec: {"kind": "docker", "producers": {...}, "bootstrap_servers", "topic", "partition", "mode", "speedup"}
    or {"kind": "ssh", "spark": {...}, "job", "params"}."""
    if spec["kind"] == "docker":
        kafka = KafkaResource(bootstrap_servers=spec["bootstrap_servers"], topic=spec["topic"],
                              dlq_topic=spec["topic"] + "_dlq")
        resources = {"kafka": kafka, "producers": DockerProducersResource(**spec["producers"])}
        run_config = dg.RunConfig(ops={"replay_probe": ReplayConfig(mode=spec["mode"], speedup=spec["speedup"])})
        assets, partition = [replay_probe], spec["partition"]
    else:
        resources = {"spark": SSHSparkResource(**spec["spark"])}
        run_config, assets, partition = spark_run_config("spark_probe", spec["job"], spec["params"]), [spark_probe], None
    with dg.instance_for_test() as instance:
        result = dg.materialize(assets, resources=resources, instance=instance, run_config=run_config,
                                partition_key=partition, raise_on_error=False)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
