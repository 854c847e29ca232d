"""Each mart reconciles with silver for every event_date partition."""

from collections import Counter

import dagster as dg

from tripclick_assets.defs.keys import MARTS
from tripclick_assets.defs.partition_checks import mart_check
from tripclick_assets.lib.lake.reads import partition_rows, read_partition
from tripclick_assets.lib.quality import rules as quality


def _scalar(connection, query: str, day: str):
    return connection.execute(query, (day,)).fetchone()[0]


def _silver_rows(lake, day: str) -> int:
    return partition_rows(lake, "silver", day)


@mart_check(asset=MARTS["mart_daily_traffic"], name="daily_total_matches_silver",
            description="mart_daily_traffic.total_events equals the day's silver rows (and the day has its row).")
def daily_total_matches_silver(context, day, lake, connection):
    total = _scalar(connection, "SELECT coalesce(max(total_events), -1) FROM mart_daily_traffic WHERE event_date = %s", day)
    return quality.counts_equal("total_events", total, "silver_rows", _silver_rows(lake, day))


@mart_check(asset=MARTS["mart_session_analysis"], name="session_clicks_match_silver",
            description="The sum of click_count over the day's sessions equals the day's silver rows.")
def session_clicks_match_silver(context, day, lake, connection):
    clicks = _scalar(connection, "SELECT coalesce(sum(click_count), 0) FROM mart_session_analysis WHERE event_date = %s", day)
    return quality.counts_equal("sum_click_count", int(clicks), "silver_rows", _silver_rows(lake, day))


@mart_check(asset=MARTS["mart_popular_documents"], name="document_views_match_silver",
            description="The sum of view_count over the day's documents equals the day's silver rows.")
def document_views_match_silver(context, day, lake, connection):
    views = _scalar(connection, "SELECT coalesce(sum(view_count), 0) FROM mart_popular_documents WHERE event_date = %s", day)
    return quality.counts_equal("sum_view_count", int(views), "silver_rows", _silver_rows(lake, day))


@mart_check(asset=MARTS["mart_clinical_areas"], name="area_counts_match_silver",
            description="Each area's search_count equals the number of the day's silver events carrying it.")
def area_counts_match_silver(context, day, lake, connection):
    rows = connection.execute(
        "SELECT clinical_area, search_count FROM mart_clinical_areas WHERE event_date = %s", (day,)
    ).fetchall()
    expected = quality.area_counts(read_partition(lake, "silver", day, ["clinical_areas"]))
    return quality.mapping_equal("areas", dict(Counter({a: int(n) for a, n in rows})), dict(expected))


@mart_check(asset=MARTS["mart_session_anomalies"], name="anomalies_match_silver",
            description="The flagged (session, 5-minute window) pairs are exactly silver's windows with >= 50 clicks.")
def anomalies_match_silver(context, day, lake, connection):
    rows = connection.execute(
        "SELECT session_id, extract(epoch FROM window_start)::bigint, click_count FROM mart_session_anomalies "
        "WHERE event_date = %s", (day,)).fetchall()
    silver = read_partition(lake, "silver", day, ["session_id", "event_ts"])
    expected = quality.anomaly_windows(silver)
    return quality.mapping_equal("anomalous windows", {(s, w): n for s, w, n in rows}, expected)

