"""Bronze's delivery accounting (pure): acknowledged events found, repeats told from missing and unexpected."""

import pyarrow as pa

from tripclick_assets.lib.quality.rules import delivery_figures, deliveries_match


def bronze(rows: list[tuple]) -> pa.Table:
    """Rows of (kafka_partition, source_file, source_line, dedup_key, parse_error), as bronze reads them."""
    partition, source_file, line, key, error = zip(*rows) if rows else ((),) * 5
    return pa.table({
        "kafka_partition": pa.array(partition, pa.int32()), "source_file": pa.array(source_file, pa.large_string()),
        "source_line": pa.array(line, pa.int64()), "dedup_key": pa.array(key, pa.large_string()),
        "parse_error": pa.array(error, pa.string()),
    })


DAY = "2016-01-01.json"
ROWS = [(0, DAY, 1, "a", None), (0, DAY, 2, "b", None), (1, DAY, 3, "c", None), (1, DAY, 4, "c", None),  # 4: a source duplicate
        (2, DAY, 5, "d", None), (2, None, None, None, "invalid JSON: ...")]
PRODUCED = {"acknowledged": 5, "acknowledged_by_partition": {"0": 2, "1": 2, "2": 1}}


def test_every_acknowledged_event_once_passes_and_a_line_repeated_in_the_source_is_two_events():
    figures = delivery_figures(bronze(ROWS))
    assert figures == {"parsed_rows": 5, "events": 5, "repeated_deliveries": 0, "by_partition": {
        "0": {"rows": 2, "events": 2}, "1": {"rows": 2, "events": 2}, "2": {"rows": 1, "events": 1}}}
    verdict = deliveries_match(figures, PRODUCED)
    assert verdict.passed and verdict.description == "parsed bronze rows 5 = 5 acknowledged events"


def test_the_same_event_delivered_again_warns_with_the_count():
    figures = delivery_figures(bronze(ROWS + [(0, DAY, 1, "a", None), (0, DAY, 1, "a", None), (2, DAY, 5, "d", None)]))
    verdict = deliveries_match(figures, PRODUCED)
    assert (verdict.passed, verdict.severity) == (False, "WARN")
    assert verdict.metadata["repeated_deliveries"] == 3 and verdict.metadata["parsed_bronze_rows"] == 8
    assert "parsed bronze rows 8 = 5 acknowledged events + 3 repeated deliveries" in verdict.description


def test_a_missing_event_fails_even_when_a_repeat_makes_up_the_row_count():
    rows = [r for r in ROWS if r[2] != 2] + [(0, DAY, 1, "a", None)]  # line 2 lost, line 1 twice: still 5 rows
    verdict = deliveries_match(delivery_figures(bronze(rows)), PRODUCED)
    assert (verdict.passed, verdict.severity) == (False, "ERROR")
    assert verdict.metadata["missing_events"] == 1 and verdict.metadata["unexpected_events"] == 0
    assert "partition 0: 1 events for 2 acknowledged" in verdict.description
    assert "Re-materialize the producer step (tripclick_raw_logs) for the day" in verdict.description


def test_an_event_the_producer_did_not_acknowledge_fails_as_unexpected():
    for extra in [(1, DAY, 9, "z", None),           # another line
                  (1, DAY, 3, "other", None),       # the same line with other content (the file changed)
                  (7, DAY, 10, "y", None)]:         # a partition the producer never wrote
        verdict = deliveries_match(delivery_figures(bronze(ROWS + [extra])), PRODUCED)
        assert (verdict.passed, verdict.severity, verdict.metadata["unexpected_events"]) == (False, "ERROR", 1), extra


def test_older_producer_metadata_without_per_partition_counts_is_compared_for_the_day():
    figures = delivery_figures(bronze(ROWS + [(0, DAY, 1, "a", None)]))
    verdict = deliveries_match(figures, {"acknowledged": 5})
    assert (verdict.passed, verdict.severity, verdict.metadata["repeated_deliveries"]) == (False, "WARN", 1)
    assert not deliveries_match(figures, {"acknowledged": 6}).passed
    assert deliveries_match(figures, {"acknowledged": 6}).severity == "ERROR"


def test_no_producer_metadata_fails_and_says_to_materialize_the_producer():
    verdict = deliveries_match(delivery_figures(bronze(ROWS)), None)
    assert (verdict.passed, verdict.severity) == (False, "ERROR")
    assert "materialize tripclick_raw_logs" in verdict.description


def test_an_empty_day_with_nothing_acknowledged_passes():
    figures = delivery_figures(bronze([]))
    assert figures == {"parsed_rows": 0, "events": 0, "repeated_deliveries": 0, "by_partition": {}}
    assert deliveries_match(figures, {"acknowledged": 0, "acknowledged_by_partition": {}}).passed
