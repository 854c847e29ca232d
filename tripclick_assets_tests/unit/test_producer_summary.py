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
