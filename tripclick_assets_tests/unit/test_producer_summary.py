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


def test_each_days_figures_account_for_every_line_per_server_and_say_when_the_day_is_synthetic():
    from tripclick_assets.defs.ingestion.assets import day_metadata
    from tripclick_assets.lib.quality.rules import lines_accounted_for

    def part(sent, quarantined, other_servers, other_dates):
        return {"event_date": "2016-01-01", "lines": 100, "produced": sent, "sent": sent, "failed": 0,
                "quarantined": quarantined, "quarantine_failed": 0,
                "quarantine_reasons": {"other_event_date": quarantined}, "skipped_other_servers": other_servers,
                "skipped_other_dates": other_dates, "partitions": {"0": {"first": 0, "last": sent, "count": sent}}}

    generated = {"2016-01-01": {"seed": 7, "volume": 95, "lines": 100, "duplicates": 3, "malformed": 2,
                                "bot_sessions": 1}}
    day = merge_by_day([
        {"server": "server0", "days": [part(55, 2, 42, 1)], "synthetic_days": generated},
        {"server": "server1", "days": [part(40, 1, 58, 1)]},
    ])["2016-01-01"]
    assert (day["lines"], day["produced"], day["quarantined"], day["other_days_lines"]) == (100, 95, 3, 2)
    assert day["other_servers_lines"] == 100  # each line skipped by the one server that does not own it
    assert day["by_server"]["server1"] == {"lines": 100, "produced": 40, "acknowledged": 40, "quarantined": 1,
                                           "other_servers_lines": 58, "other_days_lines": 1}
    assert day["synthetic"]["seed"] == 7
    metadata = day_metadata(day)
    assert (metadata["log_lines"], metadata["produced"], metadata["other_days_lines"]) == (100, 95, 2)
    assert metadata["synthetic"] is True and metadata["synthetic_seed"] == 7
    assert metadata["quarantine_reasons"].value == {"other_event_date": 3}
    figures = {k: getattr(v, "value", v) for k, v in metadata.items()}  # as the checks read them back
    assert lines_accounted_for(figures).passed
    assert "synthetic" not in day_metadata(merge_by_day([{"server": "s", "days": [part(99, 1, 0, 0)]}])["2016-01-01"])
