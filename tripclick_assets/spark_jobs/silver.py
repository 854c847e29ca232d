"""Bronze partitions -> silver: typed, normalised, one row per dedup_key (the earliest Kafka record).

Parse errors stay in bronze. Every expression runs in the JVM (no Python UDF), including the
clinical-area canonicalisation, which looks spellings up in the alias table of
:mod:`tripclick_assets.lib.source.clinical_areas` by the same normalised key.

No value can fail a day: Spark 4 runs in ANSI mode, where ``to_timestamp`` and ``cast`` raise on
one bad value, so every cast here is a ``try_`` one. A parsed row whose required value is null or
cannot be typed is rejected with a reason (``REJECT_REASONS``), before dedup; an entry of
``documents`` that is no bigint id is dropped from the array, the row kept
(``DROPPED_DOCUMENT_ID_REASONS``). Both are counted per day in the job's result.
"""

from __future__ import annotations

import posixpath
import time

from tripclick_assets.lib.lake.store import Lake, new_version
from tripclick_assets.lib.lake.schema import BRONZE_COLUMNS, SILVER_COLUMNS, column_names, spark_ddl
from tripclick_assets.lib.spark.jobs import SilverDay, SilverParams, SilverResult

LAYER = "silver"


class CorruptPartitionError(RuntimeError):
    pass


def verify_parquet_files(lake: Lake, files: list[str], layer: str, day: str) -> tuple[int, int]:
    """Read every footer first, so a broken file fails the job naming that file (and nothing is written).

    Returns (rows, rows whose parse_error is null), from the footers' row counts and null
    counts (the column is read only when a file has no statistics).
    """
    import pyarrow.parquet as pq

    rows = parsed = 0
    for path in files:
        try:
            with lake.fs.open_input_file(lake.fs_path(path)) as handle:
                parquet = pq.ParquetFile(handle)
                rows += parquet.metadata.num_rows
                parsed += _null_count(parquet, "parse_error")
        except Exception as exc:  # pyarrow raises several types for a bad footer
            raise CorruptPartitionError(
                f"{layer} partition event_date={day}: corrupt Parquet file {path}: {exc}"
            ) from None
    return rows, parsed


def _null_count(parquet, column: str) -> int:
    metadata = parquet.metadata
    index = parquet.schema_arrow.get_field_index(column)
    if index < 0:
        return metadata.num_rows
    total = 0
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(index).statistics
        if stats is None or not stats.has_null_count:
            return parquet.read(columns=[column]).column(0).null_count
        total += stats.null_count
    return total


EVENT_TS_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSX"

#: Why a parsed bronze row is rejected from silver: a required value that is null or cannot be
#: typed. A row gets the first reason that applies, in this order.
REJECT_REASONS = ("missing_event_date", "missing_session_id", "missing_document_id", "missing_dedup_key",
                  "missing_event_ts", "event_ts_not_a_timestamp")
#: Why one entry of a row's ``documents`` is dropped (the row is kept): an id of digits beyond
#: bigint, an item that is not an integer, a value that starts like a JSON list but is not one.
DROPPED_DOCUMENT_ID_REASONS = ("document_id_out_of_range", "document_id_not_an_integer", "documents_not_a_json_list")
_INTEGER = r"^-?[0-9]+$"
_NUMBER = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$"


def reject_reason():
    """The row's reason for rejection (``REJECT_REASONS``), null for a row silver can type."""
    from pyspark.sql import functions as F

    reason = F.when(F.col("event_date").isNull(), F.lit("missing_event_date"))
    for column in ("session_id", "document_id", "dedup_key", "event_ts"):
        reason = reason.when(F.col(column).isNull(), F.lit(f"missing_{column}"))
    return reason.when(_event_ts().isNull(), F.lit("event_ts_not_a_timestamp"))


def _event_ts():
    from pyspark.sql import functions as F

    # try_: under ANSI (Spark 4's default) to_timestamp raises for an hour 25 and fails the whole day.
    return F.try_to_timestamp(F.col("event_ts"), F.lit(EVENT_TS_FORMAT))


def candidates(bronze):
    """The parsed bronze rows with ``_event_ts`` (typed) and ``_reject_reason`` (null: kept)."""
    from pyspark.sql import functions as F

    return (bronze.where(F.col("parse_error").isNull())
                  .withColumn("_event_ts", _event_ts())
                  .withColumn("_reject_reason", reject_reason()))


def _documents_parts():
    """(empty, is_list, items, parts) of the raw ``documents`` text (bronze's JSON text of the
    value): no ids, a JSON list with the text of each item (``items``; null when it does not
    parse), else the legacy ``"docid:score,..."`` string's comma-separated ``parts``."""
    from pyspark.sql import functions as F

    docs = F.col("documents")
    empty = docs.isNull() | docs.isin("null", '""', "[]")
    is_list = docs.startswith("[")
    # array<string>: each item as its JSON text (a number too), so an id too large for bigint
    # is seen (array<bigint> makes the whole list null) and try_cast decides.
    items = F.from_json(docs, "array<string>")
    parts = F.split(F.regexp_replace(docs, '^"|"$', ""), ",")
    return empty, is_list, items, parts


def _legacy_digits(part):
    from pyspark.sql import functions as F

    return F.regexp_extract(part, r"^\s*([0-9]+)", 1)


def _is_legacy_id(part):
    from pyspark.sql import functions as F

    return F.trim(part).rlike("^[0-9]+")


def _json_item_ok(item):
    return item.isNull() | (item.rlike(_INTEGER) & item.try_cast("bigint").isNotNull())


def _json_out_of_range(item):
    """An integer beyond bigint: its digits, or the float bronze's JSON parser made of it
    (``1.2345678901234569e+23`` for an id of 24 digits; any number that large)."""
    from pyspark.sql import functions as F

    return item.rlike(_INTEGER) | (item.rlike(_NUMBER) & (F.abs(item.try_cast("double")) >= F.lit(2.0 ** 63)))


def document_ids():
    """``documents`` as array<bigint>: every id that fits; an id that does not is left out (and
    counted by :func:`dropped_document_id_reasons`)."""
    from pyspark.sql import functions as F

    empty, is_list, items, parts = _documents_parts()
    no_ids = F.array().cast("array<bigint>")
    json_ids = F.transform(F.filter(items, _json_item_ok), lambda x: x.try_cast("bigint"))
    legacy_ids = F.filter(
        F.transform(F.filter(parts, _is_legacy_id), lambda x: _legacy_digits(x).try_cast("bigint")),
        lambda x: x.isNotNull())
    return (F.when(empty, no_ids)
             .when(is_list, F.coalesce(json_ids, no_ids))
             .otherwise(legacy_ids))


def dropped_document_id_reasons():
    """array<string>: one ``DROPPED_DOCUMENT_ID_REASONS`` entry per entry of ``documents`` that
    :func:`document_ids` leaves out (a blank legacy part and a JSON null are no entries)."""
    from pyspark.sql import functions as F

    empty, is_list, items, parts = _documents_parts()
    none = F.array().cast("array<string>")
    json_reasons = F.transform(
        F.filter(items, lambda x: ~_json_item_ok(x)),
        lambda x: F.when(_json_out_of_range(x), F.lit("document_id_out_of_range"))
                   .otherwise(F.lit("document_id_not_an_integer")))
    legacy_reasons = F.transform(
        F.filter(parts, lambda x: (F.trim(x) != "")
                 & (~_is_legacy_id(x) | _legacy_digits(x).try_cast("bigint").isNull())),
        lambda x: F.when(_is_legacy_id(x), F.lit("document_id_out_of_range"))
                   .otherwise(F.lit("document_id_not_an_integer")))
    return (F.when(empty, none)
             .when(is_list, F.coalesce(json_reasons, F.array(F.lit("documents_not_a_json_list"))))
             .otherwise(legacy_reasons))


def clinical_areas():
    """array<string>: the canonical names of the raw ``clinical_areas`` (the rule of
    ``lib.source.clinical_areas.parse_clinical_areas``): a JSON list's string items, else the
    comma-separated parts; blank parts skipped; de-duplicated in first-seen order."""
    from pyspark.sql import functions as F

    from tripclick_assets.lib.source.clinical_areas import ALIASES

    raw = F.col("clinical_areas")
    alias_map = F.create_map(*[F.lit(x) for pair in sorted(ALIASES.items()) for x in pair])
    # A list stored as JSON text (bronze keeps a non-string value so): each string item is one
    # spelling ("Ear, Nose and Throat" stays one), other items are ignored. Text that starts
    # with "[" but is no JSON list is split on commas like any other string.
    listed = F.when(raw.startswith("["), F.try_variant_get(F.try_parse_json(raw), "$", "array<variant>"))
    strings = F.transform(F.filter(listed, lambda v: F.schema_of_variant(v) == "STRING"),
                          lambda v: F.variant_get(v, "$", "string"))
    parts = F.coalesce(strings, F.split(F.coalesce(raw, F.lit("")), ","))
    return F.array_distinct(F.transform(
        F.filter(parts, lambda x: F.trim(x) != ""),
        lambda x: F.coalesce(F.try_element_at(alias_map, F.regexp_replace(F.lower(x), "[^a-z0-9]", "")), F.trim(x)),
    ))


def silver_frame(bronze):
    """The silver rows of a bronze DataFrame (typing, rejection, normalisation, dedup).

    A parsed row whose required value is null or cannot be typed is rejected (``REJECT_REASONS``)
    **before** dedup, so a valid copy of an event is kept even when an earlier copy was bad, and
    ``parsed = silver + duplicates removed + rejected`` (each rejected copy counts as rejected).
    No expression can raise on a value (Spark 4 runs in ANSI mode): every cast is a ``try_``.
    """
    from pyspark.sql import functions as F

    kept = candidates(bronze).where(F.col("_reject_reason").isNull())
    # De-duplicate first (it needs only the key and the Kafka position), then type the survivors.
    typed = earliest_per_dedup_key(kept).select(
        "event_date",
        F.col("_event_ts").alias("event_ts"),
        "session_id",
        "document_id",
        "url",
        "title",
        F.nullif(F.col("doi"), F.lit("")).alias("doi"),
        clinical_areas().alias("clinical_areas"),
        F.nullif(F.col("keywords"), F.lit("")).alias("keywords"),
        document_ids().alias("documents"),
        "dedup_key", "server", "source_file", "source_line",
        "kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp", "ingested_at",
    )
    return typed.select(*column_names(SILVER_COLUMNS))


def untyped_counts(bronze) -> dict[str | None, dict[str, dict[str, int]]]:
    """``{day: {"rejected": {reason: rows}, "dropped_document_ids": {reason: ids}}}``, non-zero only
    (day None: rows without event_date).

    Rejected rows are counted over the parsed bronze rows (every copy; rejection comes before
    dedup). Dropped document ids are counted over the rows silver keeps (after dedup): one pass
    finds the rows that lose an id, and only when there are some are their keys de-duplicated.
    """
    from pyspark.sql import functions as F

    rows = candidates(bronze).withColumn(
        "_dropped", F.when(F.col("_reject_reason").isNull(), dropped_document_id_reasons()))
    out: dict[str, dict[str, dict[str, int]]] = {}
    found = (rows.where(F.col("_reject_reason").isNotNull() | (F.size("_dropped") > 0))
                 .groupBy("event_date", "_reject_reason").count().collect())
    for row in found:
        if row["_reject_reason"] is not None:
            day = out.setdefault(_day(row), {"rejected": {}, "dropped_document_ids": {}})
            day["rejected"][row["_reject_reason"]] = row["count"]
    if any(row["_reject_reason"] is None for row in found):
        kept = rows.where(F.col("_reject_reason").isNull())
        losing = kept.where(F.size("_dropped") > 0).select("dedup_key").distinct()
        survivors = earliest_per_dedup_key(kept.join(losing, "dedup_key", "left_semi"))
        dropped = (survivors.where(F.size("_dropped") > 0)
                            .select("event_date", F.explode("_dropped").alias("_reason"))
                            .groupBy("event_date", "_reason").count().collect())
        for row in dropped:
            day = out.setdefault(_day(row), {"rejected": {}, "dropped_document_ids": {}})
            day["dropped_document_ids"][row["_reason"]] = row["count"]
    return out


def _day(row) -> str | None:
    return row["event_date"].isoformat() if row["event_date"] is not None else None


def _merged(a: dict, b: dict | None) -> dict:
    out = {kind: dict(counts) for kind, counts in a.items()}
    for kind, counts in (b or {}).items():
        for reason, n in counts.items():
            out[kind][reason] = out[kind].get(reason, 0) + n
    return out


def earliest_per_dedup_key(rows):
    """One row per dedup_key: the earliest Kafka record (kafka_timestamp, then partition, then offset).

    Duplicates are a few percent of a day, so only the rows of repeated keys (found by a hash
    aggregation, broadcast back) are ranked; sorting the whole day by key to rank every row
    took about half the job.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    repeated = F.broadcast(rows.groupBy("dedup_key").count().where("count > 1").select("dedup_key"))
    earliest = Window.partitionBy("dedup_key").orderBy("kafka_timestamp", "kafka_partition", "kafka_offset")
    ranked = (rows.join(repeated, "dedup_key", "left_semi")
                  .withColumn("_rank", F.row_number().over(earliest)).where("_rank = 1").drop("_rank"))
    return rows.join(repeated, "dedup_key", "left_anti").unionByName(ranked)


def run(spark, params: SilverParams) -> SilverResult:
    """params: lake, dates, bronze_files {D: [current bronze files]}. Stages silver; publishes nothing."""
    from pyspark.sql import functions as F

    started = time.monotonic()
    lake = Lake(params.lake)
    dates = sorted(params.dates)
    version = params.version or new_version()
    files, bronze_counts = [], {}
    for day in dates:
        if day not in params.bronze_files:
            raise CorruptPartitionError(f"bronze partition event_date={day} has not been materialized")
        day_files = params.bronze_files[day]
        bronze_counts[day] = verify_parquet_files(lake, day_files, "bronze", day)
        files += day_files

    if files:
        bronze = spark.read.schema(spark_ddl(BRONZE_COLUMNS)).parquet(*[lake.spark_uri(f) for f in files])
    else:
        bronze = spark.createDataFrame([], spark_ddl(BRONZE_COLUMNS))
    staging = lake.staging_dir(LAYER, version)
    silver = silver_frame(bronze)
    if len(dates) == 1:
        # Bronze D holds only rows of D: write the one partition directly, without the
        # per-task sort that partitionBy does.
        silver.where(F.col("event_date") == F.lit(dates[0]).cast("date")).write.parquet(
            lake.spark_uri(posixpath.join(staging, f"_partition={dates[0]}")))
    else:
        silver.withColumn("_partition", F.date_format("event_date", "yyyy-MM-dd")).write.partitionBy(
            "_partition").parquet(lake.spark_uri(staging))
    staged = lake.staged_files(staging)
    untyped = untyped_counts(bronze)
    if None in untyped:  # parsed bronze rows without event_date: bronze's contract rules them out
        if len(dates) > 1:
            raise CorruptPartitionError(f"bronze of {dates[0]}..{dates[-1]} holds parsed rows without event_date "
                                        f"({untyped[None]['rejected']}): re-materialize bronze for those days")
        untyped[dates[0]] = _merged(untyped.pop(None), untyped.get(dates[0]))
    by_date = {}
    for day in dates:
        day_files = staged.get(day, [])
        rows = lake.row_count(day_files)
        total, parsed = bronze_counts[day]
        counts = untyped.get(day, {"rejected": {}, "dropped_document_ids": {}})
        rejected = sum(counts["rejected"].values())
        by_date[day] = SilverDay(
            rows=rows, bronze_rows=total, bronze_parsed_rows=parsed, duplicates_removed=parsed - rows - rejected,
            rejected_rows=rejected, rejected_by_reason=counts["rejected"],
            dropped_document_ids=sum(counts["dropped_document_ids"].values()),
            dropped_document_ids_by_reason=counts["dropped_document_ids"],
            path=lake.uri(f"{staging}/_partition={day}"), bytes=lake.files_bytes(day_files), staged_files=day_files,
        )
    return SilverResult(layer=LAYER, version=version, by_date=by_date, seconds=round(time.monotonic() - started, 3))


if __name__ == "__main__":
    from tripclick_assets.spark_jobs._job import run_as_script

    run_as_script(SilverParams, run)
