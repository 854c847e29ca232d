import dagster as dg

from tripclick_assets.defs.quality.lake_checks import LAKE_CHECKS
from tripclick_assets.defs.quality.mart_checks import MART_CHECKS

defs = dg.Definitions(asset_checks=[*LAKE_CHECKS, *MART_CHECKS])
