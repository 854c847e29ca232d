"""Spark job: silver Parquet -> the PostgreSQL marts, one replaced partition per event_date.

``run(spark, params: MartsParams) -> MartsResult`` (:mod:`tripclick_assets.lib.spark.jobs`); as JSON::

    {
      "dates": ["YYYY-MM-DD", ...],                    # the partitions to (re)build
      "silver_paths": ["path or s3a://...", ...],      # current silver Parquet dirs/files of those dates (may be empty)
      "bronze_parsed_counts": {"YYYY-MM-DD": int},     # parsed bronze rows per date (mart_daily_traffic.duplicates_removed)
      "postgres_url": "postgresql://...",
      "postgres_schema": "name",                       # optional; default: the URL's search_path (public)
      "candidate_schema": "tripclick_candidate_..."    # optional; load there and let the caller publish
    }

Silver rows outside ``dates`` are ignored (the marts of a date are replaced as a whole, so
rows of other dates must not leak in). A silver file without an ``event_date`` column (a
bare ``.../event_date=YYYY-MM-DD/`` directory written with ``partitionBy``) takes the date
from its path. A date missing from ``bronze_parsed_counts`` gets ``duplicates_removed``
NULL (unknown) and is listed under ``missing_bronze_counts`` in the result.

Every mart is computed before anything is written, so a Spark failure changes nothing in
PostgreSQL. The rows are loaded into a candidate schema (an unlogged copy of the marts), then
the dates of all five marts are replaced from it in ONE transaction (``publish_candidate``),
so readers never see a day half old and half new. With ``candidate_schema`` the job stops
after loading, and the caller audits the candidate before publishing it (Dagster does).

Runs under ``spark-submit tripclick_assets/spark_jobs/marts.py --params '{...}'`` too.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from tripclick_assets.lib.lake.schema import SILVER_COLUMNS, spark_ddl
from tripclick_assets.lib.marts.tables import MART_TABLES, SILVER_COLUMNS_READ, spark_sql
from tripclick_assets.lib.spark.jobs import MartsParams, MartsResult, MartTableStats

_PATH_DATE = r"event_date=(\d{4}-\d{2}-\d{2})"
LOAD_CONNECTIONS = 3


def _parse_params(params: MartsParams) -> tuple[list[str], list[str], dict[str, int], str, str | None]:
    dates = sorted({dt.date.fromisoformat(d).isoformat() for d in params.dates})
    if not dates:
        raise ValueError("marts job: params.dates is empty")
    paths = list(params.silver_paths)
    counts = {dt.date.fromisoformat(k).isoformat(): v for k, v in params.bronze_parsed_counts.items()}
    url = params.postgres_url
    if not url:
        raise ValueError("marts job: params.postgres_url is required")
    return dates, paths, counts, url, params.postgres_schema or None


def _read_silver(spark, paths: list[str], dates: list[str]):
    from pyspark.sql import functions as F

    columns = [(name, kind) for name, kind in SILVER_COLUMNS if name in SILVER_COLUMNS_READ]
    if not paths:
        casts = ", ".join(f"CAST(NULL AS {kind}) AS {name}" for name, kind in columns)
        return spark.sql(f"SELECT {casts} WHERE false")
    df = spark.read.schema(spark_ddl(SILVER_COLUMNS)).parquet(*paths)
    names = [name for name, _ in columns]
    path_date = F.to_date(F.nullif(F.regexp_extract(F.col("_metadata.file_path"), _PATH_DATE, 1), F.lit("")))
    df = df.withColumn("event_date", F.coalesce(F.col("event_date"), path_date)).select(*names)
    return df.where(F.col("event_date").isin([dt.date.fromisoformat(d) for d in dates]))


def _values_sql(names: list[str], kinds: list[str], rows: list[tuple]) -> str:
    """SELECT over literal rows (ISO date strings and ints only), typed; no rows -> empty result."""
    if not rows:
        return "SELECT " + ", ".join(f"CAST(NULL AS {k}) AS {n}" for n, k in zip(names, kinds)) + " WHERE false"

    def literal(value) -> str:
        return f"'{dt.date.fromisoformat(value).isoformat()}'" if isinstance(value, str) else str(int(value))

    values = ", ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in rows)
    cols = ", ".join(f"c{i}" for i in range(len(names)))
    select = ", ".join(f"CAST(c{i} AS {k}) AS {n}" for i, (n, k) in enumerate(zip(names, kinds)))
    return f"SELECT {select} FROM VALUES {values} AS v({cols})"


def _rows_by_date(table, dates: list[str]) -> dict[str, int]:
    import pyarrow.compute as pc

    counts = {d: 0 for d in dates}
    if table.num_rows:
        for item in pc.value_counts(table.column("event_date")).to_pylist():
            counts[item["values"].isoformat()] = item["counts"]
    return counts


def run(spark, params: MartsParams) -> MartsResult:
    import psycopg

    from tripclick_assets.lib.marts.postgres_load import (
        create_candidate, drop_candidate, ensure_schema, new_candidate_schema, publish_candidate, replace_partitions,
    )

    started = time.monotonic()
    dates, paths, counts, url, schema = _parse_params(params)
    suffix = uuid.uuid4().hex[:12]
    views = {
        "silver": f"silver_{suffix}",
        "bronze_parsed_counts": f"bronze_parsed_counts_{suffix}",
        "requested_dates": f"requested_dates_{suffix}",
    }
    timings: dict[str, float] = {}
    results = {}
    silver = _read_silver(spark, paths, dates).persist()
    try:
        silver.createOrReplaceTempView(views["silver"])
        # Small local views as SQL VALUES (cheaper than createDataFrame; values are validated dates/ints).
        spark.sql(
            _values_sql(["event_date", "parsed_rows"], ["date", "bigint"], [(d, n) for d, n in sorted(counts.items())])
        ).createOrReplaceTempView(views["bronze_parsed_counts"])
        spark.sql(_values_sql(["event_date"], ["date"], [(d,) for d in dates])).createOrReplaceTempView(
            views["requested_dates"]
        )
        t0 = time.monotonic()
        silver_rows = silver.count()
        timings["read_silver_seconds"] = round(time.monotonic() - t0, 3)

        # Compute everything first: a Spark failure must not leave some marts half-updated.
        t0 = time.monotonic()

        def compute(table) -> tuple[str, object, float]:
            t1 = time.monotonic()
            arrow = spark.sql(spark_sql(table.name, **views)).toArrow()
            return table.name, arrow.select(table.column_names), time.monotonic() - t1

        # The queries run as concurrent Spark jobs: one's single-task stages and its driver-side
        # Arrow collection leave cores idle that another's tasks can use.
        with ThreadPoolExecutor(max_workers=len(MART_TABLES)) as pool:
            for name, arrow, seconds in pool.map(compute, MART_TABLES):
                results[name] = arrow
                timings[f"compute_{name}_seconds"] = round(seconds, 3)
        timings["compute_seconds"] = round(time.monotonic() - t0, 3)
    finally:
        for view in views.values():
            spark.catalog.dropTempView(view)
        silver.unpersist()

    t0 = time.monotonic()
    candidate = params.candidate_schema or new_candidate_schema()
    with psycopg.connect(url, connect_timeout=10, application_name="tripclick-marts") as conn:
        schema_changed = ensure_schema(conn, schema)
        create_candidate(conn, candidate, schema)

    def load(table) -> tuple[str, MartTableStats, float]:
        t1 = time.monotonic()
        with psycopg.connect(url, connect_timeout=10, application_name=f"tripclick-{table.name}") as conn:
            written = replace_partitions(conn, table.name, dates, results[table.name], candidate)
        stats = MartTableStats(rows=written, rows_by_date=_rows_by_date(results[table.name], dates))
        return table.name, stats, time.monotonic() - t1

    # The candidate's tables are loaded side by side, one connection each: PostgreSQL parses
    # and indexes one table's COPY while pyarrow formats the next one's. The marts themselves
    # change only when the candidate is published, all five in one transaction.
    tables: dict[str, MartTableStats] = {}
    try:
        with ThreadPoolExecutor(max_workers=LOAD_CONNECTIONS) as pool:
            for name, entry, seconds in pool.map(load, MART_TABLES):
                tables[name] = entry
                timings[f"load_{name}_seconds"] = round(seconds, 3)
        if params.candidate_schema is None:
            t1 = time.monotonic()
            with psycopg.connect(url, connect_timeout=10, application_name="tripclick-marts") as conn:
                publish_candidate(conn, candidate, dates, schema)
            timings["publish_seconds"] = round(time.monotonic() - t1, 3)
    except BaseException:
        with psycopg.connect(url, connect_timeout=10, application_name="tripclick-marts") as conn:
            drop_candidate(conn, candidate)
        raise
    timings["load_seconds"] = round(time.monotonic() - t0, 3)
    timings["total_seconds"] = round(time.monotonic() - started, 3)
    return MartsResult(
        tables=tables,
        dates=dates,
        silver_rows=silver_rows,
        silver_paths=len(paths),
        missing_bronze_counts=[d for d in dates if d not in counts],
        schema_changed=schema_changed,
        postgres_schema=schema,
        timings=timings,
        candidate_schema=params.candidate_schema,
        published=params.candidate_schema is None,
    )


if __name__ == "__main__":
    from tripclick_assets.spark_jobs._job import run_as_script

    run_as_script(MartsParams, run)
