"""Convert a lake in the retired ``_CURRENT`` layout into the bronze and silver Iceberg tables, in place.

The retired layout kept ``<layer>/event_date=D/v=<version>/part-*.parquet`` with a pointer
file ``<layer>/event_date=D/_CURRENT`` naming the current version. The migration registers
every current version's files in the layer's table (one commit per layer, files left where
they are; empty files skipped), then deletes the pointers and the versions no pointer named.
Running it again finds no pointer and changes nothing.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from tripclick_assets.lib.lake.reads import LakeTables
from tripclick_assets.lib.lake.tables import LAYERS

POINTER = "_CURRENT"


@dataclass
class Migrated:
    days: dict[str, int] = field(default_factory=dict)
    files: int = 0
    removed_versions: int = 0
    snapshot_id: int | None = None


def retired_partitions(tables: LakeTables, layer: str) -> dict[str, tuple[str, list[str]]]:
    """``{day: (partition dir, [current files])}`` of the ``_CURRENT`` layout under ``<layer>/``."""
    import pyarrow.parquet as pq
    from pyarrow import fs

    lake = tables.lake
    found = {}
    for info in lake.fs.get_file_info(fs.FileSelector(lake.layer_dir(layer), allow_not_found=True)):
        if info.type != fs.FileType.Directory or not info.base_name.startswith("event_date="):
            continue
        pointer = posixpath.join(info.path, POINTER)
        if lake.fs.get_file_info(pointer).type != fs.FileType.File:
            continue
        with lake.fs.open_input_stream(pointer) as handle:
            version = handle.read().decode().strip()
        files = []
        for path in lake.data_files(posixpath.join(info.path, version)):
            with lake.fs.open_input_file(path) as handle:
                if pq.ParquetFile(handle).metadata.num_rows:
                    files.append(lake.uri(path))
        found[info.base_name[len("event_date="):]] = (info.path, files)
    return found


def migrate_layer(tables: LakeTables, layer: str) -> Migrated:
    from pyarrow import fs

    from tripclick_assets.lib.lake.publish import publish

    result = Migrated()
    partitions = retired_partitions(tables, layer)
    if not partitions:
        return result
    published = publish(tables.table(layer, evolve=True), {day: files for day, (_, files) in partitions.items()},
                        {"tripclick.migrated-from": "_CURRENT layout"})
    result.snapshot_id = published.snapshot_id
    lake = tables.lake
    for day, (directory, files) in sorted(partitions.items()):
        result.days[day] = len(files)
        result.files += len(files)
        pointer = posixpath.join(directory, POINTER)
        with lake.fs.open_input_stream(pointer) as handle:
            current = handle.read().decode().strip()
        for info in lake.fs.get_file_info(fs.FileSelector(directory)):
            if info.type == fs.FileType.Directory and info.base_name != current:
                lake.fs.delete_dir(info.path)  # a version the pointer did not name: never current
                result.removed_versions += 1
            elif info.type == fs.FileType.File and info.base_name != POINTER:
                lake.fs.delete_file(info.path)  # leftover pointer temporaries
        lake.fs.delete_file(pointer)
    return result


def migrate(tables: LakeTables) -> dict[str, Migrated]:
    """Migrate every layer; the staging leftovers of the old protocol (``<layer>/_staging``) are removed."""
    from pyarrow import fs

    lake = tables.lake
    results = {layer: migrate_layer(tables, layer) for layer in LAYERS}
    for layer in LAYERS:
        staging = posixpath.join(lake.layer_dir(layer), "_staging")
        if lake.fs.get_file_info(staging).type == fs.FileType.Directory:
            lake.fs.delete_dir(staging)
    return results
