"""The marts' write-audit-publish: a candidate schema, the mart rules on it, one transaction for all five marts."""

import datetime as dt

import dagster as dg
import psycopg
import pytest

from tripclick_assets.defs.ingestion.assets import tripclick_raw_logs
from tripclick_assets.defs.lake.assets import bronze_events, silver_events
from tripclick_assets.defs.marts.assets import marts
from tripclick_assets.lib.marts.postgres_load import (
    CANDIDATE_PREFIX, create_candidate, ensure_schema, new_candidate_schema, publish_candidate, replace_partitions,
    sweep_candidates,
)
from tripclick_assets.lib.marts.tables import MART_TABLES
from tripclick_assets.resources.producers import SyntheticSource
from tripclick_assets.resources.spark import LocalSparkResource
from tripclick_assets_tests.defs_support import mart_checks
from tripclick_assets_tests.integration.lineage_support import lineage_resources

pytestmark = pytest.mark.slow
DAY = "2016-05-03"
ASSETS = [tripclick_raw_logs, bronze_events, silver_events, marts]


class CandidateCorruptingSpark(LocalSparkResource):
    """The real marts job, then one row of the candidate's sessions removed: a wrong candidate."""

    postgres_url: str

    def run_job(self, context, job, params):
        result = super().run_job(context, job, params)
        if job == "marts":
            with psycopg.connect(self.postgres_url, autocommit=True) as conn:
                conn.execute(f'DELETE FROM "{params.candidate_schema}".mart_session_analysis '
                             f'WHERE ctid = (SELECT min(ctid) FROM "{params.candidate_schema}".mart_session_analysis)')
        return result


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every mart's rows of DAY, loaded_at included."""
    with psycopg.connect(url) as conn:
        return {t.name: conn.execute(f"SELECT * FROM {t.name} WHERE event_date = %s ORDER BY 1, 2, 3", (DAY,)).fetchall()
                for t in MART_TABLES}


def candidates(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)",
                                           (CANDIDATE_PREFIX,)).fetchall()]


@pytest.fixture(scope="module")
def published(tmp_path_factory, broker, spark, postgres):
    """DAY through the whole lineage once; the tests then try to replace its marts."""
    tmp_path = tmp_path_factory.mktemp("marts_wap")
    resources = lineage_resources(tmp_path, broker, postgres, topic="marts_wap",
                                  synthetic=SyntheticSource(volume=1500, bot_sessions=1))
    with dg.instance_for_test() as instance:
        assert dg.materialize(ASSETS, resources=resources, instance=instance, partition_key=DAY).success
        before = snapshot(postgres.url)
        assert all(before.values())
        yield resources, instance, before


def test_a_candidate_that_fails_a_mart_rule_is_never_published(published, postgres):
    resources, instance, before = published
    corrupting = {**resources, "spark": CandidateCorruptingSpark(
        spark_config={"spark.sql.shuffle.partitions": "4"}, postgres_url=postgres.url)}
    result = dg.materialize(ASSETS, resources=corrupting, instance=instance, partition_key=DAY,
                            selection=dg.AssetSelection.assets(*marts.keys), raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.user_failure_data.description
    assert "candidate rejected by the mart checks" in message and DAY in message
    assert "session_clicks_match_silver" in str(failure.step_failure_data.user_failure_data.metadata)
    assert snapshot(postgres.url) == before  # every mart keeps its rows, loaded_at included
    assert candidates(postgres.url) == []


def test_every_mart_of_a_day_switches_in_one_transaction(published, postgres):
    """A failure while publishing the fourth mart leaves the first three untouched as well."""
    resources, instance, before = published
    fourth = MART_TABLES[3].name
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION refuse_publish() RETURNS trigger LANGUAGE plpgsql AS "
                     "$$ BEGIN RAISE EXCEPTION 'publishing refused by the test'; END $$")
        conn.execute(f"CREATE TRIGGER refuse_publish BEFORE INSERT ON {fourth} "
                     "FOR EACH STATEMENT EXECUTE FUNCTION refuse_publish()")
    try:
        result = dg.materialize(ASSETS, resources=resources, instance=instance, partition_key=DAY,
                                selection=dg.AssetSelection.assets(*marts.keys), raise_on_error=False)  # the step's retries fail the same way
        assert not result.success
        assert snapshot(postgres.url) == before
        assert candidates(postgres.url) == []
    finally:
        with psycopg.connect(postgres.url, autocommit=True) as conn:
            conn.execute(f"DROP TRIGGER refuse_publish ON {fourth}")
            conn.execute("DROP FUNCTION refuse_publish()")
    result = dg.materialize(ASSETS, resources=resources, instance=instance, partition_key=DAY,
                            selection=dg.AssetSelection.assets(*marts.keys))
    after = snapshot(postgres.url)
    assert {t: [r[:-1] for r in rows] for t, rows in after.items()} == \
        {t: [r[:-1] for r in rows] for t, rows in before.items()}  # same rows, loaded again
    loaded_at = {row[-1] for rows in after.values() for row in rows}
    assert len(loaded_at) == 1 and loaded_at != {row[-1] for rows in before.values() for row in rows}


def test_a_failing_mart_check_fails_the_run(published, postgres):
    """The mart checks are blocking: a published mart that disagrees with silver fails the run (and alerts).

    A row trigger bends mart_daily_traffic as it is published, after the candidate passed its audit
    (as a writer outside the pipeline would)."""
    resources, instance, before = published
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION bend_total() RETURNS trigger LANGUAGE plpgsql AS "
                     "$$ BEGIN NEW.total_events := NEW.total_events + 1; RETURN NEW; END $$")
        conn.execute("CREATE TRIGGER bend_total BEFORE INSERT ON mart_daily_traffic "
                     "FOR EACH ROW EXECUTE FUNCTION bend_total()")
    try:
        result = dg.materialize([*ASSETS, *mart_checks()], resources=resources, instance=instance, partition_key=DAY,
                                selection=dg.AssetSelection.assets(*marts.keys), raise_on_error=False)
        assert not result.success
        evaluations = {e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
                       for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
        assert evaluations["daily_total_matches_silver"] is False
        assert sum(evaluations.values()) == len(evaluations) - 1 == 4
    finally:
        with psycopg.connect(postgres.url, autocommit=True) as conn:
            conn.execute("DROP TRIGGER bend_total ON mart_daily_traffic")
            conn.execute("DROP FUNCTION bend_total()")
    assert dg.materialize(ASSETS, resources=resources, instance=instance, partition_key=DAY,
                          selection=dg.AssetSelection.assets(*marts.keys)).success


def test_sweep_drops_only_candidates_a_dead_load_left(postgres):
    now = dt.datetime.now(dt.timezone.utc)
    stale, live = new_candidate_schema(now - dt.timedelta(hours=7)), new_candidate_schema(now)
    with psycopg.connect(postgres.url) as conn:
        ensure_schema(conn)
        create_candidate(conn, stale)
        create_candidate(conn, live)
        assert sweep_candidates(conn, dt.timedelta(hours=6)) == [stale]
        assert stale not in candidates(postgres.url) and live in candidates(postgres.url)
        replace_partitions(conn, "mart_daily_traffic", ["2016-05-04"], [("2016-05-04", 1, 1, 1, 0, 1, 0)], live)
        assert publish_candidate(conn, live, ["2016-05-04"]) == {t.name: int(t.name == "mart_daily_traffic")
                                                                 for t in MART_TABLES}
    assert candidates(postgres.url) == []
