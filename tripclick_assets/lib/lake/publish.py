"""Publish staged Parquet files: one Iceberg commit replaces a set of ``event_date`` partitions.

The commit is one OVERWRITE snapshot: the partitions' previous data files are removed and the
staged files added, or neither. The catalog swaps the table's metadata pointer with a
conditional update (optimistic concurrency): a writer that loses the race (pyiceberg's
serializable validation refuses to rebase an overwrite over files added meanwhile) re-plans
its replacement on the new current snapshot and tries again, so writers of different partitions
both land and writers of the same partition apply one after the other (the later one wins,
whole). A crash before the catalog update leaves the previous snapshot current; the staged and
metadata files it wrote are orphans that maintenance removes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tripclick_assets.lib.lake.tables import PARTITION_COLUMN

MAX_ATTEMPTS = 20


class PublishError(RuntimeError):
    pass


@dataclass(frozen=True)
class Published:
    """The outcome of one publish: the new snapshot, its parent, the work per day."""

    snapshot_id: int
    previous_snapshot_id: int | None
    attempts: int
    seconds: float
    added_files: dict[str, int] = field(default_factory=dict)
    removed_files: dict[str, int] = field(default_factory=dict)


def iceberg_path(path: str) -> str:
    """``s3a://`` (Spark's name) as ``s3://`` (what every other engine reads)."""
    return "s3://" + path[len("s3a://"):] if path.startswith("s3a://") else path


def _data_files(table, files_by_day: dict[str, list[str]]) -> dict[str, list]:
    from pyiceberg.io.pyarrow import parquet_file_to_data_file

    data_files: dict[str, list] = {}
    for day, paths in files_by_day.items():
        data_files[day] = []
        for path in paths:
            data_file = parquet_file_to_data_file(table.io, table.metadata, iceberg_path(path))
            if data_file.record_count == 0:  # Spark writes an empty file for a day without rows: nothing to add
                continue
            value = data_file.partition[0] if len(data_file.partition) else None
            if value is None or _iso(value) != day:
                raise PublishError(f"{path}: its rows are of event_date {_iso(value)}, not of the partition {day}")
            data_files[day].append(data_file)
    return data_files


def _iso(value) -> str | None:
    import datetime as dt

    if value is None:
        return None
    if isinstance(value, int):  # Iceberg stores a date partition as days since the epoch
        return (dt.date(1970, 1, 1) + dt.timedelta(days=value)).isoformat()
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def current_files(table, days) -> dict[str, list]:
    """``{day: [DataFile]}`` of the current snapshot for ``days`` (from the scan plan)."""
    from pyiceberg.expressions import In

    by_day: dict[str, list] = {d: [] for d in days}
    if table.current_snapshot() is None or not by_day:
        return by_day
    for task in table.scan(row_filter=In(PARTITION_COLUMN, list(by_day))).plan_files():
        day = _iso(task.file.partition[0])
        if day in by_day:
            by_day[day].append(task.file)
    return by_day


def publish(table, files_by_day: dict[str, list[str]], properties: dict[str, str] | None = None) -> Published:
    """Make exactly ``files_by_day`` the content of those partitions, in one commit.

    A day mapped to ``[]`` (or to files without rows) becomes empty. Raises :class:`PublishError` when a file's rows are
    of another day, or after MAX_ATTEMPTS lost races.
    """
    from pyiceberg.exceptions import CommitFailedException, ValidationException

    started = time.monotonic()
    days = sorted(files_by_day)
    new_files = _data_files(table, files_by_day)  # footers are read once, outside the retry loop
    props = {"tripclick.partitions": ",".join(days), **(properties or {})}
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if attempt > 1:
            table = table.refresh()
        parent = table.current_snapshot()
        old = current_files(table, days)
        try:
            with table.transaction() as tx:
                if tx.table_metadata.name_mapping() is None:
                    tx.set_properties(**{"schema.name-mapping.default":
                                         tx.table_metadata.schema().name_mapping.model_dump_json()})
                with tx.update_snapshot(snapshot_properties=props).overwrite() as overwrite:
                    for files in old.values():
                        for data_file in files:
                            overwrite.delete_data_file(data_file)
                    for files in new_files.values():
                        for data_file in files:
                            overwrite.append_data_file(data_file)
        except (CommitFailedException, ValidationException):
            # Another commit landed first (pyiceberg's own retry refuses to rebase an overwrite over
            # concurrently added files): nothing of ours landed, so plan the replacement again.
            time.sleep(min(0.05 * attempt, 0.5))
            continue
        snapshot = table.current_snapshot()
        return Published(
            snapshot_id=snapshot.snapshot_id,
            previous_snapshot_id=parent.snapshot_id if parent else None,
            attempts=attempt,
            seconds=round(time.monotonic() - started, 3),
            added_files={d: len(new_files[d]) for d in days},
            removed_files={d: len(old[d]) for d in days},
        )
    raise PublishError(f"{table.name()}: gave up after {MAX_ATTEMPTS} concurrent commits won the race")
