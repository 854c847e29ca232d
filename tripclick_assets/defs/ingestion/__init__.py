import dagster as dg

from tripclick_assets.defs.ingestion.assets import tripclick_raw_logs

defs = dg.Definitions(assets=[tripclick_raw_logs])
