"""Reader for the TripClick log dump format (no Dagster, no Kafka).

Layout: ``logs/YYYY-MM-DD.json`` (early periods ``logs/YYYY-MM.json``), one JSON object
per line, and ``logs/allarticles.txt`` (TSV, header ``id title url``). A line either
parses into a :class:`ClickRecord` or raises :class:`MalformedRecord` with a reason;
callers quarantine the latter, nothing is dropped silently.
"""

from __future__ import annotations

import re
from collections import Counter
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
    url: str  # "" when the dump has no URL for the id


@dataclass(frozen=True)
class ArticlesRead:
    """What :func:`load_articles` made of ``allarticles.txt``.

    ``articles``: every article that could be kept, by id. ``skipped``: what could not be kept,
    by reason (``no_id``: a line outside any record, ``duplicate_id``: a second record of a kept
    id, ``id_out_of_range``: an id beyond int64). ``repaired``: records kept after fixing a
    quirk, by quirk. ``declared_rows``: N of the trailing ``(N rows affected)`` line, if any.
    """

    articles: dict[int, Article]
    skipped: dict[str, int]
    repaired: dict[str, int]
    declared_rows: int | None = None


_ARTICLES_HEADER = ["id", "title", "url"]
# A record starts with its numeric id and a tab; anything else continues the open record's title.
_ARTICLE_START = re.compile(r"(\d+)\t(.*)", re.DOTALL)
_ROWS_AFFECTED = re.compile(r"\((\d+) rows? affected\)")


def _article_url(field: str) -> tuple[str, str | None] | None:
    """(url, the quirk repaired or None) when ``field`` is a URL as the dump writes them, else None."""
    if field.startswith(("http://", "https://")):
        return field, None
    if field.startswith("file:///"):
        return field, "file_url"  # a local path (file:///C:...), kept as it is
    if field.startswith(("_http://", "_https://")):
        return field[1:], "url_prefix_underscore"
    if field.startswith(("ttp://", "ttps://")):
        return "h" + field, "url_prefix_ttp"
    return None


class _OpenArticle:
    __slots__ = ("document_id", "lines")

    def __init__(self, document_id: int, first: str):
        self.document_id, self.lines = document_id, [first]


def load_articles(path: Path) -> ArticlesRead:
    """``allarticles.txt`` (TSV, header ``id title url``) as the real dump has it.

    The quirks (ir_datasets documents them): a header line; a trailing ``(N rows affected)``
    line; titles holding tabs and line breaks, so a record may span lines (a record is an id and a
    tab at the start of a line, up to the line whose last tab-separated field is a URL; the title
    is the text in between, its tabs and line breaks kept, surrounding whitespace stripped); URLs
    written ``_http...`` or ``ttp://...`` (repaired) or ``file:///C:...`` (kept); ids without a
    URL (kept with ``url=""``: the next record's id, the footer or the end of the file closes
    them). Lines are split on ``\\n`` only and decoded as UTF-8 with invalid bytes replaced
    (counted in ``repaired["invalid_utf8"]``). The first row of an id wins.

    Raises ``ValueError`` when the first line is neither the header nor a record: not such a file.
    """
    articles: dict[int, Article] = {}
    skipped: Counter[str] = Counter()
    repaired: Counter[str] = Counter()
    declared_rows: int | None = None
    pending: _OpenArticle | None = None

    def close(record: _OpenArticle, url: str, quirk: str | None) -> None:
        title = "\n".join(record.lines).strip()
        if "\n" in title:
            repaired["title_with_line_breaks"] += 1
        if "\t" in title:
            repaired["title_with_tabs"] += 1
        if quirk:
            repaired[quirk] += 1
        if record.document_id > MAX_DOCUMENT_ID:
            skipped["id_out_of_range"] += 1
        elif record.document_id in articles:
            skipped["duplicate_id"] += 1
        else:
            articles[record.document_id] = Article(record.document_id, title, url)

    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line = raw.decode("utf-8", errors="replace")
                repaired["invalid_utf8"] += 1
            line = line.rstrip("\n").rstrip("\r")
            if number == 1:
                line = line.removeprefix("\ufeff")
                if [h.strip().lower() for h in line.split("\t")] == _ARTICLES_HEADER:
                    continue
                if _ARTICLE_START.match(line) is None:
                    raise ValueError(f"{path}: expected a header 'id<TAB>title<TAB>url', got {line[:200]!r}")
            stripped = line.strip()
            footer = _ROWS_AFFECTED.fullmatch(stripped)
            if footer is not None:
                declared_rows = int(footer.group(1))
            start = None if footer is not None else _ARTICLE_START.match(line)
            if footer is not None or start is not None:
                if pending is not None:  # an id without a URL
                    close(pending, "", "no_url")
                    pending = None
                if start is None:
                    continue
                pending = _OpenArticle(int(start.group(1)), start.group(2))
                text = start.group(2)
            elif pending is None:
                if stripped:
                    skipped["no_id"] += 1
                continue
            else:
                pending.lines.append(line)
                text = line
            # Does this line end the record? Its last tab-separated field is the URL.
            head, tab, last = text.rstrip().rpartition("\t")
            found = _article_url(last)
            if found is None:
                continue
            pending.lines[-1] = head if tab else ""
            close(pending, *found)
            pending = None
    if pending is not None:
        close(pending, "", "no_url")
    return ArticlesRead(articles, dict(skipped), dict(repaired), declared_rows)
