"""Spark session settings shared by local runs, tests and spark-submit."""

from __future__ import annotations

import os
import sys

# Every job computes in UTC; event_date partitions are UTC days.
BASE_CONFIG = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.parquet.compression.codec": "zstd",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
}

LOCAL_CONFIG = {
    "spark.master": "local[*]",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "4g",
    "spark.sql.adaptive.enabled": "true",
    "spark.python.worker.reuse": "true",
}


def local_spark_config(overrides: dict | None = None) -> dict:
    return {**BASE_CONFIG, **LOCAL_CONFIG, **(overrides or {})}


def get_or_create_session(config: dict, app_name: str = "tripclick"):
    """One session per process: getOrCreate returns the running one if there is one."""
    # Workers must use this interpreter (the venv with confluent-kafka and the job code).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    for key, value in config.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def wait_for_running_tasks(spark, timeout: float = 30.0) -> bool:
    """Wait until no task of the session runs; False if one still does after ``timeout`` seconds.

    When a job fails, Spark kills its other tasks asynchronously: a Python worker goes on for up
    to a few seconds (``spark.python.task.killTimeout``) after the job's error reached the driver,
    and can still create files. A caller that removes what the job wrote waits for this first.
    A session whose JVM is gone runs nothing.
    """
    import time

    deadline = time.monotonic() + timeout
    try:
        tracker = spark.sparkContext._jsc.sc().statusTracker()
        while sum(info.numRunningTasks() for info in tracker.getExecutorInfos()) > 0:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
    except Exception:  # Py4JError: the driver's JVM has died, and its tasks with it
        return True
    return True
