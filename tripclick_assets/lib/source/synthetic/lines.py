"""The lines of a day file: valid records formatted in the real key order, in time order,
with exact duplicates and malformed lines inserted at random positions."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from tripclick_assets.lib.source.synthetic.articles import article_fragment
from tripclick_assets.lib.source.synthetic.clicks import Clicks
from tripclick_assets.lib.source.synthetic.files import atomic_write
from tripclick_assets.lib.source.synthetic.malformed import MALFORMED_KINDS, malformed_line

#: One valid record: compact JSON, the keys of the real dump in its order (the log format
#: of ``docs/contracts.md``), UTF-8, terminated by a newline.
RECORD_FORMAT = (
    b'{"DateCreated":"/Date(%d)/","SessionId":"%s","DocumentId":%d,%s,'
    b'"ClinicalAreas":"%s","Keywords":%s,"Documents":%s}\n'
)
_WRITE_BLOCK = 65_536  # lines joined per write


def article_fragments(docs: np.ndarray) -> tuple[np.ndarray, dict[int, bytes]]:
    """Per click its ``"Url":..,"Title":..,"DOI":..`` fragment; per document its TSV row."""
    unique_docs, doc_index = np.unique(docs, return_inverse=True)
    rows: dict[int, bytes] = {}
    fragments: list[bytes] = []
    for d in unique_docs.tolist():
        fragment, row = article_fragment(d)
        rows[d] = row
        fragments.append(fragment)
    return np.array(fragments, dtype=object)[doc_index.reshape(-1)], rows


def valid_lines(
    clicks: Clicks, documents: np.ndarray, fragments: np.ndarray, day_start_ms: int
) -> list[bytes]:
    """The valid records in DateCreated order (ties keep generation order)."""
    order = np.lexsort((np.arange(clicks.total), clicks.ts))
    sid_arr = np.array(clicks.session_ids, dtype=object)
    return [
        RECORD_FORMAT % fields
        for fields in zip(
            (clicks.ts[order] + day_start_ms).tolist(),
            sid_arr[clicks.session_of[order]].tolist(),
            clicks.docs[order].tolist(),
            fragments[order].tolist(),
            clicks.areas[order].tolist(),
            clicks.keywords[order].tolist(),
            documents[order].tolist(),
        )
    ]


def _duplicates(
    rng: np.random.Generator, valid: list[bytes], rate: float
) -> tuple[list[bytes], np.ndarray]:
    """``round(rate * len(valid))`` byte copies of valid lines, each placed after its original.

    Positions are anchors: ``p`` means just before valid line ``p`` (``len(valid)``: the end).
    """
    total = len(valid)
    n = int(round(rate * total)) if total else 0
    src = rng.integers(0, total, size=n) if n else np.zeros(0, np.int64)
    pos = src + 1 + (rng.random(n) * (total - src)).astype(np.int64)
    return [valid[i] for i in src.tolist()], pos


def _malformed(
    rng: np.random.Generator, total: int, rate: float, day_start_ms: int, taken: set[bytes]
) -> tuple[list[bytes], np.ndarray]:
    """``round(rate * total)`` malformed lines cycling through MALFORMED_KINDS, at random anchors."""
    n = int(round(rate * total))
    pos = rng.integers(0, total + 1, size=n)
    lines = [
        malformed_line(j % len(MALFORMED_KINDS), rng, day_start_ms, taken) for j in range(n)
    ]
    return lines, pos


def with_extra_lines(
    valid: list[bytes],
    rng: np.random.Generator,
    *,
    duplicate_rate: float,
    malformed_rate: float,
    day_start_ms: int,
    taken: set[bytes],
) -> tuple[list[bytes], int, int]:
    """All lines of the day file in file order, the number of duplicates and of malformed lines."""
    total = len(valid)
    duplicates, dup_pos = _duplicates(rng, valid, duplicate_rate)
    malformed, bad_pos = _malformed(rng, total, malformed_rate, day_start_ms, taken)
    extras = duplicates + malformed
    if not extras:
        return valid, 0, 0
    # anchor 2*i = valid line i; anchor 2*p - 1 = just before valid line p
    anchors = np.concatenate([
        2 * np.arange(total, dtype=np.int64),
        2 * dup_pos - 1,
        2 * bad_pos - 1,
    ])
    all_lines = valid + extras
    ordered = [all_lines[i] for i in np.argsort(anchors, kind="stable").tolist()]
    return ordered, len(duplicates), len(malformed)


def write_lines(path: Path, lines: list[bytes]) -> None:
    """Write the day file atomically, in blocks of lines."""

    def chunks() -> Iterable[bytes]:
        for start in range(0, len(lines), _WRITE_BLOCK):
            yield b"".join(lines[start : start + _WRITE_BLOCK])

    atomic_write(path, chunks())
