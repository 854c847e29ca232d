"""A class-data archive (JDK AppCDS) for the local Spark driver: a cold session starts in about half the time.

A local run starts one JVM, and most of its first seconds go to loading and verifying
Spark's classes. ``build(path)`` runs a small workload that touches what the jobs use
(Arrow to Python workers, Parquet, aggregations, windows, joins) in a JVM started with
``-XX:ArchiveClassesAtExit``; the JVM writes the classes it loaded when it exits, and the
file is then renamed into place, so readers never see half an archive.
:func:`archive_java_options` makes later sessions map it (``-XX:SharedArchiveFile``).

The archive is only a cache: a JVM that finds it stale (another JDK, reinstalled jars)
ignores it and starts as usual, and deleting it costs only the speed.

    python -m tripclick_assets.lib.spark.class_archive PATH      # build (replaces PATH)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

# Mapping the archive must never make a JVM fail to start, nor print on stdout.
_QUIET = "-Xshare:auto -Xlog:cds=off -Xlog:cds+dynamic=off -Xlog:class+path=off"


def archive_java_options(archive: str | os.PathLike | None) -> str:
    """Extra driver JVM options that use ``archive`` when it exists; "" otherwise."""
    if not archive or not Path(archive).is_file():
        return ""
    return f"-XX:SharedArchiveFile={archive} {_QUIET}"


def with_archive(config: dict[str, str], archive: str | os.PathLike | None) -> dict[str, str]:
    """``config`` with the archive options added to ``spark.driver.extraJavaOptions``."""
    options = archive_java_options(archive)
    if not options:
        return dict(config)
    key = "spark.driver.extraJavaOptions"
    return {**config, key: f"{config.get(key, '')} {options}".strip()}


def build(archive: str | os.PathLike, timeout_s: float = 600) -> Path:
    """Build the archive at ``archive`` (replacing it); returns its path."""
    target = Path(archive)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".class-archive-") as work:
        partial = Path(work) / "classes.jsa"
        subprocess.run([sys.executable, "-m", "tripclick_assets.lib.spark.class_archive", "--workload", str(partial), work],
                       check=True, timeout=timeout_s, stdout=subprocess.DEVNULL)
        if not partial.is_file() or partial.stat().st_size == 0:
            raise RuntimeError(f"the JVM wrote no class archive at {partial}")
        os.replace(partial, target)
    return target


def _workload(partial: str, work: str) -> None:
    """Run in a child process: a session that dumps its classes to ``partial`` when its JVM exits."""
    from pyspark import SparkContext
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from tripclick_assets.spark_jobs._session import get_or_create_session, local_spark_config

    config = local_spark_config()
    key = "spark.driver.extraJavaOptions"
    config[key] = f"{config.get(key, '')} -XX:ArchiveClassesAtExit={partial} -Xlog:cds=off".strip()
    spark = get_or_create_session(config, app_name="tripclick-class-archive")

    def echo(batches):
        yield from batches

    rows = spark.range(20_000).select(
        F.col("id"), (F.col("id") % 97).alias("k"), F.concat(F.lit("s"), F.col("id") % 13).alias("s"),
        F.timestamp_micros(F.col("id") * 1_000_000).alias("ts"),
    )
    rows = rows.mapInArrow(echo, rows.schema)
    path = os.path.join(work, "rows")
    rows.withColumn("p", F.col("k") % 2).write.partitionBy("p").parquet(path)
    back = spark.read.parquet(path).persist()
    back.groupBy("k").agg(F.count("*"), F.countDistinct("s"), F.min("ts"), F.max("ts")).toArrow()
    back.withColumn("r", F.row_number().over(Window.partitionBy("k").orderBy("ts"))).where("r = 1").count()
    small = F.broadcast(back.groupBy("s").count().where("count > 1"))
    back.join(small, "s", "left_anti").unionByName(back.join(small, "s", "left_semi")).write.format("noop").mode(
        "overwrite").save()
    back.createOrReplaceTempView("t")
    spark.sql("SELECT k, explode(array_distinct(split(s, ','))) AS a FROM t").groupBy("a").count().collect()
    back.unpersist()
    spark.stop()
    # The JVM exits when its stdin closes; wait for it, so the archive is complete when this process ends.
    gateway = SparkContext._gateway
    if gateway is not None and getattr(gateway, "proc", None) is not None:
        gateway.shutdown()
        gateway.proc.stdin.close()
        gateway.proc.wait(timeout=300)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--workload"] and len(args) == 3:
        _workload(args[1], args[2])
        return 0
    if len(args) != 1:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    print(build(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
