"""The lake's table maintenance: snapshot expiry and orphan-file removal, daily at 03:00 Asia/Seoul."""

from datetime import timedelta

import dagster as dg

from tripclick_assets.resources.lake import LakeResource


@dg.op(description="Expires bronze and silver snapshots older than the retention, then removes orphan files.")
def expire_snapshots_and_remove_orphans(context: dg.OpExecutionContext, lake: LakeResource) -> dg.Output:
    """Expires old snapshots of each lake table and removes the files none of the kept ones references."""
    from tripclick_assets.lib.lake.maintenance import maintain

    tables, retention = lake.tables(), timedelta(days=lake.snapshot_retention_days)
    metadata = {"retention_days": lake.snapshot_retention_days}
    for layer in ("bronze", "silver"):
        report = maintain(tables.table(layer), tables.lake, layer, retention)
        context.log.info(f"{layer}: expired {report.expired_snapshots} snapshots, kept {report.kept_snapshots}, "
                         f"removed {len(report.removed_files)} orphan files ({report.kept_leased} leased kept)")
        metadata.update({
            f"{layer}_expired_snapshots": report.expired_snapshots,
            f"{layer}_kept_snapshots": report.kept_snapshots,
            f"{layer}_removed_files": len(report.removed_files),
            f"{layer}_leased_files_kept": report.kept_leased,
        })
    return dg.Output(None, metadata=metadata)


@dg.job(name="tripclick_lake_maintenance",
        description="Snapshot expiry and orphan-file removal for the bronze and silver Iceberg tables.")
def lake_maintenance_job():
    expire_snapshots_and_remove_orphans()


lake_maintenance_schedule = dg.ScheduleDefinition(
    name="lake_maintenance_schedule",
    job=lake_maintenance_job,
    cron_schedule="0 3 * * *",
    execution_timezone="Asia/Seoul",
    description="03:00 Asia/Seoul: expire lake snapshots older than TRIPCLICK_LAKE_SNAPSHOT_RETENTION_DAYS "
                "and remove orphan files.",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
