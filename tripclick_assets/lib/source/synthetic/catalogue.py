"""``allarticles.txt``, the article catalogue of a logs directory (TSV ``id, title, url``,
sorted by id): reading it and merging new rows into it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from tripclick_assets.lib.source.synthetic.articles import article_fragment
from tripclick_assets.lib.source.synthetic.files import atomic_write

ARTICLES_FILE = "allarticles.txt"
ARTICLES_HEADER = "id\ttitle\turl"


def _read_article_rows(path: Path) -> tuple[np.ndarray, list[bytes]]:
    """Ids and rows (without newline) of an existing allarticles.txt, header skipped.

    Lines that do not start with a numeric id are dropped; for an id listed twice the
    first row wins.
    """
    data = path.read_bytes()
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    lines = data.split(b"\n")
    if lines and not lines[0].partition(b"\t")[0].isdigit():
        lines = lines[1:]  # the header
    try:
        ids = [int(line.partition(b"\t")[0]) for line in lines if line]
        kept = [line for line in lines if line]
    except ValueError:  # a stray non-data line: take the slow, tolerant path
        pairs = [(line.partition(b"\t")[0], line) for line in lines]
        kept = [line for head, line in pairs if head.isdigit()]
        ids = [int(head) for head, _ in pairs if head.isdigit()]
    id_array = np.array(ids, dtype=np.int64)
    unique, first = np.unique(id_array, return_index=True)
    if unique.size != id_array.size:
        kept = [kept[i] for i in first.tolist()]
        id_array = unique
    return id_array, kept


def merge_article_rows(logs_dir: Path, rows: dict[int, bytes]) -> Path:
    """Merge ``rows`` (id -> TSV row without newline) into allarticles.txt, sorted by id."""
    path = Path(logs_dir) / ARTICLES_FILE
    new_ids = np.sort(np.fromiter(rows, dtype=np.int64, count=len(rows)))
    if path.exists():
        old_ids, old_rows = _read_article_rows(path)
        new_ids = new_ids[~np.isin(new_ids, old_ids)]
        if not new_ids.size:
            return path  # nothing new: leave the file alone
    else:
        old_ids, old_rows = np.zeros(0, dtype=np.int64), []
    all_rows = old_rows + [rows[i] for i in new_ids.tolist()]
    order = np.argsort(np.concatenate([old_ids, new_ids]), kind="stable").tolist()
    del old_rows

    def chunks() -> Iterable[bytes]:
        yield ARTICLES_HEADER.encode() + b"\n"
        block = 65_536
        for start in range(0, len(order), block):
            yield b"\n".join([all_rows[i] for i in order[start : start + block]]) + b"\n"

    atomic_write(path, chunks())
    return path


def write_articles(logs_dir: Path, document_ids: Iterable[int]) -> Path:
    """Write ``logs_dir/allarticles.txt`` (TSV, header ``id\\ttitle\\turl``).

    One row per id from :func:`article_for`, merged with the rows already in the file
    (an existing row is kept as it is), sorted by id, written atomically. Returns the path.
    """
    rows = {int(i): article_fragment(int(i))[1] for i in set(document_ids)}
    return merge_article_rows(Path(logs_dir), rows)

