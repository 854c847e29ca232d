"""Everything Dagster loads: one Definitions merged from the layers under defs/."""

import dagster as dg

from tripclick_assets import settings
from tripclick_assets.defs import automation, ingestion, lake, marts, quality

defs = dg.Definitions.merge(
    ingestion.defs,
    lake.defs,
    marts.defs,
    quality.defs,
    automation.defs,
    dg.Definitions(
        resources=settings.build_resources(),
        # One process per run: every step shares one Spark session.
        executor=dg.in_process_executor,
    ),
)
