"""Reader for the TripClick log dump format (no Dagster, no Kafka).

Layout: ``logs/YYYY-MM-DD.json`` (early periods ``logs/YYYY-MM.json``), one JSON object
per line, and ``logs/allarticles.txt`` (TSV, header ``id title url``). A line either
parses into a :class:`ClickRecord` or raises :class:`MalformedRecord` with a reason;
callers quarantine the latter, nothing is dropped silently.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import NamedTuple

import orjson

# The lake stores DocumentId as int64.
MAX_DOCUMENT_ID = 2**63 - 1
# Real records are ~0.5 KB; anything this large is a broken line, not a click.
MAX_LINE_BYTES = 64 * 1024
# /Date(1451648495927)/ or /Date(1451648495927+0000)/: epoch milliseconds, UTC.
_DOTNET_DATE = re.compile(r"^/Date\((-?\d{1,15})(?:[+-]\d{4})?\)/$", re.ASCII)
_LEGACY_DOC = re.compile(r"^\s*(\d+)\s*(?::\s*[-+0-9.eE]*)?\s*$")
# Keys of a record, in the dump's order.
RAW_FIELDS = (
    "DateCreated", "SessionId", "DocumentId", "Url", "Title", "DOI",
    "ClinicalAreas", "Keywords", "Documents",
)


class MalformedRecord(ValueError):
    """A log line that cannot become an event; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class SourceNotFoundError(FileNotFoundError):
    """No log file holds the requested day."""


class ClickRecord(NamedTuple):
    """A validated log record: ``raw`` keeps every field as read (DocumentId as int).

    ``normalized`` is True when ``raw`` or ``session_id`` differ from the line's text
    (a string DocumentId made an int, a SessionId stripped of whitespace).
    """

    raw: dict
    session_id: str
    document_id: int
    epoch_ms: int
    normalized: bool = False


def parse_dotnet_date(value: object) -> int:
    """``/Date(ms)/`` -> epoch milliseconds (UTC)."""
    if not isinstance(value, str):
        raise MalformedRecord(f"DateCreated is not a string: {value!r:.60}")
    match = _DOTNET_DATE.fullmatch(value)
    if match is None:
        raise MalformedRecord(f"DateCreated is not a /Date(ms)/ value: {value!r:.60}")
    return int(match.group(1))


def _document_id(value: object) -> int:
    if isinstance(value, bool):
        raise MalformedRecord(f"DocumentId is not an integer: {value!r}")
    if isinstance(value, int):
        doc_id = value
    elif isinstance(value, str) and value.strip().isdigit():
        doc_id = int(value)
    else:
        raise MalformedRecord(f"DocumentId is not an integer: {value!r:.60}")
    return doc_id


def parse_fields(line: bytes) -> tuple[dict, str, int, int, bool]:
    """:func:`parse_record` as a plain tuple, for hot loops (a tuple is cheaper to build)."""
    if len(line) > MAX_LINE_BYTES:
        raise MalformedRecord(f"line is {len(line)} bytes, over the {MAX_LINE_BYTES}-byte limit")
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        reason = "not UTF-8" if "utf-8" in str(exc).lower() else "invalid JSON"
        raise MalformedRecord(f"{reason}: {exc}") from None
    if type(obj) is not dict:
        raise MalformedRecord(f"not a JSON object: {type(obj).__name__}")
    session_id = obj.get("SessionId")
    stripped = session_id.strip() if type(session_id) is str else None
    if not stripped:
        raise MalformedRecord("missing SessionId")
    document = obj.get("DocumentId")
    if document is None:
        raise MalformedRecord("missing DocumentId")
    created = obj.get("DateCreated")
    if created is None:
        raise MalformedRecord("missing DateCreated")
    # type() rather than isinstance(): bool is an int subclass and must not pass.
    normalized = type(document) is not int
    doc_id = _document_id(document) if normalized else document
    if doc_id < 0:
        raise MalformedRecord(f"DocumentId is negative: {doc_id}")
    if doc_id > MAX_DOCUMENT_ID:
        raise MalformedRecord(f"DocumentId does not fit a 64-bit integer: {doc_id}")
    digits = created[6:-2] if type(created) is str and created[:6] == "/Date(" and created[-2:] == ")/" else ""
    # The dump's own shape inline (this runs for every click); anything else via the full rule.
    if 0 < len(digits) <= 15 and digits.isascii() and digits.isdigit():
        epoch_ms = int(digits)
    else:
        epoch_ms = parse_dotnet_date(created)
    if normalized:
        obj["DocumentId"] = doc_id
    return obj, stripped, doc_id, epoch_ms, normalized or len(stripped) != len(session_id)


def parse_record(line: bytes) -> ClickRecord:
    """Validate one log line; raises :class:`MalformedRecord` with the reason."""
    return ClickRecord._make(parse_fields(line))


def parse_documents(value: object) -> list[int]:
    """``Documents`` as a list of ids, or the legacy ``"docid:score,docid:score"`` string."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [int(v) for v in value if isinstance(v, (int, str)) and str(v).strip().isdigit()]
    if isinstance(value, str):
        ids = []
        for part in value.split(","):
            match = _LEGACY_DOC.match(part)
            if match:
                ids.append(int(match.group(1)))
        return ids
    return []


def day_file_candidates(logs_dir: Path, event_date: date) -> tuple[Path, Path]:
    """The per-day file and the per-month file that may hold ``event_date``."""
    return (
        logs_dir / f"{event_date:%Y-%m-%d}.json",
        logs_dir / f"{event_date:%Y-%m}.json",
    )


def find_day_source(logs_dir: Path, event_date: date) -> Path:
    """The file holding ``event_date``: the day file, else the month file."""
    day_file, month_file = day_file_candidates(Path(logs_dir), event_date)
    for path in (day_file, month_file):
        if path.is_file():
            return path
    raise SourceNotFoundError(
        f"no TripClick log for {event_date:%Y-%m-%d}: looked for {day_file} and {month_file}"
    )


# Blocks are read whole and cut after their last newline; a line longer than a block
# simply makes that block bigger.
BLOCK_BYTES = 4 * 1024 * 1024


def iter_blocks(path: Path, block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[int, bytes]]:
    """(1-based number of the block's first line, whole lines of the file including their newlines)."""
    line_no, carry = 1, b""
    with open(path, "rb") as handle:
        while chunk := handle.read(block_bytes):
            data = carry + chunk if carry else chunk
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            block, carry = data[:cut], data[cut:]
            yield line_no, block
            line_no += block.count(b"\n")
    if carry:
        yield line_no, carry


def block_lines(first_line_no: int, block: bytes) -> Iterator[tuple[int, bytes]]:
    """The (line number, line without its newline) of one block; blank lines are skipped."""
    for number, line in enumerate(block.split(b"\n"), start=first_line_no):
        if line[-1:] != b"}" and (line := clean_line(line)) is None:  # "}": a record's usual end, nothing to clean
            continue
        yield number, line


def clean_line(line: bytes) -> bytes | None:
    """A line without a trailing CR, or None for a blank line (which readers skip)."""
    line = line.rstrip(b"\r")
    return None if not line or line.isspace() else line


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line bytes without the newline); blank lines are skipped."""
    for first_line_no, block in iter_blocks(path):
        yield from block_lines(first_line_no, block)


@dataclass(frozen=True, slots=True)
class Article:
    document_id: int
    title: str
    url: str


def load_articles(path: Path) -> dict[int, Article]:
    """``allarticles.txt`` (TSV with header ``id title url``) as a dict by document id."""
    articles: dict[int, Article] = {}
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header[:3]] != ["id", "title", "url"]:
            raise ValueError(f"{path}: expected a header 'id<TAB>title<TAB>url', got {header!r}")
        for row in reader:
            if len(row) >= 3 and row[0].strip().isdigit():
                doc_id = int(row[0])
                articles[doc_id] = Article(doc_id, row[1], row[2])
    return articles
