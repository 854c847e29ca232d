"""Where a generated day goes (``logs_dir/YYYY-MM-DD.json``) and the atomic file write that
every generated file goes through."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from datetime import date
from pathlib import Path


def day_file(logs_dir: Path | str, event_date: date) -> Path:
    """``logs_dir/YYYY-MM-DD.json``."""
    return Path(logs_dir) / f"{event_date.isoformat()}.json"


def atomic_write(path: Path, chunks: Iterable[bytes]) -> None:
    """Write ``path`` through a temporary file in the same directory and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; log files are read by other users
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise

