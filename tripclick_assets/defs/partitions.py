"""The one partitioning shared by every asset: a UTC day of TripClick events."""

import warnings

import dagster as dg

# Range backfills and per-partition checks are marked beta/preview; we rely on both on purpose
# (tests cover them), so their warnings on every import would only be noise in the UI logs.
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=dg.BetaWarning)
warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*", category=dg.PreviewWarning)

FIRST_EVENT_DATE = "2013-01-01"  # the first day of the TripClick logs

event_date_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_EVENT_DATE, timezone="UTC")

# A backfill of any range runs as one run with one Spark session.
range_backfill = dg.BackfillPolicy.single_run()
