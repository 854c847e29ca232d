"""The job code shipped to a remote Spark host: the installed package as a reproducible zip, plus the job scripts."""

from __future__ import annotations

import functools
import hashlib
import io
import posixpath
import shlex
import zipfile
from dataclasses import dataclass
from pathlib import Path

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class CodeBundle:
    """The files shipped to the Spark host: relative path -> bytes, and the version naming them."""

    files: dict[str, bytes]
    version: str

    def sha256(self) -> dict[str, str]:
        return {path: hashlib.sha256(data).hexdigest() for path, data in self.files.items()}

    def check_command(self, code_dir: str) -> str:
        """Shell that exits 0 only when every shipped file under ``code_dir`` has the expected hash."""
        lines = "".join(f"{digest}  {posixpath.join(code_dir, path)}\n" for path, digest in sorted(self.sha256().items()))
        return f"printf %s {shlex.quote(lines)} | sha256sum --status -c - 2>/dev/null"


@functools.cache
def code_bundle() -> CodeBundle:
    """The installed tripclick_assets package as a reproducible zip, plus spark_jobs/<job>.py as entry scripts."""
    import tripclick_assets

    package = Path(tripclick_assets.__file__).parent
    buffer = io.BytesIO()
    jobs = {}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package.rglob("*.py")):
            relative = path.relative_to(package.parent).as_posix()
            data = path.read_bytes()
            info = zipfile.ZipInfo(relative, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
            if path.parent.name == "spark_jobs" and not path.name.startswith("_"):
                jobs[f"jobs/{path.name}"] = data
    zipped = buffer.getvalue()
    return CodeBundle(files={"tripclick_assets.zip": zipped, **jobs}, version=hashlib.sha256(zipped).hexdigest()[:16])
