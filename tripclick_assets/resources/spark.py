"""Where Spark jobs run. Locally: one PySpark session per run, created by dagster-pyspark on first use."""

from __future__ import annotations

import importlib
import time

from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field, PrivateAttr

from tripclick_assets.spark_jobs._session import local_spark_config, wait_for_running_tasks

if TYPE_CHECKING:  # the job contracts (msgspec) load when a step runs
    from tripclick_assets.lib.spark.jobs import JobParams, R


class SparkResource(dg.ConfigurableResource):
    """Runs a job module of tripclick_assets.spark_jobs and returns its typed result.

    ``params`` is the job's params struct (``BronzeParams`` for ``"bronze"``, ...; see
    :mod:`tripclick_assets.lib.spark.jobs`); the result is ``type(params).RESULT``.
    """

    def run_job(self, context: dg.AssetExecutionContext, job: str, params: JobParams[R]) -> R:
        raise NotImplementedError

    @staticmethod
    def checked_params(job: str, params: JobParams[R]) -> JobParams[R]:
        """The params as the job decodes them; a wrong or missing field fails the step (no retry), naming it."""
        try:
            from tripclick_assets.lib.spark.jobs import check_params
            return check_params(job, params)
        except (TypeError, ValueError) as exc:
            raise dg.Failure(str(exc), allow_retries=False) from None


class LocalSparkResource(SparkResource):
    """PySpark in this process (local[*], or a standalone master); the session is shared by every step of the run."""

    master: str = Field(default="local[*]", description="local[*], local[N] or spark://host:port")
    spark_config: dict[str, str] = Field(default_factory=dict, description="overrides of the local defaults")
    class_archive: str | None = Field(
        default=None,
        description="JVM class-data archive to start the driver from when the file exists "
        "(`tripclick spark-archive` builds it; it halves the cold start)",
    )
    worker_python: str | None = Field(
        default=None,
        description="the executors' interpreter on a standalone cluster (the deploy image's: /opt/venv/bin/python); "
        "default: this process's",
    )
    _pyspark = PrivateAttr(default=None)

    def session(self):
        if self._pyspark is None:
            import os
            import sys

            from dagster_pyspark import PySparkResource

            # The Python workers' interpreter: PySpark reads only this variable (not spark.pyspark.python)
            # when the driver is a Python process. Locally, this venv; on a cluster, the workers' own.
            if self.worker_python:
                os.environ["PYSPARK_PYTHON"] = self.worker_python
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local[*] never leaves loopback
            from tripclick_assets.lib.spark.class_archive import with_archive

            cluster = {}
            if self.master.startswith("spark://"):
                # Workers in containers on this machine's network share one address: Spark would take
                # them for one host and read a neighbour's shuffle files from the wrong container's disk.
                cluster = {"spark.shuffle.readHostLocalDisk": "false"}
            config = with_archive(local_spark_config({"spark.master": self.master, **cluster, **self.spark_config}),
                                  self.class_archive)
            pyspark = PySparkResource(spark_config=config)
            pyspark.setup_for_execution(None)
            pyspark.spark_context.setLogLevel("ERROR")  # the run log shows our messages, not JVM chatter
            if self.master.startswith("spark://"):
                # The cluster's executors import the job code from the shipped zip, as spark-submit's
                # --py-files gives it to them on the production path.
                pyspark.spark_context.addPyFile(shipped_code_zip())
            self._pyspark = pyspark
        return self._pyspark.spark_session

    def run_job(self, context: dg.AssetExecutionContext, job: str, params: JobParams[R]) -> R:
        params = self.checked_params(job, params)
        module = importlib.import_module(f"tripclick_assets.spark_jobs.{job}")
        started = time.monotonic()
        spark = self.session()
        context.log.info(f"spark job {job} starting (session ready in {time.monotonic() - started:.1f}s)")
        try:
            result = module.run(spark, params)
        except Exception:
            # The failed job's other tasks are killed asynchronously and may still write for a few
            # seconds: let them stop first, so that the caller's clean-up (the staging) comes last.
            if not wait_for_running_tasks(spark):
                context.log.warning(f"spark job {job} failed; some of its tasks were still running 30 s later")
            raise
        context.log.info(f"spark job {job} finished in {time.monotonic() - started:.1f}s")
        return result


def shipped_code_zip() -> str:
    """The job code bundle as a zip file in the temp dir, named by its version (written once)."""
    import tempfile
    from pathlib import Path

    from tripclick_assets.resources.spark_code import code_bundle

    bundle = code_bundle()
    path = Path(tempfile.gettempdir()) / f"tripclick-code-{bundle.version}" / "tripclick_assets.zip"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(bundle.files["tripclick_assets.zip"])
        partial.replace(path)
    return str(path)
