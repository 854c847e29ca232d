import dagster as dg

from tripclick_assets.defs.lake.assets import bronze_events, silver_events

defs = dg.Definitions(assets=[bronze_events, silver_events])
