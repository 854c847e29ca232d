"""The lake's files: ``<root>/<layer>/`` on a local disk or S3, each layer an Iceberg table.

The tables (``lib/lake/tables.py``) say which files are current; this module only knows
where files go. A writer stages a version's Parquet files under
``<layer>/data/<version>/_partition=D/`` inside the table's location, and the Dagster side
publishes them in one Iceberg commit (``lib/lake/publish.py``) that references them in
place. While a version is being written and audited its lease
(``<layer>/data/_in_progress/<version>``) tells maintenance not to touch its files.
"""

from __future__ import annotations

import errno
import os
import posixpath
import time
import uuid
from dataclasses import dataclass
from datetime import date

DATA = "data"
IN_PROGRESS = "_in_progress"
# A write the file system refused for lack of room: a full disk, a quota, a file size limit (RLIMIT_FSIZE).
OUT_OF_SPACE = {errno.ENOSPC: "No space left on device", errno.EDQUOT: "Disk quota exceeded",
                errno.EFBIG: "File too large"}


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
        """Where a version's files are written before they are published (inside the table)."""
        return posixpath.join(self.layer_dir(layer), DATA, version)

    def lease_path(self, layer: str, version: str) -> str:
        return posixpath.join(self.layer_dir(layer), DATA, IN_PROGRESS, version)

    def spark_uri(self, path: str) -> str:
        """The path as Spark names it (``s3a://`` for S3)."""
        if path.startswith(("s3://", "s3a://")):
            return "s3a://" + path.split("://", 1)[1]
        return f"s3a://{path}" if self.location.is_s3 else path

    def fs_path(self, path: str) -> str:
        """A path or ``s3://``/``s3a://`` URI as this file system names it."""
        return path.split("://", 1)[1] if path.startswith(("s3://", "s3a://")) else path

    def uri(self, path: str) -> str:
        """A file system path as a table references it (``s3://bucket/key`` on S3)."""
        return f"s3://{path}" if self.location.is_s3 and "://" not in path else path

    # files -----------------------------------------------------------------------------
    def data_files(self, directory: str) -> list[str]:
        from pyarrow import fs

        infos = self.fs.get_file_info(fs.FileSelector(directory, recursive=True, allow_not_found=True))
        return sorted(
            i.path for i in infos
            if i.type == fs.FileType.File and i.path.endswith(".parquet")
        )

    def files_bytes(self, paths: list[str]) -> int:
        return sum(i.size or 0 for i in self.fs.get_file_info([self.fs_path(p) for p in paths]))

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

    def staged_files(self, staging: str) -> dict[str, list[str]]:
        """``{day: [file URIs]}`` of a staged version (the ``.parquet`` files only)."""
        return {day: [self.uri(p) for p in self.data_files(d)] for day, d in self.staged_partitions(staging).items()}

    def row_count(self, paths: list[str]) -> int:
        """Rows of these files, from the Parquet footers only."""
        import pyarrow.parquet as pq

        total = 0
        for path in paths:
            with self.fs.open_input_file(self.fs_path(path)) as handle:
                total += pq.ParquetFile(handle).metadata.num_rows
        return total

    # leases ----------------------------------------------------------------------------
    def take_lease(self, layer: str, version: str) -> None:
        """Mark ``version`` as being written: maintenance leaves its files alone until it is released."""
        path = self.lease_path(layer, version)
        self.fs.create_dir(posixpath.dirname(path), recursive=True)
        with self.fs.open_output_stream(path) as handle:
            handle.write(str(time.time()).encode())

    def release_lease(self, layer: str, version: str) -> None:
        from pyarrow import fs

        path = self.lease_path(layer, version)
        if self.fs.get_file_info(path).type == fs.FileType.File:
            self.fs.delete_file(path)

    def leased_versions(self, layer: str) -> set[str]:
        from pyarrow import fs

        directory = posixpath.join(self.layer_dir(layer), DATA, IN_PROGRESS)
        infos = self.fs.get_file_info(fs.FileSelector(directory, allow_not_found=True))
        return {i.base_name for i in infos if i.type == fs.FileType.File}

    def remove_staging(self, layer: str, version: str) -> None:
        """Delete a version that was never published (a rejected candidate)."""
        from pyarrow import fs

        staging = self.staging_dir(layer, version)
        if self.fs.get_file_info(staging).type != fs.FileType.NotFound:
            self.fs.delete_dir(staging)


def out_of_space(exc: BaseException) -> str | None:
    """The reason (``No space left on device``, ...) when ``exc`` is a write refused for lack of room, else None.

    Looks through the exception's causes and their text: pyarrow raises ``OSError`` with the errno, a
    Spark job a Py4J error whose text holds the JVM stack trace (``java.io.IOException: No space left
    on device``), a Python worker's error the worker's traceback as text.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in OUT_OF_SPACE:
            return OUT_OF_SPACE[exc.errno]
        try:
            text = str(exc)
        except Exception:  # a Py4J error whose JVM is gone cannot render itself
            text = ""
        for reason in OUT_OF_SPACE.values():
            if reason in text:
                return reason
        exc = exc.__cause__ or exc.__context__
    return None


def _day(day: date | str) -> str:
    return day if isinstance(day, str) else day.isoformat()
