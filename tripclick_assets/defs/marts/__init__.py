import dagster as dg

from tripclick_assets.defs.marts.assets import marts

defs = dg.Definitions(assets=[marts])
