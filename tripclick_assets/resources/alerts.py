"""Where run-failure alerts go: a Slack-compatible webhook, or the Dagster log when none is set."""

import dagster as dg


class AlertsResource(dg.ConfigurableResource):
    """Alert channel; the webhook URL is a secret, so it comes from an EnvVar."""

    webhook_url: str | None = None
    ui_url: str | None = None

    def notify_failure(self, log, *, job_name: str, run_id: str, partition: str | None, error: str | None) -> bool:
        from tripclick_assets.lib.alerts import post_webhook, slack_failure_message

        payload = slack_failure_message(job_name, run_id, partition, error, self.ui_url)
        if not self.webhook_url:
            log.warning(f"no alert webhook configured (TRIPCLICK_ALERT_WEBHOOK_URL): {payload['text']}")
            return False
        status = post_webhook(self.webhook_url, payload)
        log.info(f"alert for run {run_id} posted to the webhook (HTTP {status})")
        return True
