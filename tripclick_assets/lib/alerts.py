"""Run-failure alerts in Slack's incoming-webhook format (pure: standard library only)."""

from __future__ import annotations

import json
import urllib.request


def slack_failure_message(job_name: str, run_id: str, partition: str | None, error: str | None, ui_url: str | None) -> dict:
    where = f" for event_date {partition}" if partition else ""
    link = f"<{ui_url.rstrip('/')}/runs/{run_id}|{run_id[:8]}>" if ui_url else run_id[:8]
    text = f":red_circle: *{job_name}* failed{where} (run {link})"
    if error:
        text += f"\n```{error[:1500]}```"
    return {"text": text}


def post_webhook(url: str, payload: dict, timeout_s: float = 10.0) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - an operator-set URL
        return response.status
