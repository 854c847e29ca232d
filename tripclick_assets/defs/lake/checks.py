"""Checks on bronze and silver, per event_date partition; blocking ones stop downstream layers.

Each rule reads through ``source``: the published table when it runs as a check, the staged
candidate when the asset audits it before publishing (write, audit, publish).
"""

from datetime import date

import dagster as dg

from tripclick_assets.defs import keys
from tripclick_assets.defs.metadata import latest_partition_metadata
from tripclick_assets.defs.partition_checks import lake_check
from tripclick_assets.lib.quality import rules as quality
from tripclick_assets.lib.lake.schema import BRONZE_COLUMNS, REQUIRED_SILVER, SILVER_COLUMNS

BRONZE, SILVER = keys.BRONZE, keys.SILVER


@lake_check(asset=BRONZE, name="bronze_rows_match_acknowledged",
            description="Every event Kafka acknowledged to the producers for the day is in bronze and nothing else "
                        "(per Kafka partition); repeated deliveries of them warn.")
def bronze_rows_match_acknowledged(context, day, source):
    produced = latest_partition_metadata(context.instance, keys.RAW_LOGS, day)
    # In the audit, the figures the asset computed from the candidate; else read from the table.
    figures = (source.figures("bronze", day) or {}).get("deliveries")
    if figures is None:
        figures = quality.delivery_figures(source.read("bronze", day, list(quality.DELIVERY_COLUMNS)))
    return quality.deliveries_match(figures, produced)


@lake_check(asset=BRONZE, name="bronze_event_date_is_partition",
            description="Every bronze row belongs to the partition's event_date.")
def bronze_event_date_is_partition(context, day, source):
    return quality.all_equal_to(source.read("bronze", day, ["event_date"]), "event_date", date.fromisoformat(day))


@lake_check(asset=BRONZE, name="bronze_schema",
            description="The bronze table's (or the staged candidate's) columns and types match the contract.")
def bronze_schema(context, day, source):
    return quality.schema_matches(source.schema("bronze", day), BRONZE_COLUMNS)


@lake_check(asset=SILVER, name="silver_dedup_key_unique", description="One silver row per dedup_key.")
def silver_dedup_key_unique(context, day, source):
    return quality.unique(source.read("silver", day, ["dedup_key"]), "dedup_key")


@lake_check(asset=SILVER, name="silver_required_fields_not_null",
            description="event_date, event_ts, session_id, document_id and dedup_key are never null.")
def silver_required_fields_not_null(context, day, source):
    return quality.not_null(source.read("silver", day, list(REQUIRED_SILVER)), REQUIRED_SILVER)


@lake_check(asset=SILVER, name="silver_event_date_is_partition",
            description="Every silver row belongs to the partition's event_date.")
def silver_event_date_is_partition(context, day, source):
    return quality.all_equal_to(source.read("silver", day, ["event_date"]), "event_date", date.fromisoformat(day))


@lake_check(asset=SILVER, name="silver_not_more_than_bronze",
            description="Silver rows never exceed parsed bronze rows (dedup only removes).")
def silver_not_more_than_bronze(context, day, source):
    parsed = quality.parsed_rows(source.read("bronze", day, ["parse_error"]))
    silver_rows = source.read("silver", day, ["dedup_key"]).num_rows
    return quality.at_most("silver_rows", silver_rows, "parsed_bronze_rows", parsed)


@lake_check(asset=SILVER, name="silver_rejected_rows",
            description="Parsed bronze rows = silver rows + duplicates removed + rejected rows; any rejected row "
                        "or dropped document id warns, over 10% of the rows (or every row) is an ERROR.")
def silver_rejected_rows(context, day, source):
    # The figures of the silver job: the candidate's in the audit, else the latest materialization's.
    figures = source.figures("silver", day)
    if figures is None:
        figures = latest_partition_metadata(context.instance, SILVER, day)
    parsed = quality.parsed_rows(source.read("bronze", day, ["parse_error"]))
    silver_rows = source.read("silver", day, ["dedup_key"]).num_rows
    return quality.silver_rejections(figures, parsed, silver_rows)


@lake_check(asset=SILVER, name="silver_schema",
            description="The silver table's (or the staged candidate's) columns and types match the contract.")
def silver_schema(context, day, source):
    return quality.schema_matches(source.schema("silver", day), SILVER_COLUMNS)

