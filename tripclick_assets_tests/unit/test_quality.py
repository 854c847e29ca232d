"""Quality rules on hand-made Arrow tables: each passes on good data and fails on bad."""

from datetime import date

import pyarrow as pa

from tripclick_assets.lib import quality
from tripclick_assets.lib.lake_schema import SILVER_COLUMNS, arrow_schema


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
