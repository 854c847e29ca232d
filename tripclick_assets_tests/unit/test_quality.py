"""Quality rules on hand-made Arrow tables: each passes on good data and fails on bad."""

from datetime import date

import pyarrow as pa

from tripclick_assets.lib.quality import rules as quality
from tripclick_assets.lib.lake.schema import SILVER_COLUMNS, arrow_schema


def test_schema_ignores_list_child_names_but_catches_retyped_and_missing_columns():
    spark_like = pa.schema([
        pa.field(f.name, pa.list_(pa.field("element", f.type.value_type)) if pa.types.is_list(f.type) else f.type)
        for f in arrow_schema(SILVER_COLUMNS)
    ])
    assert quality.schema_matches(spark_like, SILVER_COLUMNS).passed
    retyped = spark_like.set(spark_like.get_field_index("document_id"), pa.field("document_id", pa.string()))
    verdict = quality.schema_matches(retyped, SILVER_COLUMNS)
    assert not verdict.passed and "document_id" in verdict.metadata["retyped_columns"]
    missing = spark_like.remove(spark_like.get_field_index("dedup_key"))
    assert quality.schema_matches(missing, SILVER_COLUMNS).metadata["missing_columns"] == ["dedup_key"]


def test_parsed_rows_counts_rows_without_parse_error():
    bronze = pa.table({"parse_error": [None, "invalid JSON", None, None]})
    assert quality.parsed_rows(bronze) == 3


def test_unique_not_null_and_partition_rules():
    table = pa.table({"k": ["a", "b", "a"], "d": [date(2016, 1, 1)] * 3, "s": ["x", None, "y"]})
    assert not quality.unique(table, "k").passed and quality.unique(table.slice(0, 2), "k").passed
    assert not quality.not_null(table, ("s",)).passed and quality.not_null(table, ("k",)).passed
    assert quality.all_equal_to(table, "d", date(2016, 1, 1)).passed
    assert not quality.all_equal_to(table, "d", date(2016, 1, 2)).passed


def test_area_counts_count_each_area_once_per_event():
    silver = pa.table({"clinical_areas": [["Cardiology", "Oncology"], ["Cardiology"], [], None]})
    assert quality.area_counts(silver) == {"Cardiology": 2, "Oncology": 1}
    assert quality.mapping_equal("areas", {"Cardiology": 2, "Oncology": 1}, {"Cardiology": 2, "Oncology": 1}).passed
    assert not quality.mapping_equal("areas", {"Cardiology": 3}, {"Cardiology": 2, "Oncology": 1}).passed


def test_anomaly_windows_are_clock_aligned_and_thresholded():
    from datetime import datetime, timedelta, timezone

    start = datetime(2016, 1, 1, 10, 4, 0, tzinfo=timezone.utc)  # straddles the 10:05 boundary
    ts = [start + timedelta(seconds=i) for i in range(120)]  # 60 before 10:05, 60 after
    silver = pa.table({"session_id": ["bot"] * 120 + ["human"] * 3,
                       "event_ts": pa.array(ts + ts[:3], pa.timestamp("us", tz="UTC"))})
    windows = quality.anomaly_windows(silver)
    boundary = int(datetime(2016, 1, 1, 10, 5, tzinfo=timezone.utc).timestamp())
    assert windows == {("bot", boundary - 300): 60, ("bot", boundary): 60}


def test_markdown_previews():
    from tripclick_assets.lib.marts.previews import area_shares_markdown, top_documents_markdown

    md = top_documents_markdown([(1, 42, "A | B", 7, 5)])
    assert "| 1 | 42 | A \\| B | 7 | 5 |" in md
    shares = area_shares_markdown([("Cardiology", 3), ("Oncology", 1)])
    assert "| Cardiology | 3 | 75.0% |" in shares and "25.0%" in shares
    assert "No clinical areas" in area_shares_markdown([])
