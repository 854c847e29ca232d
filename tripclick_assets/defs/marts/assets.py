"""The PostgreSQL marts: one asset per table, built together from silver by one Spark job."""

from datetime import timedelta

import dagster as dg

from tripclick_assets.defs.keys import MARTS, SILVER
from tripclick_assets.defs.marts.publishing import audit_and_publish, candidate_schema
from tripclick_assets.defs.metadata import add_per_partition, latest_partition_metadata
from tripclick_assets.defs.retries import IO_RETRY
from tripclick_assets.defs.partitions import event_date_partitions, range_backfill
from tripclick_assets.lib.lake.reads import partition_files, read_partition
from tripclick_assets.lib.marts.tables import MART_TABLES
from tripclick_assets.lib.marts.previews import area_shares_markdown, top_documents_markdown
from tripclick_assets.lib.quality.rules import parsed_rows
from tripclick_assets.resources.lake import LakeResource
from tripclick_assets.resources.postgres import PostgresResource
from tripclick_assets.resources.spark import SparkResource


# The seeds' daily load finishes by 18:00 Asia/Seoul: each mart must have been refreshed
# within the 24 hours before every 18:00 deadline.
MART_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="0 18 * * *", lower_bound_delta=timedelta(hours=24), timezone="Asia/Seoul"
)


def _spec(table) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=MARTS[table.name],
        deps=[SILVER],
        description=table.comment,
        group_name="marts",
        kinds={"postgres", "spark"},
        partitions_def=event_date_partitions,
        metadata={"table": table.name, "primary_key": ", ".join(table.primary_key)},
        freshness_policy=MART_FRESHNESS,
    )


@dg.multi_asset(
    specs=[_spec(table) for table in MART_TABLES],
    name="marts",
    backfill_policy=range_backfill,
    retry_policy=IO_RETRY,
)
def marts(context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource, postgres: PostgresResource):
    """Rebuilds the day's rows of every mart from silver; audited, all five marts switch in one transaction."""
    tables = lake.tables()
    store = tables.lake
    days = list(context.partition_keys)
    silver_paths, parsed_counts = [], {}
    for day in days:  # Spark reads the files of silver's current snapshot: its scan plan
        silver_paths += [store.spark_uri(f) for f in partition_files(tables, "silver", day)]
        # the rows silver rejected are not duplicates: mart_daily_traffic.duplicates_removed leaves them out
        rejected = (latest_partition_metadata(context.instance, SILVER, day) or {}).get("rejected_rows", 0)
        parsed_counts[day] = parsed_rows(read_partition(tables, "bronze", day, ["parse_error"])) - rejected
    from tripclick_assets.lib.spark.jobs import MartsParams  # msgspec: loaded when a step runs, not at code-server load
    with candidate_schema(context, postgres) as candidate:
        result = spark.run_job(context, "marts", MartsParams(
            dates=days,
            silver_paths=silver_paths,
            bronze_parsed_counts=parsed_counts,
            postgres_url=postgres.url,
            candidate_schema=candidate,
        ))
        published = audit_and_publish(context, lake, postgres, candidate, days)
    context.log.info(f"marts: published {days[0]}..{days[-1]} of every mart in one transaction: {published}")
    previews = mart_previews(postgres, days)
    for table in MART_TABLES:
        stats = result.tables[table.name]
        add_per_partition(
            context,
            {day: {"dagster/row_count": n, **previews.get((table.name, day), {})} for day, n in stats.rows_by_date.items()},
            asset_key=MARTS[table.name],
        )
        yield dg.MaterializeResult(asset_key=MARTS[table.name], metadata={
            "table": table.name,
            "rows_written": stats.rows,
            "load_seconds": result.timings.get(f"load_{table.name}_seconds", 0.0),
        })


def mart_previews(postgres: PostgresResource, days: list[str]) -> dict:
    """Per-day Markdown previews: the top documents and the clinical-area shares."""
    previews = {}
    with postgres.connect() as conn:
        for day in days:
            top = conn.execute(
                "SELECT rank, document_id, title, view_count, unique_sessions FROM mart_popular_documents "
                "WHERE event_date = %s ORDER BY rank LIMIT 10", (day,)).fetchall()
            areas = conn.execute(
                "SELECT clinical_area, search_count FROM mart_clinical_areas WHERE event_date = %s "
                "ORDER BY search_count DESC, clinical_area", (day,)).fetchall()
            previews[("mart_popular_documents", day)] = {"preview": dg.MetadataValue.md(top_documents_markdown(top))}
            previews[("mart_clinical_areas", day)] = {"preview": dg.MetadataValue.md(area_shares_markdown(areas))}
    return previews
