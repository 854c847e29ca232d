"""Run-failure alerts: a Slack-format message to the webhook, or the run log when none is set."""

import dagster as dg

from tripclick_assets.resources.alerts import AlertsResource


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
