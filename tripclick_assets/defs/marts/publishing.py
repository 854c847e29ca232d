"""Write, audit, publish for the marts: the Spark job loads a candidate schema, the mart rules
audit it, and all five marts of the run's days switch to it in one PostgreSQL transaction."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import dagster as dg

from tripclick_assets.defs.partition_checks import MART_AUDIT_RULES
from tripclick_assets.resources.lake import LakeResource
from tripclick_assets.resources.postgres import PostgresResource

# A candidate older than this belongs to a load that died; a live one is minutes old.
STALE_CANDIDATE_AGE = timedelta(hours=6)


@contextlib.contextmanager
def candidate_schema(context, postgres: PostgresResource):
    """A new candidate schema name for this step, dropped at the end unless it was published."""
    from tripclick_assets.lib.marts import postgres_load

    with postgres.connect() as conn:
        swept = postgres_load.sweep_candidates(conn, STALE_CANDIDATE_AGE)
    if swept:
        context.log.warning(f"dropped {len(swept)} candidate schema(s) left by earlier loads: {swept}")
    name = postgres_load.new_candidate_schema()
    try:
        yield name
    finally:
        with postgres.connect() as conn:
            postgres_load.drop_candidate(conn, name)  # a published candidate is already gone


def audit(context, lake: LakeResource, postgres: PostgresResource, candidate: str,
          days: list[str]) -> dict[str, dict[str, dict]]:
    """``{day: {rule: verdict metadata}}`` of the mart rules the candidate fails (empty: it passes)."""
    from psycopg import sql

    from tripclick_assets.defs.marts import checks  # noqa: F401  (registers the rules)

    tables = lake.tables()
    failures: dict[str, dict[str, dict]] = {}
    with postgres.connect() as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(candidate)))
        for name, rule in MART_AUDIT_RULES.items():
            for day in days:
                verdict = rule(context, day, tables, conn)
                if not verdict.passed and verdict.severity != "WARN":
                    failures.setdefault(day, {})[name] = {"description": verdict.description, **verdict.metadata}
    return failures


def audit_and_publish(context, lake: LakeResource, postgres: PostgresResource, candidate: str,
                      days: list[str]) -> dict[str, int]:
    """Publish the candidate's days of every mart in one transaction, if it passes every mart rule."""
    from tripclick_assets.lib.marts.postgres_load import publish_candidate

    failures = audit(context, lake, postgres, candidate, days)
    if failures:
        raise dg.Failure(
            description=f"marts candidate rejected by the mart checks for {sorted(failures)}; nothing was "
                        "published (every mart keeps its current rows of those days)",
            metadata={
                "rejected_partitions": dg.MetadataValue.json(sorted(failures)),
                "failed_rules": dg.MetadataValue.json(failures),
            },
            allow_retries=False,
        )
    with postgres.connect() as conn:
        return publish_candidate(conn, candidate, days)
