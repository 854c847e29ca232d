"""The PostgreSQL marts (docs/contracts.md): table specs, their DDL and the Spark SQL computing them.

Pure Python: no Dagster, no pyspark. The Spark job (``spark_jobs/marts.py``) registers
three temp views and runs :func:`spark_sql` once per table; the loader
(``lib/postgres_marts.py``) runs :func:`ddl_statements` and COPYs the rows.

Views read by :func:`spark_sql` (names overridable, so concurrent runs in one Spark
session do not collide):

* ``silver`` -- the silver rows of the requested dates (columns of ``SILVER_COLUMNS``);
* ``bronze_parsed_counts(event_date date, parsed_rows bigint)`` -- parsed bronze rows per date;
* ``requested_dates(event_date date)`` -- the dates being (re)built, so that
  ``mart_daily_traffic`` emits a zero row for a requested date without silver rows.

One partition of every mart is the rows of one ``event_date``; everything is grouped by
``event_date`` (a session spanning midnight UTC counts in each day separately). Hours and
5-minute windows are computed from epoch microseconds, so the results do not depend on
the Spark session time zone.

Every table also has ``loaded_at timestamptz`` (the loading transaction's ``now()``),
which is not part of the Spark output.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ANOMALY_CRITICAL_CLICKS",
    "ANOMALY_WARNING_CLICKS",
    "ANOMALY_WINDOW_SECONDS",
    "LOADED_AT",
    "MART_TABLES",
    "MARTS_BY_NAME",
    "SILVER_COLUMNS_READ",
    "Column",
    "MartTable",
    "ddl_statements",
    "mart",
    "quote_ident",
    "qualified",
    "spark_sql",
]

ANOMALY_WINDOW_SECONDS = 300
ANOMALY_WARNING_CLICKS = 50
ANOMALY_CRITICAL_CLICKS = 100

LOADED_AT = "loaded_at"


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str
    comment: str


@dataclass(frozen=True)
class MartTable:
    name: str
    columns: tuple[Column, ...]  # without loaded_at
    primary_key: tuple[str, ...]
    comment: str

    @property
    def column_names(self) -> list[str]:
        """The Spark output / COPY columns, in order (loaded_at excluded)."""
        return [c.name for c in self.columns]

    @property
    def all_columns(self) -> tuple[Column, ...]:
        """The PostgreSQL columns, loaded_at last."""
        return (*self.columns, _LOADED_AT_COLUMN)

    @property
    def event_date_index(self) -> str | None:
        """Name of the extra index on event_date, or None when the primary key already leads with it."""
        if self.primary_key[0] == "event_date":
            return None
        return f"{self.name}_event_date_idx"


_LOADED_AT_COLUMN = Column(LOADED_AT, "timestamptz", "When this row was loaded (the loading transaction's now()).")

_EVENT_DATE = Column("event_date", "date", "UTC day of the events (the partition key).")

MART_TABLES: tuple[MartTable, ...] = (
    MartTable(
        "mart_daily_traffic",
        (
            _EVENT_DATE,
            Column("total_events", "bigint", "Silver events of the day (one per dedup_key)."),
            Column("unique_sessions", "bigint", "Distinct session_id of the day."),
            Column("unique_documents", "bigint", "Distinct document_id of the day."),
            Column("peak_hour", "integer", "UTC hour (0-23) with the most events, the earlier hour on ties; NULL on a day without events."),
            Column("peak_hour_events", "bigint", "Events in peak_hour (0 on a day without events)."),
            Column("duplicates_removed", "bigint", "Parsed bronze rows minus silver rows; NULL when the parsed bronze count was not given."),
        ),
        ("event_date",),
        "One row per UTC day: traffic totals; a requested day without events gets a zero row.",
    ),
    MartTable(
        "mart_session_analysis",
        (
            Column("session_id", "text", "Session id."),
            _EVENT_DATE,
            Column("click_count", "bigint", "Silver events of the session that day."),
            Column("unique_docs", "bigint", "Distinct documents clicked in the session that day."),
            Column("first_click_ts", "timestamptz", "Earliest event_ts of the session that day (UTC)."),
            Column("last_click_ts", "timestamptz", "Latest event_ts of the session that day (UTC)."),
            Column("session_duration_sec", "bigint", "last_click_ts - first_click_ts, floored to whole seconds."),
        ),
        ("session_id", "event_date"),
        "One row per session and UTC day (a session spanning midnight counts in each day).",
    ),
    MartTable(
        "mart_clinical_areas",
        (
            _EVENT_DATE,
            Column("clinical_area", "text", "Canonical clinical area name."),
            Column("search_count", "bigint", "Silver events carrying the area that day."),
            Column("unique_sessions", "bigint", "Distinct sessions with an event carrying the area that day."),
            Column("unique_documents", "bigint", "Distinct documents of events carrying the area that day."),
        ),
        ("event_date", "clinical_area"),
        "One row per UTC day and canonical clinical area.",
    ),
    MartTable(
        "mart_popular_documents",
        (
            _EVENT_DATE,
            Column("document_id", "bigint", "Document id."),
            Column("title", "text", "Title of the document's earliest silver event that day (event_ts, then kafka_timestamp, kafka_partition, kafka_offset)."),
            Column("view_count", "bigint", "Silver events of the document that day."),
            Column("unique_sessions", "bigint", "Distinct sessions that clicked the document that day."),
            Column("rank", "integer", "1 = most viewed that day; by view_count desc, then document_id asc; unique per day."),
        ),
        ("event_date", "document_id"),
        "One row per UTC day and clicked document, ranked by views.",
    ),
    MartTable(
        "mart_session_anomalies",
        (
            _EVENT_DATE,
            Column("session_id", "text", "Session id."),
            Column("window_start", "timestamptz", f"Start of the clock-aligned {ANOMALY_WINDOW_SECONDS // 60}-minute window (event_ts floored)."),
            Column("click_count", "bigint", "Events of the session in the window."),
            Column("severity", "text", f"WARNING from {ANOMALY_WARNING_CLICKS} clicks, CRITICAL from {ANOMALY_CRITICAL_CLICKS}."),
        ),
        ("event_date", "session_id", "window_start"),
        f"Sessions with at least {ANOMALY_WARNING_CLICKS} clicks in one clock-aligned {ANOMALY_WINDOW_SECONDS // 60}-minute window.",
    ),
)

MARTS_BY_NAME: dict[str, MartTable] = {t.name: t for t in MART_TABLES}


def mart(name: str) -> MartTable:
    try:
        return MARTS_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown mart table {name!r}; known: {', '.join(MARTS_BY_NAME)}") from None


# --- PostgreSQL DDL -----------------------------------------------------------------------


def quote_ident(name: str) -> str:
    """A PostgreSQL quoted identifier."""
    if not name or "\x00" in name:
        raise ValueError(f"invalid identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def qualified(table: str, schema: str | None = None) -> str:
    """``"schema"."table"``, or just ``"table"`` (resolved through search_path) when schema is None."""
    return f"{quote_ident(schema)}.{quote_ident(table)}" if schema else quote_ident(table)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ddl_statements(schema: str | None = None) -> list[str]:
    """Idempotent DDL for every mart: create, migrate (ADD COLUMN IF NOT EXISTS), index, comment.

    With ``schema`` the schema is created if missing and every name is qualified; without it
    names are unqualified and land in the first existing schema of the connection's
    search_path. Never drops anything.
    """
    statements: list[str] = []
    if schema:
        statements.append(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
    for table in MART_TABLES:
        name = qualified(table.name, schema)
        pk = set(table.primary_key)
        defs = []
        for col in table.all_columns:
            extra = " NOT NULL" if col.name in pk else ""
            if col.name == LOADED_AT:
                extra = " NOT NULL DEFAULT now()"
            defs.append(f"{quote_ident(col.name)} {col.pg_type}{extra}")
        defs.append(f"PRIMARY KEY ({', '.join(quote_ident(c) for c in table.primary_key)})")
        statements.append(f"CREATE TABLE IF NOT EXISTS {name} (\n    " + ",\n    ".join(defs) + "\n)")
        # Migrations: an older table gains any column added since. New columns are nullable
        # (existing rows have no value), except loaded_at which has a default.
        for col in table.all_columns:
            extra = " NOT NULL DEFAULT now()" if col.name == LOADED_AT else ""
            statements.append(f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS {quote_ident(col.name)} {col.pg_type}{extra}")
        if table.event_date_index:
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {quote_ident(table.event_date_index)} ON {name} ({quote_ident('event_date')})"
            )
        statements.append(f"COMMENT ON TABLE {name} IS {_literal(table.comment)}")
        for col in table.all_columns:
            statements.append(f"COMMENT ON COLUMN {name}.{quote_ident(col.name)} IS {_literal(col.comment)}")
    return statements


# --- Spark SQL ----------------------------------------------------------------------------

# The silver columns the queries below read: the job caches only these (a cached 1M-row
# day with every silver column takes longer to build than all five queries together).
SILVER_COLUMNS_READ = (
    "event_date", "event_ts", "session_id", "document_id", "title", "clinical_areas",
    "dedup_key", "kafka_timestamp", "kafka_partition", "kafka_offset",
)

# Epoch microseconds -> UTC hour / window start, independent of spark.sql.session.timeZone.
_MICROS_PER_HOUR = 3_600_000_000
_MICROS_PER_DAY = 86_400_000_000
_WINDOW_MICROS = ANOMALY_WINDOW_SECONDS * 1_000_000

_SQL = {
    "mart_daily_traffic": """
WITH ev AS (
    SELECT event_date, session_id, document_id,
           CAST(pmod(unix_micros(event_ts), {day}) div {hour} AS INT) AS utc_hour
    FROM {silver}
),
-- One DISTINCT per aggregation: two count(DISTINCT) in one GROUP BY make Spark expand every row.
events AS (
    SELECT event_date, count(*) AS total_events FROM ev GROUP BY event_date
),
sessions AS (
    SELECT event_date, count(*) AS unique_sessions
    FROM (SELECT DISTINCT event_date, session_id FROM ev WHERE session_id IS NOT NULL)
    GROUP BY event_date
),
documents AS (
    SELECT event_date, count(*) AS unique_documents
    FROM (SELECT DISTINCT event_date, document_id FROM ev WHERE document_id IS NOT NULL)
    GROUP BY event_date
),
totals AS (
    SELECT e.event_date, e.total_events,
           coalesce(s.unique_sessions, 0) AS unique_sessions,
           coalesce(d.unique_documents, 0) AS unique_documents
    FROM events e
    LEFT JOIN sessions s ON s.event_date = e.event_date
    LEFT JOIN documents d ON d.event_date = e.event_date
),
hourly AS (
    SELECT event_date, utc_hour, count(*) AS events
    FROM ev
    WHERE utc_hour IS NOT NULL
    GROUP BY event_date, utc_hour
),
peak AS (
    SELECT event_date, utc_hour AS peak_hour, events AS peak_hour_events
    FROM (
        SELECT event_date, utc_hour, events,
               row_number() OVER (PARTITION BY event_date ORDER BY events DESC, utc_hour ASC) AS rn
        FROM hourly
    )
    WHERE rn = 1
),
days AS (
    SELECT event_date FROM {requested_dates} WHERE event_date IS NOT NULL
    UNION
    SELECT event_date FROM totals WHERE event_date IS NOT NULL
),
parsed AS (
    SELECT event_date, sum(parsed_rows) AS parsed_rows FROM {bronze_parsed_counts} GROUP BY event_date
)
SELECT d.event_date AS event_date,
       CAST(coalesce(t.total_events, 0) AS BIGINT) AS total_events,
       CAST(coalesce(t.unique_sessions, 0) AS BIGINT) AS unique_sessions,
       CAST(coalesce(t.unique_documents, 0) AS BIGINT) AS unique_documents,
       CAST(p.peak_hour AS INT) AS peak_hour,
       CAST(coalesce(p.peak_hour_events, 0) AS BIGINT) AS peak_hour_events,
       CAST(b.parsed_rows - coalesce(t.total_events, 0) AS BIGINT) AS duplicates_removed
FROM days d
LEFT JOIN totals t ON t.event_date = d.event_date
LEFT JOIN peak p ON p.event_date = d.event_date
LEFT JOIN parsed b ON b.event_date = d.event_date
""",
    "mart_session_analysis": """
SELECT session_id,
       event_date,
       CAST(count(*) AS BIGINT) AS click_count,
       CAST(count(DISTINCT document_id) AS BIGINT) AS unique_docs,
       min(event_ts) AS first_click_ts,
       max(event_ts) AS last_click_ts,
       CAST((unix_micros(max(event_ts)) - unix_micros(min(event_ts))) div 1000000 AS BIGINT) AS session_duration_sec
FROM {silver}
WHERE session_id IS NOT NULL AND event_date IS NOT NULL
GROUP BY session_id, event_date
""",
    "mart_clinical_areas": """
SELECT event_date,
       clinical_area,
       CAST(count(*) AS BIGINT) AS search_count,
       CAST(count(DISTINCT session_id) AS BIGINT) AS unique_sessions,
       CAST(count(DISTINCT document_id) AS BIGINT) AS unique_documents
FROM (
    SELECT event_date, session_id, document_id, area AS clinical_area
    FROM {silver}
    LATERAL VIEW explode(array_distinct(clinical_areas)) areas AS area
    WHERE event_date IS NOT NULL
)
WHERE clinical_area IS NOT NULL AND clinical_area <> ''
GROUP BY event_date, clinical_area
""",
    "mart_popular_documents": """
WITH ev AS (
    SELECT event_date, document_id, session_id, title,
           row_number() OVER (
               PARTITION BY event_date, document_id
               ORDER BY event_ts ASC NULLS LAST, kafka_timestamp ASC NULLS LAST,
                        kafka_partition ASC NULLS LAST, kafka_offset ASC NULLS LAST, dedup_key ASC NULLS LAST
           ) AS rn
    FROM {silver}
    WHERE document_id IS NOT NULL AND event_date IS NOT NULL
),
docs AS (
    SELECT event_date, document_id,
           max(CASE WHEN rn = 1 THEN title END) AS title,
           count(*) AS view_count,
           count(DISTINCT session_id) AS unique_sessions
    FROM ev
    GROUP BY event_date, document_id
)
SELECT event_date,
       document_id,
       title,
       CAST(view_count AS BIGINT) AS view_count,
       CAST(unique_sessions AS BIGINT) AS unique_sessions,
       CAST(row_number() OVER (PARTITION BY event_date ORDER BY view_count DESC, document_id ASC) AS INT) AS `rank`
FROM docs
""",
    "mart_session_anomalies": """
SELECT event_date,
       session_id,
       window_start,
       CAST(count(*) AS BIGINT) AS click_count,
       CASE WHEN count(*) >= {critical} THEN 'CRITICAL' ELSE 'WARNING' END AS severity
FROM (
    SELECT event_date, session_id,
           timestamp_micros(unix_micros(event_ts) - pmod(unix_micros(event_ts), {window})) AS window_start
    FROM {silver}
    WHERE session_id IS NOT NULL AND event_date IS NOT NULL AND event_ts IS NOT NULL
)
GROUP BY event_date, session_id, window_start
HAVING count(*) >= {warning}
""",
}


def spark_sql(
    table: str,
    *,
    silver: str = "silver",
    bronze_parsed_counts: str = "bronze_parsed_counts",
    requested_dates: str = "requested_dates",
) -> str:
    """Spark SQL computing ``table`` from the temp views (see the module docstring).

    The output columns are ``mart(table).column_names``, in that order (no loaded_at).
    """
    spec = mart(table)  # validates the name
    for view in (silver, bronze_parsed_counts, requested_dates):
        if not view.replace("_", "").isalnum():
            raise ValueError(f"invalid view name {view!r}")
    return _SQL[spec.name].format(
        silver=silver,
        bronze_parsed_counts=bronze_parsed_counts,
        requested_dates=requested_dates,
        hour=_MICROS_PER_HOUR,
        day=_MICROS_PER_DAY,
        window=_WINDOW_MICROS,
        warning=ANOMALY_WARNING_CLICKS,
        critical=ANOMALY_CRITICAL_CLICKS,
    ).strip()
