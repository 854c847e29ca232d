"""The PostgreSQL marts end to end: hand-made silver Parquet -> Spark job -> real PostgreSQL.

Isolation: the ``postgres`` server is shared with other test files that create the marts in
the default schema, so every test here works in its own fresh schema (``mt_<hex>``), passed
to the job as ``postgres_schema`` and to the loader as ``schema=``; one test instead sets
``search_path`` through the URL (``options=-csearch_path%3D...``) and uses ``schema=None``.
The schemas are dropped at the end (the project code itself never drops anything).

Expected values come from the tests' plain-Python oracle (``expected_marts.mart_rows``) over the
fixture rows.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections import Counter
from urllib.parse import quote

import msgspec
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg import sql

from tripclick_assets.lib.marts.tables import MART_TABLES, ddl_statements, mart
from tripclick_assets.lib.marts.postgres_load import ensure_schema, replace_all, replace_partitions
from tripclick_assets.lib.spark.jobs import MartsParams, MartTableStats
from tripclick_assets.spark_jobs import marts as marts_job
from tripclick_assets_tests.expected_marts import mart_rows

UTC = dt.timezone.utc
D0 = dt.date(2015, 12, 31)  # "another date", loaded separately
D1 = dt.date(2016, 1, 1)
D2 = dt.date(2016, 1, 2)
D3 = dt.date(2016, 1, 3)  # requested, no silver events
PARSED = {D0: 6, D1: 0, D2: 0, D3: 4}  # D1/D2 filled in below: silver rows + duplicates
DUPLICATES = {D1: 3, D2: 7}


# --- fixture rows -----------------------------------------------------------------------------


def ts(day: dt.date, h: int, m: int, s: int = 0, ms: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, h, m, s, ms * 1000, tzinfo=UTC)


class Events:
    def __init__(self) -> None:
        self.rows: list[dict] = []
        self._offset = 0

    def add(self, at, session, doc, title="t", areas=(), kts=None, partition=0, offset=None):
        self._offset += 1
        self.rows.append({
            "event_date": at.date(),
            "event_ts": at,
            "session_id": session,
            "document_id": doc,
            "url": f"http://example.org/{doc}",
            "title": title,
            "doi": None,
            "clinical_areas": list(areas) if areas is not None else None,
            "keywords": None,
            "documents": [],
            "dedup_key": f"k{len(self.rows):06d}",
            "server": "server0",
            "source_file": "logs/x.json",
            "source_line": len(self.rows),
            "kafka_topic": "tripclick_raw_logs",
            "kafka_partition": partition,
            "kafka_offset": self._offset if offset is None else offset,
            "kafka_timestamp": kts if kts is not None else at + dt.timedelta(seconds=1),
            "ingested_at": at + dt.timedelta(minutes=1),
        })


def build_events() -> list[dict]:
    ev = Events()
    # A session spanning midnight UTC.
    ev.add(ts(D1, 23, 58, 30, 250), "s_midnight", 10, areas=["Cardiology"])
    ev.add(ts(D1, 23, 59, 10, 999), "s_midnight", 11, areas=["Cardiology", "Oncology"])
    ev.add(ts(D2, 0, 0, 5, 900), "s_midnight", 10, areas=["Cardiology"])
    ev.add(ts(D2, 0, 1, 0, 0), "s_midnight", 12, areas=None)
    # Document 1001 clicked by several sessions, its title changing over the day (out of order).
    ev.add(ts(D1, 11, 0), "s_c", 1001, title="Title C", areas=["Pediatrics"])
    ev.add(ts(D1, 9, 0), "s_a", 1001, title="Title A", areas=["Pediatrics", "Surgery"])
    ev.add(ts(D1, 10, 0), "s_b", 1001, title="Title B", areas=[])
    ev.add(ts(D1, 12, 0), "s_a", 1001, title="Title D")
    # Document 1002: equal event_ts, the lower kafka_timestamp wins.
    same = ts(D1, 8, 30, 15, 500)
    ev.add(same, "s_d", 1002, title="late kafka", kts=ts(D1, 8, 31))
    ev.add(same, "s_e", 1002, title="early kafka", kts=ts(D1, 8, 30, 59))
    # Document 1003: equal event_ts and kafka_timestamp; partition, then offset break the tie.
    same, kts = ts(D1, 7, 15), ts(D1, 7, 16)
    ev.add(same, "s_f", 1003, title="p2", kts=kts, partition=2, offset=1)
    ev.add(same, "s_g", 1003, title="p1 o9", kts=kts, partition=1, offset=9)
    ev.add(same, "s_h", 1003, title="p1 o5", kts=kts, partition=1, offset=5)
    # Documents with equal view counts: rank by document_id.
    for doc in (2002, 2001):
        ev.add(ts(D1, 13, 0), "s_i", doc, areas=["Neurology"])
        ev.add(ts(D1, 13, 5), "s_j", doc, areas=["Neurology"])
    # Peak-hour tie on D1: 49 clicks in 03:00-03:05 (one session, not flagged) and 49 in hour 20.
    for i in range(49):
        ev.add(ts(D1, 3, 0) + dt.timedelta(seconds=i * 6), "s_49", 3000 + i % 3)
    for i in range(49):
        ev.add(ts(D1, 20, 0) + dt.timedelta(seconds=i * 70), "s_spread", 4000 + i % 7)
    # D2 anomalies in clock-aligned 5-minute windows.
    start = ts(D2, 14, 5)
    for i in range(55):  # 14:05:00.000 .. 14:09:59.999 -> WARNING
        at = start + dt.timedelta(seconds=299, milliseconds=999) if i == 54 else start + dt.timedelta(seconds=i * 5)
        ev.add(at, "s_55", 5000 + i % 4, areas=["Endocrinology"])
    for i in range(120):  # 14:20 .. 14:24:59 -> CRITICAL
        ev.add(ts(D2, 14, 20) + dt.timedelta(milliseconds=i * 2490), "s_120", 6000 + i % 9)
    for i in range(50):  # exactly 50 -> WARNING
        ev.add(ts(D2, 16, 0) + dt.timedelta(seconds=i), "s_50", 7000)
    for i in range(100):  # exactly 100 -> CRITICAL
        ev.add(ts(D2, 17, 55) + dt.timedelta(seconds=i * 2), "s_100", 7001)
    for i in range(60):  # 60 clicks within 5 minutes but across a window boundary -> not flagged
        ev.add(ts(D2, 18, 3) + dt.timedelta(seconds=i * 4), "s_straddle", 7002)
    # Same session in two windows of 49 and 51: only the 51 window is flagged.
    for i in range(49):
        ev.add(ts(D2, 19, 0) + dt.timedelta(seconds=i), "s_two", 7003)
    for i in range(51):
        ev.add(ts(D2, 19, 5) + dt.timedelta(seconds=i), "s_two", 7003)
    return ev.rows


EVENTS = build_events()
PARSED.update({d: sum(1 for e in EVENTS if e["event_date"] == d) + DUPLICATES[d] for d in (D1, D2)})

SILVER_SCHEMA = pa.schema([
    ("event_date", pa.date32()),
    ("event_ts", pa.timestamp("us", tz="UTC")),
    ("session_id", pa.string()),
    ("document_id", pa.int64()),
    ("url", pa.string()),
    ("title", pa.string()),
    ("doi", pa.string()),
    ("clinical_areas", pa.list_(pa.string())),
    ("keywords", pa.string()),
    ("documents", pa.list_(pa.int64())),
    ("dedup_key", pa.string()),
    ("server", pa.string()),
    ("source_file", pa.string()),
    ("source_line", pa.int64()),
    ("kafka_topic", pa.string()),
    ("kafka_partition", pa.int32()),
    ("kafka_offset", pa.int64()),
    ("kafka_timestamp", pa.timestamp("us", tz="UTC")),
    ("ingested_at", pa.timestamp("us", tz="UTC")),
])


def write_silver(root, day: dt.date, rows: list[dict], with_date_column: bool = True) -> str:
    """One silver partition directory; without the event_date column, as partitionBy writes it."""
    directory = root / "silver" / f"event_date={day.isoformat()}"
    directory.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=SILVER_SCHEMA)
    if not with_date_column:
        table = table.drop_columns(["event_date"])
    # Two files, to read a directory of several parts.
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), directory / "part-00000.parquet")
    pq.write_table(table.slice(half), directory / "part-00001.parquet")
    (directory / "_SUCCESS").write_text("")
    return str(directory)


# --- expected values, plain Python --------------------------------------------------------------


def by_day(day):
    return [e for e in EVENTS if e["event_date"] == day]


def day_marts(day) -> dict[str, list[tuple]]:
    """The oracle's rows of ``day`` (tripclick_assets_tests/expected_marts.py) from the fixture's silver rows."""
    clicks = [{"session": e["session_id"], "doc": e["document_id"], "ts": e["event_ts"], "title": e["title"],
               "areas": e["clinical_areas"] or [],
               "tiebreak": (e["kafka_timestamp"], e["kafka_partition"], e["kafka_offset"])} for e in by_day(day)]
    return mart_rows(day, clicks, PARSED[day])


def expected_daily(day):
    (row,) = day_marts(day)["mart_daily_traffic"]
    return row


def expected_sessions(day):
    return day_marts(day)["mart_session_analysis"]


def expected_areas(day):
    return day_marts(day)["mart_clinical_areas"]


def expected_documents(day):
    return day_marts(day)["mart_popular_documents"]


def expected_anomalies(day):
    return day_marts(day)["mart_session_anomalies"]


# --- helpers ---------------------------------------------------------------------------------------


def fresh_schema() -> str:
    return f"mt_{uuid.uuid4().hex[:10]}"


def fetch(url, schema, table, day=None, with_loaded_at=False):
    spec = mart(table)
    cols = spec.column_names + (["loaded_at"] if with_loaded_at else [])
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(map(sql.Identifier, cols)), sql.Identifier(schema, table))
    params = ()
    if day is not None:
        query += sql.SQL(" WHERE event_date = %s")
        params = (day,)
    with psycopg.connect(url) as conn:
        rows = conn.execute(query, params).fetchall()
    key = [cols.index(c) for c in spec.primary_key]  # sorted here: independent of the server's collation
    return sorted(rows, key=lambda r: tuple(r[i] for i in key))


def snapshot(url, schema):
    return {t.name: fetch(url, schema, t.name, with_loaded_at=True) for t in MART_TABLES}


def strip_loaded_at(rows):
    return [r[:-1] for r in rows]


@pytest.fixture(scope="module")
def pg_url(postgres):
    return postgres.url


@pytest.fixture(scope="module")
def schemas(pg_url):
    """Schemas created by this module's tests, dropped at the end."""
    created: list[str] = []
    yield created
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for name in created:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def schema(schemas):
    name = fresh_schema()
    schemas.append(name)
    return name


@pytest.fixture(scope="module")
def loaded(spark, pg_url, schemas, tmp_path_factory):
    """One job run for D1, D2 (silver) and D3 (no silver), in a module schema."""
    root = tmp_path_factory.mktemp("marts_lake")
    paths = [
        write_silver(root, D1, by_day(D1), with_date_column=False),  # date from the path
        write_silver(root, D2, by_day(D2)),
    ]
    d0_path = write_silver(root, D0, [dict(e, event_date=D0, event_ts=e["event_ts"] - dt.timedelta(days=1))
                                      for e in by_day(D1)[:6]])
    name = fresh_schema()
    schemas.append(name)
    params = MartsParams(
        dates=[D1.isoformat(), D2.isoformat(), D3.isoformat()],
        silver_paths=paths,
        bronze_parsed_counts={d.isoformat(): n for d, n in PARSED.items() if d != D0},
        postgres_url=pg_url,
        postgres_schema=name,
    )
    started = time.monotonic()
    result = marts_job.run(spark, params)
    seconds = time.monotonic() - started
    return {"schema": name, "params": params, "result": result, "seconds": seconds, "d0_path": d0_path,
            "paths": paths}


# --- mart values -------------------------------------------------------------------------------------


def test_fixture_shape():
    """The fixture holds what the tests claim (guards against editing it by mistake)."""
    d1 = by_day(D1)
    assert expected_daily(D1)[4] == 3 and Counter(e["event_ts"].hour for e in d1)[20] == 49  # tie 3 vs 20
    assert {e["event_date"] for e in EVENTS if e["session_id"] == "s_midnight"} == {D1, D2}


def test_daily_traffic(loaded, pg_url):
    rows = fetch(pg_url, loaded["schema"], "mart_daily_traffic")
    assert rows == [expected_daily(D1), expected_daily(D2), expected_daily(D3)]
    assert rows[0][4] == 3  # ties to the earlier hour
    assert rows[0][6] == DUPLICATES[D1] and rows[1][6] == DUPLICATES[D2]


def test_zero_event_day(loaded, pg_url):
    assert fetch(pg_url, loaded["schema"], "mart_daily_traffic", D3) == [(D3, 0, 0, 0, None, 0, PARSED[D3])]
    for table in MART_TABLES[1:]:
        assert fetch(pg_url, loaded["schema"], table.name, D3) == [], table.name
    counts = loaded["result"].tables
    assert counts["mart_daily_traffic"].rows_by_date[D3.isoformat()] == 1
    assert all(counts[t.name].rows_by_date[D3.isoformat()] == 0 for t in MART_TABLES[1:])


def test_session_analysis(loaded, pg_url):
    rows = fetch(pg_url, loaded["schema"], "mart_session_analysis")
    assert rows == sorted(expected_sessions(D1) + expected_sessions(D2))
    midnight = {r[1]: r for r in rows if r[0] == "s_midnight"}
    assert midnight[D1][2:] == (2, 2, ts(D1, 23, 58, 30, 250), ts(D1, 23, 59, 10, 999), 40)  # 40.749 s floored
    assert midnight[D2][2:] == (2, 2, ts(D2, 0, 0, 5, 900), ts(D2, 0, 1), 54)


def test_clinical_areas(loaded, pg_url):
    rows = fetch(pg_url, loaded["schema"], "mart_clinical_areas")
    assert rows == expected_areas(D1) + expected_areas(D2)
    assert (D1, "Cardiology", 2, 1, 2) in rows and (D2, "Cardiology", 1, 1, 1) in rows


def test_popular_documents(loaded, pg_url):
    rows = fetch(pg_url, loaded["schema"], "mart_popular_documents")
    assert rows == expected_documents(D1) + expected_documents(D2)
    titles = {(r[0], r[1]): r[2] for r in rows}
    assert titles[(D1, 1001)] == "Title A"
    assert titles[(D1, 1002)] == "early kafka"
    assert titles[(D1, 1003)] == "p1 o5"
    ranks = {(r[0], r[1]): r[5] for r in rows}
    assert ranks[(D1, 2001)] + 1 == ranks[(D1, 2002)]
    for day in (D1, D2):
        day_ranks = sorted(r[5] for r in rows if r[0] == day)
        assert day_ranks == list(range(1, len(day_ranks) + 1))


def test_session_anomalies(loaded, pg_url):
    rows = fetch(pg_url, loaded["schema"], "mart_session_anomalies")
    assert rows == expected_anomalies(D1) + expected_anomalies(D2)
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [
        ("s_100", ts(D2, 17, 55), 100, "CRITICAL"),
        ("s_120", ts(D2, 14, 20), 120, "CRITICAL"),
        ("s_50", ts(D2, 16, 0), 50, "WARNING"),
        ("s_55", ts(D2, 14, 5), 55, "WARNING"),
        ("s_two", ts(D2, 19, 5), 51, "WARNING"),
    ]


def test_job_result(loaded):
    result = loaded["result"]
    assert result.dates == [D1.isoformat(), D2.isoformat(), D3.isoformat()]
    expected = {
        "mart_daily_traffic": [[expected_daily(d)] for d in (D1, D2, D3)],
        "mart_session_analysis": [expected_sessions(d) for d in (D1, D2, D3)],
        "mart_clinical_areas": [expected_areas(d) for d in (D1, D2, D3)],
        "mart_popular_documents": [expected_documents(d) for d in (D1, D2, D3)],
        "mart_session_anomalies": [expected_anomalies(d) for d in (D1, D2, D3)],
    }
    for table, per_day in expected.items():
        by_date = dict(zip((D1.isoformat(), D2.isoformat(), D3.isoformat()), map(len, per_day)))
        assert result.tables[table] == MartTableStats(rows=sum(by_date.values()), rows_by_date=by_date), table
    assert result.silver_rows == len(EVENTS)
    assert result.missing_bronze_counts == []
    assert result.timings["total_seconds"] > 0


def test_rerun_is_identical_and_leaves_other_dates(loaded, spark, pg_url):
    name = loaded["schema"]
    # Another date, loaded directly (one row per mart).
    start = ts(D0, 12, 0)
    other = {
        "mart_daily_traffic": [(D0, 5, 2, 2, 12, 5, 1)],
        "mart_session_analysis": [("s_d0", D0, 5, 2, start, start + dt.timedelta(seconds=9), 9)],
        "mart_clinical_areas": [(D0, "Oncology", 5, 2, 2)],
        "mart_popular_documents": [(D0, 1, "d0", 5, 2, 1)],
        "mart_session_anomalies": [(D0, "s_d0", start, 77, "WARNING")],
    }
    with psycopg.connect(pg_url) as conn:
        assert replace_all(conn, other, [D0], name) == {t: 1 for t in other}
    before = snapshot(pg_url, name)
    assert any(r[0] == D0 for r in before["mart_daily_traffic"])

    # Re-run D1..D3, with D0's silver among the paths: rows outside the dates are ignored.
    params = msgspec.structs.replace(loaded["params"], silver_paths=loaded["paths"] + [loaded["d0_path"]])
    again = marts_job.run(spark, params)
    assert again.tables == loaded["result"].tables
    after = snapshot(pg_url, name)
    for table in MART_TABLES:
        assert strip_loaded_at(after[table.name]) == strip_loaded_at(before[table.name]), table.name
        day_pos = table.column_names.index("event_date")
        old_d0 = [r for r in before[table.name] if r[day_pos] == D0]
        assert [r for r in after[table.name] if r[day_pos] == D0] == old_d0  # loaded_at too: untouched
        new = [r for r in after[table.name] if r[day_pos] != D0]
        old = {r[:-1]: r[-1] for r in before[table.name]}
        assert all(r[-1] > old[r[:-1]] for r in new), table.name  # reloaded
    assert strip_loaded_at([r for r in after["mart_session_analysis"] if r[1] == D0]) == other["mart_session_analysis"]


def test_empty_silver_paths(spark, pg_url, schema):
    result = marts_job.run(spark, MartsParams(dates=[D3.isoformat()], silver_paths=[], bronze_parsed_counts={},
                                              postgres_url=pg_url, postgres_schema=schema))
    assert result.missing_bronze_counts == [D3.isoformat()]
    # No parsed count given: duplicates_removed is unknown (NULL), not a made-up number.
    assert fetch(pg_url, schema, "mart_daily_traffic") == [(D3, 0, 0, 0, None, 0, None)]
    assert all(fetch(pg_url, schema, t.name) == [] for t in MART_TABLES[1:])


# --- schema management -------------------------------------------------------------------------------


def catalog(conn, schema):
    cols = conn.execute(
        "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns "
        "WHERE table_schema = %s ORDER BY table_name, ordinal_position", (schema,)).fetchall()
    idx = conn.execute("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %s ORDER BY 1, 2",
                       (schema,)).fetchall()
    comments = conn.execute(
        "SELECT c.relname, a.attname, d.description FROM pg_description d JOIN pg_class c ON c.oid = d.objoid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_attribute a ON a.attrelid = c.oid "
        "AND a.attnum = d.objsubid WHERE n.nspname = %s ORDER BY 1, 2", (schema,)).fetchall()
    oids = conn.execute("SELECT c.relname, c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE nspname = %s ORDER BY 1", (schema,)).fetchall()
    return cols, idx, comments, oids


def test_ensure_schema_twice_is_a_noop(pg_url, schema):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert ensure_schema(conn, schema) is True
        first = catalog(conn, schema)
        replace_partitions(conn, "mart_daily_traffic", [D1], [(D1, 1, 1, 1, 0, 1, 0)], schema)
        assert ensure_schema(conn, schema) is False
        assert catalog(conn, schema) == first
        cols = {(t, c) for t, c, *_ in first[0]}
        for table in MART_TABLES:
            assert {(table.name, c.name) for c in table.all_columns} <= cols
            pk = {r[0] for r in conn.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
                (f'"{schema}"."{table.name}"',)).fetchall()}
            assert pk == set(table.primary_key)
            if table.primary_key[0] != "event_date":  # otherwise the primary key index serves event_date
                assert any(t == table.name and "(event_date)" in d for t, _, d in first[1]), table.name
    assert fetch(pg_url, schema, "mart_daily_traffic") == [(D1, 1, 1, 1, 0, 1, 0)]
    assert not any("DROP" in s.upper() for s in ddl_statements(schema))


def test_ensure_schema_concurrently(pg_url, schema):
    errors, results = [], []
    barrier = threading.Barrier(3)

    def worker():
        try:
            with psycopg.connect(pg_url) as conn:
                barrier.wait()
                results.append(ensure_schema(conn, schema))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(results) == [False, False, True]


def test_older_table_gains_columns_and_keeps_rows(pg_url, schema):
    """An older mart_daily_traffic (fewer columns, no loaded_at) is migrated in place."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE TABLE {} (event_date date PRIMARY KEY, total_events bigint)").format(
            sql.Identifier(schema, "mart_daily_traffic")))
        conn.execute(sql.SQL("INSERT INTO {} VALUES (%s, 42)").format(sql.Identifier(schema, "mart_daily_traffic")),
                     (D0,))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert ensure_schema(conn, schema) is True
        old_oid = conn.execute("SELECT %s::regclass::oid", (f'"{schema}"."mart_daily_traffic"',)).fetchone()[0]
        rows = fetch(pg_url, schema, "mart_daily_traffic", with_loaded_at=True)
        assert len(rows) == 1 and rows[0][:7] == (D0, 42, None, None, None, None, None) and rows[0][7] is not None
        # A load of another date leaves the old row alone.
        replace_partitions(conn, "mart_daily_traffic", [D1], [(D1, 5, 2, 3, 7, 4, 1)], schema)
        assert ensure_schema(conn, schema) is False
        same_oid = conn.execute("SELECT %s::regclass::oid", (f'"{schema}"."mart_daily_traffic"',)).fetchone()[0]
    assert same_oid == old_oid  # never dropped and recreated
    assert fetch(pg_url, schema, "mart_daily_traffic") == [(D0, 42, None, None, None, None, None),
                                                          (D1, 5, 2, 3, 7, 4, 1)]


def test_search_path_from_url(pg_url, schema):
    """schema=None: unqualified names, resolved through the URL's search_path."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    sep = "&" if "?" in pg_url else "?"
    url = f"{pg_url}{sep}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(url) as conn:
        assert ensure_schema(conn) is True
        assert replace_partitions(conn, "mart_popular_documents", ["2016-01-01"],
                                  pa.table({"event_date": [D1], "document_id": [5], "title": ["x"],
                                            "view_count": [3], "unique_sessions": [2], "rank": [1],
                                            "extra": ["ignored"]})) == 1
    assert fetch(pg_url, schema, "mart_popular_documents") == [(D1, 5, "x", 3, 2, 1)]


# --- loading faults ----------------------------------------------------------------------------------


def session_rows(day, n, tag):
    base = ts(day, 0, 0)
    return [(f"{tag}{i:06d}", day, i % 7 + 1, 1, base, base + dt.timedelta(seconds=i % 100), i % 100)
            for i in range(n)]


def test_connection_killed_mid_copy_keeps_old_rows(pg_url, schema):
    table = "mart_session_analysis"
    old_rows = session_rows(D1, 500, "old")
    with psycopg.connect(pg_url) as conn:
        ensure_schema(conn, schema)
        replace_partitions(conn, table, [D1], old_rows, schema)
        replace_partitions(conn, table, [D2], session_rows(D2, 10, "other"), schema)
    before = fetch(pg_url, schema, table, with_loaded_at=True)

    loader = psycopg.connect(pg_url)
    pid = loader.info.backend_pid
    killed = []

    def rows():
        for i, row in enumerate(session_rows(D1, 20_000, "new")):
            if i == 10_000:
                with psycopg.connect(pg_url, autocommit=True) as admin:
                    killed.append(admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0])
                    deadline = time.monotonic() + 10
                    while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
                        assert time.monotonic() < deadline, "backend did not exit"
                        time.sleep(0.02)
            yield row

    with pytest.raises(psycopg.OperationalError):
        replace_partitions(loader, table, [D1], rows(), schema)
    assert killed == [True]
    assert loader.closed or loader.broken
    loader.close()
    assert fetch(pg_url, schema, table, with_loaded_at=True) == before

    # A retry on a new connection succeeds.
    new_rows = session_rows(D1, 20_000, "new")
    with psycopg.connect(pg_url) as conn:
        assert replace_partitions(conn, table, [D1], iter(new_rows), schema) == 20_000
    after = fetch(pg_url, schema, table)
    assert [r for r in after if r[1] == D1] == sorted(new_rows)
    assert [r for r in after if r[1] == D2] == strip_loaded_at([r for r in before if r[1] == D2])


def test_bad_rows_roll_back(pg_url, schema):
    table = "mart_daily_traffic"
    with psycopg.connect(pg_url) as conn:
        ensure_schema(conn, schema)
        replace_partitions(conn, table, [D1], [(D1, 1, 1, 1, 0, 1, 0)], schema)
        with pytest.raises(ValueError, match="outside the replaced dates"):
            replace_partitions(conn, table, [D1], [(D1, 2, 2, 2, 0, 2, 0), (D2, 2, 2, 2, 0, 2, 0)], schema)
        with pytest.raises(psycopg.errors.UniqueViolation):
            replace_partitions(conn, table, [D1], [(D1, 2, 2, 2, 0, 2, 0), (D1, 3, 3, 3, 0, 3, 0)], schema)
        with pytest.raises(ValueError, match="expected 7"):
            replace_partitions(conn, table, [D1], [(D1, 2)], schema)
        assert fetch(pg_url, schema, table) == [(D1, 1, 1, 1, 0, 1, 0)]
        # The connection is still usable.
        assert replace_partitions(conn, table, ["2016-01-01"], [(D1, 9, 9, 9, 1, 9, 0)], schema) == 1
    assert fetch(pg_url, schema, table) == [(D1, 9, 9, 9, 1, 9, 0)]


def test_concurrent_loads_of_one_partition_serialise(pg_url, schema):
    """Two loads of the same date overlap: the second waits for the first, then replaces its rows."""
    table = "mart_session_analysis"
    with psycopg.connect(pg_url) as conn:
        ensure_schema(conn, schema)
    first_in_copy = threading.Event()
    errors, written = [], {}

    def slow_rows():
        for i, row in enumerate(session_rows(D1, 200, "a")):
            if i == 100:
                first_in_copy.set()
                time.sleep(0.5)
            yield row

    def load(tag, rows):
        try:
            with psycopg.connect(pg_url) as conn:
                written[tag] = replace_partitions(conn, table, [D1], rows, schema)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    first = threading.Thread(target=load, args=("a", slow_rows()))
    first.start()
    assert first_in_copy.wait(10)
    # Same primary keys as "a" (a_000000...) so an unserialised load would hit a duplicate key.
    second = threading.Thread(target=load, args=("b", [(f"a{i:06d}", D1, 9, 9, ts(D1, 1, 0), ts(D1, 1, 0), 0)
                                                        for i in range(150)]))
    second.start()
    first.join(30)
    second.join(30)
    assert errors == []
    assert written == {"a": 200, "b": 150}
    rows = fetch(pg_url, schema, table)
    assert len(rows) == 150 and all(r[2] == 9 for r in rows)


def test_arrow_rows_load_exactly_through_csv(pg_url, schema):
    """A pyarrow table goes through COPY (FORMAT csv): awkward strings, NULL vs '', UTC timestamps."""
    titles = ['a "quoted", comma', "line\nbreak\r\nand \\ backslash", "", None, "Sjögren ☃", "NULL", "\\N"]
    docs = pa.table({"event_date": [D1] * len(titles), "document_id": list(range(len(titles))), "title": titles,
                     "view_count": [3] * len(titles), "unique_sessions": [2] * len(titles),
                     "rank": list(range(1, len(titles) + 1))})
    seoul = dt.timezone(dt.timedelta(hours=9))
    first = dt.datetime(2016, 1, 1, 0, 30, 0, 123456, tzinfo=UTC)
    last = dt.datetime(2016, 1, 1, 23, 59, 59, 999999, tzinfo=UTC)
    sessions = pa.table({
        "session_id": ["s1", "s2"], "event_date": [D1, D1], "click_count": [5, 1], "unique_docs": [2, 1],
        # The same instants given in another zone: they must land as the same UTC instants.
        "first_click_ts": pa.array([first, first.astimezone(seoul)], pa.timestamp("us", tz="Asia/Seoul")),
        "last_click_ts": pa.array([last, last], pa.timestamp("us", tz="UTC")),
        "session_duration_sec": [86_399, 0],
    })
    # A session time zone far from UTC: the loader must not depend on it.
    url = f"{pg_url}{'&' if '?' in pg_url else '?'}options={quote('-ctimezone=America/Los_Angeles')}"
    with psycopg.connect(url) as conn:
        ensure_schema(conn, schema)
        assert replace_partitions(conn, "mart_popular_documents", [D1], docs, schema) == len(titles)
        assert replace_partitions(conn, "mart_session_analysis", [D1], sessions, schema) == 2
        with pytest.raises(ValueError, match="outside the replaced dates"):
            replace_partitions(conn, "mart_session_analysis", [D2], sessions, schema)
    assert [r[2] for r in sorted(fetch(pg_url, schema, "mart_popular_documents"), key=lambda r: r[1])] == titles
    loaded = sorted(fetch(pg_url, schema, "mart_session_analysis"))
    assert [(r[4], r[5]) for r in loaded] == [(first, last), (first, last)]
    assert all(r[1] == D1 for r in loaded)  # the rejected D2 load left D1 alone
