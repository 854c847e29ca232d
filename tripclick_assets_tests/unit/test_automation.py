"""The schedule picks the most recent complete UTC day; failures post Slack-format alerts."""

import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from zoneinfo import ZoneInfo

import dagster as dg

from tripclick_assets.defs.automation.lineage import daily_lineage_schedule, most_recent_complete_event_date
from tripclick_assets.lib.alerts import slack_failure_message
from tripclick_assets.resources.alerts import AlertsResource


def test_15_00_seoul_materializes_the_previous_utc_day():
    tick = datetime(2016, 1, 2, 15, 0, tzinfo=ZoneInfo("Asia/Seoul"))  # 06:00 UTC on Jan 2
    assert most_recent_complete_event_date(tick) == "2016-01-01"
    context = dg.build_schedule_context(scheduled_execution_time=tick)
    request = daily_lineage_schedule(context)
    assert request.partition_key == "2016-01-01" and request.run_key == "2016-01-01"


def test_just_after_midnight_seoul_is_still_two_utc_days_back():
    tick = datetime(2016, 1, 2, 0, 30, tzinfo=ZoneInfo("Asia/Seoul"))  # 15:30 UTC on Jan 1
    assert most_recent_complete_event_date(tick) == "2015-12-31"


def test_slack_message_names_job_partition_and_error():
    message = slack_failure_message("tripclick_daily_lineage", "abcdef123456", "2016-01-01", "boom", "http://ui")
    assert "tripclick_daily_lineage" in message["text"] and "2016-01-01" in message["text"]
    assert "<http://ui/runs/abcdef123456|abcdef12>" in message["text"] and "boom" in message["text"]


class _Capture(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Capture.received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_alert_posts_to_the_webhook_and_logs_without_one():
    server = HTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        log = dg.get_dagster_logger()
        url = f"http://127.0.0.1:{server.server_port}/hook"
        assert AlertsResource(webhook_url=url).notify_failure(
            log, job_name="tripclick_daily_lineage", run_id="r1234567890", partition="2016-01-01", error="bad"
        )
        content_type, payload = _Capture.received[-1]
        assert content_type == "application/json" and "tripclick_daily_lineage" in payload["text"]
        assert not AlertsResource().notify_failure(log, job_name="j", run_id="r", partition=None, error=None)
    finally:
        server.shutdown()
