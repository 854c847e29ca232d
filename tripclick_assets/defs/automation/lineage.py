"""The daily lineage job and its 15:00 Asia/Seoul schedule: producers -> bronze -> silver -> marts, checks included."""

from datetime import timedelta, timezone

import dagster as dg


daily_lineage_job = dg.define_asset_job(
    name="tripclick_daily_lineage",
    description="Replays a day into Kafka and rebuilds bronze, silver and every mart for it, with their checks.",
    selection=dg.AssetSelection.all(),
    tags={"dagster/max_retries": "2", "dagster/retry_strategy": "FROM_FAILURE"},
)


def most_recent_complete_event_date(scheduled_time) -> str:
    """The last UTC day that has fully ended at ``scheduled_time``."""
    return (scheduled_time.astimezone(timezone.utc).date() - timedelta(days=1)).isoformat()


@dg.schedule(
    job=daily_lineage_job,
    cron_schedule="0 15 * * *",
    execution_timezone="Asia/Seoul",
    description="15:00 Asia/Seoul (06:00 UTC): materialize the lineage for the most recent complete event_date.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def daily_lineage_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = most_recent_complete_event_date(context.scheduled_execution_time)
    return dg.RunRequest(run_key=day, partition_key=day, tags={"tripclick/trigger": "schedule"})
