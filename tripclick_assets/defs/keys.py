"""Asset keys shared across the defs folders (a module refers to another's asset by key, not by object)."""

import dagster as dg

from tripclick_assets.lib.marts.tables import MART_TABLES

RAW_LOGS = dg.AssetKey("tripclick_raw_logs")
BRONZE = dg.AssetKey("bronze_events")
SILVER = dg.AssetKey("silver_events")
MARTS = {table.name: dg.AssetKey(table.name) for table in MART_TABLES}
