"""The daily lineage: producers -> bronze -> silver -> marts for one event_date, checks included."""

from datetime import timedelta, timezone

import dagster as dg

from tripclick_assets.resources.alerts import AlertsResource

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


@dg.run_failure_sensor(
    name="tripclick_run_failure_alert",
    description="Posts a Slack-format message to the alert webhook when a run fails (logs it when none is set).",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def run_failure_alert(context: dg.RunFailureSensorContext, alerts: AlertsResource) -> None:
    run = context.dagster_run
    alerts.notify_failure(
        context.log,
        job_name=run.job_name,
        run_id=run.run_id,
        partition=run.tags.get("dagster/partition"),
        error=context.failure_event.message if context.failure_event else None,
    )
