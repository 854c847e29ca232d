"""Column contracts of the lake layers (docs/contracts.md), as Spark DDL types.

Kept as plain tuples so that importing the contract costs nothing; Spark and pyarrow
schemas are built from them where needed. The schema-change checks compare a partition's
actual schema against these.
"""

from __future__ import annotations

# Every Kafka record in the partition's offset ranges, duplicates kept. Event fields are
# as produced (strings where the raw value may be odd); parse_error is set, and raw_value
# kept, for records that are not a valid event.
BRONZE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_date", "date"),
    ("date_created", "string"),
    ("session_id", "string"),
    ("document_id", "bigint"),
    ("url", "string"),
    ("title", "string"),
    ("doi", "string"),
    ("clinical_areas", "string"),
    ("keywords", "string"),
    ("documents", "string"),  # the raw Documents value as JSON text: a list or a legacy "id:score" string
    ("event_ts", "string"),
    ("dedup_key", "string"),
    ("server", "string"),
    ("source_file", "string"),
    ("source_line", "bigint"),
    ("kafka_topic", "string"),
    ("kafka_partition", "int"),
    ("kafka_offset", "bigint"),
    ("kafka_timestamp", "timestamp"),
    ("kafka_key", "string"),
    ("ingested_at", "timestamp"),
    ("raw_value", "string"),
    ("parse_error", "string"),
)

# Typed, normalised, one row per dedup_key (the earliest Kafka record).
SILVER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_date", "date"),
    ("event_ts", "timestamp"),
    ("session_id", "string"),
    ("document_id", "bigint"),
    ("url", "string"),
    ("title", "string"),
    ("doi", "string"),  # null when empty
    ("clinical_areas", "array<string>"),  # canonical names, de-duplicated, in first-seen order
    ("keywords", "string"),  # null when empty
    ("documents", "array<bigint>"),
    ("dedup_key", "string"),
    ("server", "string"),
    ("source_file", "string"),
    ("source_line", "bigint"),
    ("kafka_topic", "string"),
    ("kafka_partition", "int"),
    ("kafka_offset", "bigint"),
    ("kafka_timestamp", "timestamp"),
    ("ingested_at", "timestamp"),
)

REQUIRED_SILVER = ("event_date", "event_ts", "session_id", "document_id", "dedup_key")


def spark_ddl(columns: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{name} {kind}" for name, kind in columns)


def column_names(columns: tuple[tuple[str, str], ...]) -> list[str]:
    return [name for name, _ in columns]


def arrow_schema(columns: tuple[tuple[str, str], ...]):
    """The pyarrow schema Spark reads and writes for these columns (timestamps UTC, microseconds)."""
    import pyarrow as pa

    scalar = {
        "string": pa.string(), "bigint": pa.int64(), "int": pa.int32(), "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"), "double": pa.float64(), "boolean": pa.bool_(),
    }

    def arrow_type(kind: str):
        if kind.startswith("array<") and kind.endswith(">"):
            return pa.list_(arrow_type(kind[6:-1]))
        return scalar[kind]

    return pa.schema([(name, arrow_type(kind)) for name, kind in columns])
