"""Per-server producer summaries merged into the per-day figures the asset records."""

from tripclick_assets.lib.kafka.producer_summary import merge_by_day


def server(name: str, sent: int, quarantined: int, partitions: dict) -> dict:
    return {"server": name, "days": [{
        "event_date": "2016-01-01", "lines": 100, "produced": sent, "sent": sent, "failed": 0,
        "quarantined": quarantined, "quarantine_failed": 0, "quarantine_reasons": {"bad json": quarantined},
        "partitions": partitions,
    }]}


def test_servers_reading_one_file_count_its_lines_once_and_add_up_what_they_sent():
    day = merge_by_day([
        server("server0", 58, 1, {"0": {"first": 10, "last": 90, "count": 30}, "1": {"first": 5, "last": 50, "count": 28}}),
        server("server1", 40, 1, {"0": {"first": 0, "last": 70, "count": 40}}),
    ])["2016-01-01"]
    assert (day["lines"], day["sent"], day["quarantined"]) == (100, 98, 2)
    assert day["servers"] == {"server0": 58, "server1": 40}
    assert day["quarantine_reasons"] == {"bad json": 2}
    assert day["offset_ranges"] == {"0": [0, 90], "1": [5, 50]}


def test_a_servers_local_processes_merge_into_one_day_summary():
    from tripclick_assets.lib.kafka.producer_summary import merge_day_parts

    def process(sent, partitions, errors):
        return {"event_date": "2016-01-01", "source_file": "/logs/2016-01-01.json", "lines": 100, "produced": sent,
                "sent": sent, "failed": 0, "quarantined": 1, "quarantine_delivered": 1, "quarantine_failed": 0,
                "quarantine_reasons": {"bad json": 1}, "skipped_other_servers": 40, "skipped_other_dates": 2,
                "partitions": partitions, "errors": errors}

    day = merge_day_parts([
        process(30, {"1": {"first": 5, "last": 50, "count": 20}, "0": {"first": 10, "last": 90, "count": 10}}, {}),
        process(28, {"0": {"first": 0, "last": 70, "count": 28}}, {"timeout": 2}),
    ])
    assert (day["lines"], day["sent"], day["quarantined"], day["skipped_other_dates"]) == (100, 58, 2, 4)
    assert day["skipped_other_servers"] == 40 and day["source_file"] == "/logs/2016-01-01.json"  # the first part's
    assert day["quarantine_reasons"] == {"bad json": 2} and day["errors"] == {"timeout": 2}
    assert day["partitions"] == {"0": {"first": 0, "last": 90, "count": 38}, "1": {"first": 5, "last": 50, "count": 20}}
    assert list(day["partitions"]) == ["0", "1"]
