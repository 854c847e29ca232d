"""Table maintenance: expire old snapshots, then remove the files no snapshot references.

Never removed: a file that any retained snapshot references (the current one above all),
the table's current metadata and its metadata log, a file younger than the retention (a
publish in progress writes its files and its new metadata before the catalog points at
them), and every file of a staging version whose lease is held (``Lake.take_lease``).
"""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from tripclick_assets.lib.lake.store import DATA, IN_PROGRESS, Lake


@dataclass
class MaintenanceReport:
    expired_snapshots: int = 0
    kept_snapshots: int = 0
    removed_files: list[str] = field(default_factory=list)
    kept_leased: int = 0
    removed_stale_leases: int = 0


def expire_snapshots(table, retention: timedelta, now: datetime | None = None) -> tuple[int, int]:
    """Expire the snapshots older than ``retention`` (never the current one); returns (expired, kept)."""
    cutoff = (now or datetime.now(timezone.utc)) - retention
    current = table.current_snapshot()
    old = [s.snapshot_id for s in table.metadata.snapshots
           if s.timestamp_ms < cutoff.timestamp() * 1000 and (current is None or s.snapshot_id != current.snapshot_id)]
    if old:
        table.maintenance.expire_snapshots().by_ids(old).commit()
    return len(old), len(table.refresh().metadata.snapshots)


def referenced_files(table) -> set[str]:
    """Every file the table's retained snapshots and metadata reference (data, manifests, lists, metadata)."""
    refs: set[str] = {table.metadata_location}
    refs.update(entry.metadata_file for entry in table.metadata.metadata_log)
    for snapshot in table.metadata.snapshots:
        refs.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            refs.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                refs.add(entry.data_file.file_path)
    return refs


def remove_orphans(table, lake: Lake, layer: str, older_than: timedelta, now: float | None = None,
                   dry_run: bool = False) -> MaintenanceReport:
    """Delete files under the table's location that nothing references and no lease protects."""
    from pyarrow import fs

    report = MaintenanceReport()
    now = now or time.time()
    cutoff = now - older_than.total_seconds()
    referenced = {lake.fs_path(p) for p in referenced_files(table)}
    leased = lake.leased_versions(layer)
    lease_dir = posixpath.join(lake.layer_dir(layer), DATA, IN_PROGRESS)
    data_dir = posixpath.join(lake.layer_dir(layer), DATA)
    for info in lake.fs.get_file_info(fs.FileSelector(lake.layer_dir(layer), recursive=True, allow_not_found=True)):
        if info.type != fs.FileType.File or info.path in referenced:
            continue
        modified = info.mtime.timestamp() if info.mtime else now
        if info.path.startswith(lease_dir + "/"):
            if modified < cutoff:  # a lease left by a crashed run
                report.removed_stale_leases += 1
                if not dry_run:
                    lake.fs.delete_file(info.path)
            continue
        relative = posixpath.relpath(info.path, data_dir)
        if not relative.startswith("..") and relative.split("/", 1)[0] in leased:
            report.kept_leased += 1
            continue
        if modified >= cutoff:
            continue
        report.removed_files.append(info.path)
        if not dry_run:
            lake.fs.delete_file(info.path)
    return report


def maintain(table, lake: Lake, layer: str, retention: timedelta, now: datetime | None = None) -> MaintenanceReport:
    """Expire snapshots older than ``retention``, then remove orphan files older than it."""
    now = now or datetime.now(timezone.utc)
    expired, kept = expire_snapshots(table, retention, now)
    report = remove_orphans(table.refresh(), lake, layer, retention, now.timestamp())
    report.expired_snapshots, report.kept_snapshots = expired, kept
    return report
