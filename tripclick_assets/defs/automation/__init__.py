import dagster as dg

from tripclick_assets.defs.automation.jobs import daily_lineage_job, daily_lineage_schedule, run_failure_alert

defs = dg.Definitions(jobs=[daily_lineage_job], schedules=[daily_lineage_schedule], sensors=[run_failure_alert])
