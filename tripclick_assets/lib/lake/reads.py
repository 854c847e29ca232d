"""Read the lake's tables (independently of the Spark jobs the checks verify).

Every reader goes through the table's scan plan: the files of the current snapshot (or of
an older one, by id), never a directory listing. A partition is read file by file, whole,
with pyiceberg's Arrow scan (schema evolution applied: a column added later reads as null
from older files), so a check sees every row a file of that partition holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from tripclick_assets.lib.lake.catalog import CatalogConfig
from tripclick_assets.lib.lake.store import Lake, LakeLocation
from tripclick_assets.lib.lake.tables import PARTITION_COLUMN, load_table, table_arrow_schema


class PartitionMissing(LookupError):
    pass


@dataclass(frozen=True)
class LakeTables:
    """The lake's files (``lake``) and its Iceberg tables (``catalog``): what readers and writers share."""

    location: LakeLocation
    catalog: CatalogConfig

    @property
    def lake(self) -> Lake:
        return Lake(self.location)

    def table(self, layer: str, evolve: bool = False):
        """The layer's table; ``evolve=True`` (writers) first adds the columns the contract gained."""
        return load_table(self.location, self.catalog, layer, evolve)


def _tasks(table, day: str, snapshot_id: int | None = None) -> list:
    from pyiceberg.expressions import EqualTo

    from tripclick_assets.lib.lake.publish import _iso

    if snapshot_id is None and table.current_snapshot() is None:
        return []
    scan = table.scan(row_filter=EqualTo(PARTITION_COLUMN, day), snapshot_id=snapshot_id)
    return [t for t in scan.plan_files() if _iso(t.file.partition[0]) == day]


def partition_files(tables: LakeTables, layer: str, day: str, snapshot_id: int | None = None) -> list[str]:
    """The data files of ``layer``'s partition ``day`` in the current (or the given) snapshot."""
    return sorted(t.file.file_path for t in _tasks(tables.table(layer), day, snapshot_id))


def read_partition(tables: LakeTables, layer: str, day: str, columns: list[str] | None = None,
                   snapshot_id: int | None = None):
    """Every row of the partition's files as one Arrow table (``snapshot_id``: as of that snapshot)."""
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.io.pyarrow import ArrowScan

    table = tables.table(layer)
    schema = table.schema() if snapshot_id is None else table.scan(snapshot_id=snapshot_id).projection()
    if columns is not None:
        schema = schema.select(*columns)
    tasks = _tasks(table, day, snapshot_id)
    return ArrowScan(table.metadata, table.io, schema, AlwaysTrue()).to_table(tasks)


def partition_schema(tables: LakeTables, layer: str, day: str | None = None):
    """The table's schema as pyarrow (the same for every partition: the table has one schema)."""
    return table_arrow_schema(tables.table(layer))


def partition_rows(tables: LakeTables, layer: str, day: str) -> int:
    """Rows of the partition, from the manifests only."""
    return sum(t.file.record_count for t in _tasks(tables.table(layer), day))


class TableSource:
    """What the check rules read: the published partitions of the tables."""

    def __init__(self, tables: LakeTables):
        self.tables = tables

    def read(self, layer: str, day: str, columns: list[str] | None = None):
        return read_partition(self.tables, layer, day, columns)

    def schema(self, layer: str, day: str):
        return partition_schema(self.tables, layer, day)

    def figures(self, layer: str, day: str) -> dict | None:
        """What the job that wrote the partition reported (rejected rows, ...). None here: a
        published partition's figures are its materialization's metadata, which the caller reads."""
        return None


class StagedSource(TableSource):
    """A write-audit-publish candidate: ``layer``'s staged files per day; other layers as published.

    ``figures``: ``{day: {...}}`` the job reported for the candidate (``figures(layer, day)``).
    """

    def __init__(self, tables: LakeTables, layer: str, staged: dict[str, list[str]],
                 figures: dict[str, dict] | None = None):
        super().__init__(tables)
        self.layer, self.staged, self._figures = layer, staged, figures or {}

    def figures(self, layer: str, day: str) -> dict | None:
        if layer != self.layer:
            return super().figures(layer, day)
        return self._figures.get(day, {})  # a candidate without figures has none (never an older run's)

    def read(self, layer: str, day: str, columns: list[str] | None = None):
        if layer != self.layer:
            return super().read(layer, day, columns)
        import pyarrow.dataset as ds

        from tripclick_assets.lib.lake.tables import LAYERS
        from tripclick_assets.lib.lake.schema import arrow_schema

        files = self.staged.get(day, [])
        if not files:
            empty = arrow_schema(LAYERS[layer]).empty_table()
            return empty.select(columns) if columns is not None else empty
        lake = self.tables.lake
        return ds.dataset([lake.fs_path(f) for f in files], format="parquet", filesystem=lake.fs).to_table(columns=columns)

    def schema(self, layer: str, day: str):
        if layer != self.layer or not self.staged.get(day):
            return super().schema(layer, day)
        import pyarrow.parquet as pq

        lake = self.tables.lake
        with lake.fs.open_input_file(lake.fs_path(self.staged[day][0])) as handle:
            return pq.read_schema(handle)
