"""Loading the marts into PostgreSQL with psycopg 3 (pure: no Dagster, no Spark).

* :func:`ensure_schema` creates / migrates the mart tables (``lib.marts.ddl_statements``)
  in one transaction under an advisory lock, so two concurrent callers are safe. When the
  catalog already holds every table, column, index and comment it changes nothing (and
  takes no table lock), so it is cheap to call before every load.
* :func:`replace_partitions` replaces the rows of some ``event_date`` values of one mart
  in ONE transaction: ``DELETE ... WHERE event_date = ANY(dates)``, ``COPY ... FROM STDIN``,
  commit. Loads of the same table and date are serialised by a transaction-level advisory
  lock per (table, date), so two concurrent loads of one partition both succeed (the later
  wins) instead of one failing on the primary key. On any error (bad row, connection lost, server gone) the transaction is rolled
  back (or dies with the backend), so the old rows of those dates stay.
* :func:`replace_all` does that for several marts in one transaction.
* Write, audit, publish: :func:`create_candidate` makes an empty copy of the marts in a new
  schema (:func:`new_candidate_schema`), the load fills it, the caller audits it with the
  same queries as the published marts (``search_path`` set to the candidate), and
  :func:`publish_candidate` replaces the dates of all five marts from it in ONE transaction.
  A rejected candidate is dropped (:func:`drop_candidate`); one a crash left behind is
  removed by :func:`sweep_candidates`.

Schema: every function takes ``schema``. ``None`` (the default) uses unqualified names,
resolved through the connection's ``search_path`` (``public`` by default; a URL may set it
with ``?options=-csearch_path%3Dmyschema``); a name qualifies every table and
:func:`ensure_schema` creates that schema if missing.

Connections must not have a transaction open when passed in (autocommit or idle); each
function opens and commits its own transaction(s).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from tripclick_assets.lib.marts.tables import LOADED_AT, MART_TABLES, ddl_statements, mart

__all__ = [
    "CANDIDATE_PREFIX", "DDL_LOCK_KEY", "create_candidate", "drop_candidate", "ensure_schema", "new_candidate_schema",
    "publish_candidate", "replace_all", "replace_partitions", "schema_is_current", "sweep_candidates",
]

# pg_advisory_xact_lock key serialising mart DDL across processes ("tripmart" in ASCII).
DDL_LOCK_KEY = 0x747269706D617274


def _table_ident(table: str, schema: str | None) -> sql.Composable:
    return sql.Identifier(schema, table) if schema else sql.Identifier(table)


def _require_idle(conn: psycopg.Connection) -> None:
    status = conn.info.transaction_status
    if status != TransactionStatus.IDLE:
        raise psycopg.ProgrammingError(
            f"the connection has a transaction in progress ({status.name}); commit or roll back first"
        )


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


# --- schema --------------------------------------------------------------------------------


def schema_is_current(conn: psycopg.Connection, schema: str | None = None) -> bool:
    """Whether every mart table, column, event_date index and comment already exists as specified."""
    for table in MART_TABLES:
        row = conn.execute(
            "SELECT c.oid, obj_description(c.oid, 'pg_class') FROM pg_class c WHERE c.oid = to_regclass(%s)",
            (_table_ident(table.name, schema).as_string(conn),),
        ).fetchone()
        if row is None or row[0] is None or row[1] != table.comment:
            return False
        oid = row[0]
        columns = dict(
            conn.execute(
                "SELECT attname, col_description(attrelid, attnum) FROM pg_attribute "
                "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped",
                (oid,),
            ).fetchall()
        )
        for col in table.all_columns:
            if col.name not in columns or columns[col.name] != col.comment:
                return False
        if table.event_date_index:
            found = conn.execute(
                "SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
                "WHERE i.indrelid = %s AND ic.relname = %s",
                (oid, table.event_date_index),
            ).fetchone()
            if not found:
                return False
    return True


def ensure_schema(conn: psycopg.Connection, schema: str | None = None) -> bool:
    """Create or migrate the mart tables; returns True when DDL ran, False when already current.

    One transaction holding ``pg_advisory_xact_lock(DDL_LOCK_KEY)``, so concurrent callers
    run one after the other (the second then finds the schema current). Never drops.
    """
    _require_idle(conn)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK_KEY,))
        if schema_is_current(conn, schema):
            return False
        for statement in ddl_statements(schema):
            conn.execute(statement)
    return True


# --- loading -------------------------------------------------------------------------------


def _is_arrow(rows: Any) -> bool:
    return hasattr(rows, "schema") and hasattr(rows, "num_rows") and hasattr(rows, "column")


def _arrow_csv_chunks(table_name: str, rows: Any, columns: Sequence[str], dates: list[dt.date], loaded_at,
                      chunk_rows: int = 50_000) -> Iterator[tuple[bytes, int]]:
    """A pyarrow Table / RecordBatch as CSV for ``COPY ... (FORMAT csv)``, validated first.

    pyarrow's writer quotes every string and leaves nulls unquoted and empty, which is what
    PostgreSQL's CSV format reads as '' and NULL; the formatting runs in C++, not one Python
    ``write_row`` per row. Timestamps are written as UTC wall-clock time without a zone
    (pyarrow formats zoned ones far more slowly); the caller's transaction sets ``TimeZone``
    to UTC so PostgreSQL reads them as UTC.
    """
    import io

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    missing = [c for c in columns if c not in rows.schema.names]
    if missing:
        raise ValueError(f"pyarrow rows lack columns {missing}")
    table = pa.Table.from_batches([rows]) if isinstance(rows, pa.RecordBatch) else rows
    table = table.select(list(columns))
    event_dates = table.column("event_date").cast(pa.date32())
    outside = pc.invert(pc.fill_null(pc.is_in(event_dates, value_set=pa.array(dates, pa.date32())), False))
    if pc.any(outside).as_py():
        bad = event_dates.filter(outside)[0].as_py()
        raise ValueError(f"{table_name}: row for event_date {bad!r} is outside the replaced dates")
    stamp = pa.nulls(table.num_rows, pa.timestamp("us", tz="UTC")).fill_null(loaded_at)
    table = table.append_column(LOADED_AT, stamp)
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            utc = pc.cast(table.column(i), pa.timestamp(field.type.unit, tz="UTC"))
            table = table.set_column(i, field.name, utc.cast(pa.timestamp(field.type.unit)))
    options = pacsv.WriteOptions(include_header=False)
    for offset in range(0, table.num_rows, chunk_rows):
        part = table.slice(offset, chunk_rows)
        buffer = io.BytesIO()
        pacsv.write_csv(part, buffer, options)
        yield buffer.getvalue(), part.num_rows


def _lock_partitions(conn: psycopg.Connection, target: sql.Composable, date_list: list[dt.date]) -> None:
    # Concurrent loads of the same table and date wait for each other (in date order, so no
    # deadlock) instead of failing on the primary key: the later one then replaces the
    # earlier one's rows. Loads of other dates do not wait.
    for day in date_list:
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s::regclass::oid::text || '|' || %s::text, 0))",
            (target.as_string(conn), day),
        )


def _replace_in_transaction(conn: psycopg.Connection, table: str, date_list: list[dt.date], rows: Any,
                            schema: str | None) -> int:
    spec = mart(table)
    columns = spec.column_names
    date_set = set(date_list)
    date_pos = columns.index("event_date")
    width = len(columns)
    target = _table_ident(spec.name, schema)
    written = 0
    _lock_partitions(conn, target, date_list)
    loaded_at = conn.execute("SELECT now()").fetchone()[0]
    conn.execute(
        sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(target, sql.Identifier("event_date")),
        (date_list,),
    )
    column_list = sql.SQL(", ").join(sql.Identifier(c) for c in [*columns, LOADED_AT])
    with conn.cursor() as cur:
        if _is_arrow(rows):
            conn.execute("SET LOCAL TimeZone = 'UTC'")  # the CSV's timestamps are UTC without a zone
            copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(target, column_list)
            with cur.copy(copy_sql) as copy:
                for chunk, count in _arrow_csv_chunks(spec.name, rows, columns, date_list, loaded_at):
                    copy.write(chunk)
                    written += count
        else:
            copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(target, column_list)
            with cur.copy(copy_sql) as copy:
                for row in rows:
                    if len(row) != width:
                        raise ValueError(
                            f"{spec.name}: row has {len(row)} values, expected {width} ({', '.join(columns)})")
                    day = row[date_pos]
                    if day is None or _as_date(day) not in date_set:
                        raise ValueError(f"{spec.name}: row for event_date {day!r} is outside the replaced dates")
                    copy.write_row((*row, loaded_at))
                    written += 1
    return written


def replace_partitions(
    conn: psycopg.Connection,
    table: str,
    dates: Iterable[Any],
    rows: Any,
    schema: str | None = None,
) -> int:
    """Replace the rows of ``dates`` in mart ``table`` in one transaction; returns the rows written.

    ``dates``: ``datetime.date`` or ``"YYYY-MM-DD"`` values. ``rows``: an iterable of tuples
    in ``mart(table).column_names`` order (loaded_at excluded: it is set to the
    transaction's ``now()``), or a pyarrow Table / RecordBatch with those column names
    (extra columns are ignored). Every row's event_date must be one of ``dates``, otherwise
    ValueError and nothing changes. Any error rolls the transaction back: the old rows stay.
    """
    date_list = sorted({_as_date(d) for d in dates})
    _require_idle(conn)
    with conn.transaction():
        return _replace_in_transaction(conn, table, date_list, rows, schema)


def replace_all(
    conn: psycopg.Connection,
    tables_rows: Mapping[str, Any],
    dates: Iterable[Any],
    schema: str | None = None,
) -> dict[str, int]:
    """:func:`replace_partitions` for each ``{table: rows}``, all in ONE transaction.

    Tables are loaded in ``MART_TABLES`` order; returns ``{table: rows written}``. Readers see
    every table's old rows of those dates or every table's new rows, never a mix; a failure
    anywhere keeps every table's old rows.
    """
    date_list = sorted({_as_date(d) for d in dates})
    for name in tables_rows:
        mart(name)  # fail before loading anything on an unknown table
    order = [t.name for t in MART_TABLES if t.name in tables_rows]
    _require_idle(conn)
    with conn.transaction():
        return {name: _replace_in_transaction(conn, name, date_list, tables_rows[name], schema) for name in order}


# --- candidates: write, audit, publish ------------------------------------------------------

CANDIDATE_PREFIX = "tripclick_candidate_"
_CANDIDATE_STAMP = "%Y%m%dT%H%M%S"


def new_candidate_schema(now: dt.datetime | None = None) -> str:
    """A fresh schema name for one load's candidate tables; it carries its UTC creation time."""
    now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    return f"{CANDIDATE_PREFIX}{now.strftime(_CANDIDATE_STAMP)}_{uuid.uuid4().hex[:8]}"


def candidate_created_at(name: str) -> dt.datetime | None:
    if not name.startswith(CANDIDATE_PREFIX):
        return None
    try:
        stamp = name[len(CANDIDATE_PREFIX):].split("_", 1)[0]
        return dt.datetime.strptime(stamp, _CANDIDATE_STAMP).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None


def create_candidate(conn: psycopg.Connection, candidate: str, schema: str | None = None) -> None:
    """An empty schema ``candidate`` with an UNLOGGED copy of every mart table's definition.

    The marts themselves must exist (:func:`ensure_schema` first). Unlogged: a candidate is
    rebuilt from silver, never recovered, so it skips the write-ahead log.
    """
    if not candidate.startswith(CANDIDATE_PREFIX):
        raise ValueError(f"candidate schema {candidate!r} must start with {CANDIDATE_PREFIX!r}")
    _require_idle(conn)
    with conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(candidate)))
        for table in MART_TABLES:
            conn.execute(sql.SQL("CREATE UNLOGGED TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
                                 "INCLUDING INDEXES)").format(
                sql.Identifier(candidate, table.name), _table_ident(table.name, schema)))


def publish_candidate(
    conn: psycopg.Connection, candidate: str, dates: Iterable[Any], schema: str | None = None,
) -> dict[str, int]:
    """Replace ``dates`` of every mart by the candidate's rows in ONE transaction; drops the candidate.

    Readers see all five marts of those dates old or all new. ``loaded_at`` becomes the
    publishing transaction's time. Returns ``{table: rows published}``.
    """
    date_list = sorted({_as_date(d) for d in dates})
    _require_idle(conn)
    published = {}
    with conn.transaction():
        for table in MART_TABLES:
            target = _table_ident(table.name, schema)
            _lock_partitions(conn, target, date_list)
            conn.execute(sql.SQL("DELETE FROM {} WHERE event_date = ANY(%s)").format(target), (date_list,))
            columns = sql.SQL(", ").join(sql.Identifier(c) for c in table.column_names)
            cursor = conn.execute(
                sql.SQL("INSERT INTO {target} ({columns}, {loaded_at}) SELECT {columns}, now() FROM {source} "
                        "WHERE event_date = ANY(%s)").format(
                    target=target, columns=columns, loaded_at=sql.Identifier(LOADED_AT),
                    source=sql.Identifier(candidate, table.name)),
                (date_list,))
            published[table.name] = cursor.rowcount
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(candidate)))
    return published


def drop_candidate(conn: psycopg.Connection, candidate: str) -> None:
    if not candidate.startswith(CANDIDATE_PREFIX):
        raise ValueError(f"{candidate!r} is not a candidate schema")
    _require_idle(conn)
    with conn.transaction():
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(candidate)))


def sweep_candidates(conn: psycopg.Connection, older_than: dt.timedelta, now: dt.datetime | None = None) -> list[str]:
    """Drop the candidates a crashed load left behind (created more than ``older_than`` ago)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    _require_idle(conn)
    with conn.transaction():
        names = [row[0] for row in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", (CANDIDATE_PREFIX,)).fetchall()]
    stale = [n for n in names if (created := candidate_created_at(n)) is not None and now - created > older_than]
    for name in stale:
        drop_candidate(conn, name)
    return stale
