"""The Parquet lake: ``<root>/<layer>/event_date=YYYY-MM-DD/`` on a local disk or S3.

A partition is replaced atomically. Writers put a complete new version beside the old
one (``event_date=D/v=<version>/part-*.parquet``) and then swap the one-line pointer file
``event_date=D/_CURRENT`` (``os.replace`` locally, a single PUT on S3). A crash before the
swap leaves the old version current; after it, the new one. Readers only follow
``_CURRENT``. Older versions are garbage-collected after a successful swap (the previous
one is kept for readers that resolved it a moment ago).
"""

from __future__ import annotations

import os
import posixpath
import time
import uuid
from dataclasses import dataclass
from datetime import date

POINTER = "_CURRENT"
STAGING = "_staging"


def new_version() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class LakeLocation:
    """Where the lake is: ``/abs/dir`` or ``s3://bucket/prefix`` (``s3a://`` accepted)."""

    root: str
    s3_endpoint_url: str | None = None
    s3_region: str | None = None

    @property
    def is_s3(self) -> bool:
        return self.root.startswith(("s3://", "s3a://"))

    def to_params(self) -> dict:
        return {"root": self.root, "s3_endpoint_url": self.s3_endpoint_url, "s3_region": self.s3_region}

    @classmethod
    def from_params(cls, params: dict) -> LakeLocation:
        return cls(params["root"], params.get("s3_endpoint_url"), params.get("s3_region"))


class Lake:
    def __init__(self, location: LakeLocation):
        from pyarrow import fs

        self.location = location
        if location.is_s3:
            bucket_path = location.root.split("://", 1)[1].rstrip("/")
            kwargs = {}
            if location.s3_endpoint_url:
                scheme, _, host = location.s3_endpoint_url.partition("://")
                kwargs.update(endpoint_override=host, scheme=scheme)
            if location.s3_region:
                kwargs["region"] = location.s3_region
            self.fs = fs.S3FileSystem(**kwargs)
            self.base = bucket_path
        else:
            self.fs = fs.LocalFileSystem()
            self.base = os.path.abspath(location.root)

    # paths -------------------------------------------------------------------------------
    def layer_dir(self, layer: str) -> str:
        return posixpath.join(self.base, layer)

    def partition_dir(self, layer: str, day: date | str) -> str:
        return posixpath.join(self.layer_dir(layer), f"event_date={_day(day)}")

    def staging_dir(self, layer: str, version: str) -> str:
        return posixpath.join(self.layer_dir(layer), STAGING, version)

    def spark_uri(self, path: str) -> str:
        """The path as Spark names it (``s3a://`` for S3)."""
        return f"s3a://{path}" if self.location.is_s3 else path

    # reading ---------------------------------------------------------------------------
    def current_version(self, layer: str, day: date | str) -> str | None:
        from pyarrow import fs

        pointer = posixpath.join(self.partition_dir(layer, day), POINTER)
        if self.fs.get_file_info(pointer).type != fs.FileType.File:
            return None
        with self.fs.open_input_stream(pointer) as handle:
            return handle.read().decode().strip() or None

    def current_dir(self, layer: str, day: date | str) -> str | None:
        version = self.current_version(layer, day)
        return posixpath.join(self.partition_dir(layer, day), version) if version else None

    def data_files(self, directory: str) -> list[str]:
        from pyarrow import fs

        infos = self.fs.get_file_info(fs.FileSelector(directory, recursive=True))
        return sorted(
            i.path for i in infos
            if i.type == fs.FileType.File and i.path.endswith(".parquet")
        )

    def partition_bytes(self, directory: str) -> int:
        from pyarrow import fs

        infos = self.fs.get_file_info(fs.FileSelector(directory, recursive=True))
        return sum(i.size or 0 for i in infos if i.type == fs.FileType.File)

    def staged_partitions(self, staging: str) -> dict[str, str]:
        """``{day: dir}`` of what a Spark ``partitionBy("_partition")`` write left in ``staging``."""
        from pyarrow import fs

        if self.fs.get_file_info(staging).type == fs.FileType.NotFound:
            return {}
        infos = self.fs.get_file_info(fs.FileSelector(staging))
        prefix = "_partition="
        return {
            i.base_name[len(prefix):]: i.path
            for i in infos
            if i.type == fs.FileType.Directory and i.base_name.startswith(prefix)
        }

    def row_count(self, directory: str) -> int:
        """Rows under ``directory``, from the Parquet footers only."""
        import pyarrow.parquet as pq

        total = 0
        for path in self.data_files(directory):
            with self.fs.open_input_file(path) as handle:
                total += pq.ParquetFile(handle).metadata.num_rows
        return total

    # writing ---------------------------------------------------------------------------
    def commit(self, layer: str, day: date | str, staged_dir: str | None, version: str, schema=None) -> str:
        """Make ``staged_dir`` (or, when None, an empty file of ``schema``) the current version."""
        target = posixpath.join(self.partition_dir(layer, day), f"v={version}")
        self.fs.create_dir(self.partition_dir(layer, day), recursive=True)
        if staged_dir is None:
            import pyarrow.parquet as pq

            self.fs.create_dir(target, recursive=True)
            pq.write_table(schema.empty_table(), posixpath.join(target, "part-00000-empty.parquet"),
                           filesystem=self.fs)
        else:
            self._move_dir(staged_dir, target)
        self._swap_pointer(layer, day, f"v={version}")
        self._collect_garbage(layer, day)
        return target

    def _move_dir(self, source: str, target: str) -> None:
        from pyarrow import fs

        if isinstance(self.fs, fs.LocalFileSystem):
            os.rename(source, target)  # same file system: one atomic rename
            return
        for info in self.fs.get_file_info(fs.FileSelector(source, recursive=True)):
            if info.type == fs.FileType.File:
                self.fs.move(info.path, posixpath.join(target, posixpath.relpath(info.path, source)))

    def _swap_pointer(self, layer: str, day: date | str, version_dir: str) -> None:
        pointer = posixpath.join(self.partition_dir(layer, day), POINTER)
        if self.location.is_s3:
            with self.fs.open_output_stream(pointer) as handle:  # one PUT: atomic on S3
                handle.write(version_dir.encode())
            return
        tmp = f"{pointer}.{uuid.uuid4().hex[:8]}.tmp"
        with open(tmp, "w") as handle:
            handle.write(version_dir)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, pointer)

    def _collect_garbage(self, layer: str, day: date | str, keep: int = 2) -> None:
        """Remove all but the newest ``keep`` versions (current included); never the current one."""
        from pyarrow import fs

        current = self.current_version(layer, day)
        infos = self.fs.get_file_info(fs.FileSelector(self.partition_dir(layer, day)))
        versions = sorted(
            (i.base_name for i in infos if i.type == fs.FileType.Directory and i.base_name.startswith("v=")),
            reverse=True,
        )
        for stale in [v for v in versions if v != current][max(keep - 1, 0):]:
            self.fs.delete_dir(posixpath.join(self.partition_dir(layer, day), stale))

    def remove_staging(self, layer: str, version: str) -> None:
        from pyarrow import fs

        staging = self.staging_dir(layer, version)
        if self.fs.get_file_info(staging).type != fs.FileType.NotFound:
            self.fs.delete_dir(staging)


def _day(day: date | str) -> str:
    return day if isinstance(day, str) else day.isoformat()
