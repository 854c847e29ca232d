"""Which document each click goes to (DocumentId: a uniform draw or a Zipf-popular pool)
and the Documents field (the result list the click came from, in the current list form
or the legacy ``"docid:score,..."`` string)."""

from __future__ import annotations

import functools

import numpy as np
import orjson

from tripclick_assets.lib.source.synthetic.model import (
    DOCUMENT_ID_SPACE,
    DOCUMENTS_EMPTY_SHARE,
    DOCUMENTS_FULL_PAGE_SHARE,
    DOCUMENTS_PAGE,
    POOL_MULTIPLIER,
    POOL_OFFSET,
    POPULAR_POOL_SIZE,
    POPULAR_ZIPF,
    UNIFORM_DOCUMENT_SHARE,
)


def _pool_ids(ranks: np.ndarray) -> np.ndarray:
    """Document id of each popularity rank of the pool (a fixed bijection onto the id space)."""
    return (ranks.astype(np.int64) * POOL_MULTIPLIER + POOL_OFFSET) % DOCUMENT_ID_SPACE + 1


@functools.lru_cache(maxsize=1)
def _pool_cdf() -> np.ndarray:
    """Cumulative Zipf popularity of the pool's ranks."""
    w = 1.0 / np.arange(1, POPULAR_POOL_SIZE + 1) ** POPULAR_ZIPF
    cdf = np.cumsum(w)
    cdf /= cdf[-1]
    return cdf


def draw_documents(rng: np.random.Generator, n: int) -> np.ndarray:
    """DocumentId of ``n`` clicks: uniform over the id space, or a document of the pool."""
    uniform = rng.random(n) < UNIFORM_DOCUMENT_SHARE
    rank = np.minimum(np.searchsorted(_pool_cdf(), rng.random(n), side="right"),
                      POPULAR_POOL_SIZE - 1)
    random_ids = rng.integers(1, DOCUMENT_ID_SPACE + 1, size=n)
    return np.where(uniform, random_ids, _pool_ids(rank))


def documents_field(
    rng: np.random.Generator, clicked: np.ndarray, legacy: bool
) -> np.ndarray:
    """JSON values of the Documents field (object array of bytes).

    ``legacy``: the older ``"docid:score,docid:score"`` string (``""`` when empty), scores
    descending with one decimal; otherwise a JSON list of ids (``[]`` when empty).
    """
    n = clicked.size
    empty = rng.random(n) < DOCUMENTS_EMPTY_SHARE
    full = rng.random(n) < DOCUMENTS_FULL_PAGE_SHARE
    size = np.where(full, DOCUMENTS_PAGE, rng.integers(1, DOCUMENTS_PAGE, size=n))
    size = np.where(empty, 0, size)
    rows = np.flatnonzero(size > 0)
    ids = rng.integers(1, DOCUMENT_ID_SPACE + 1, size=(rows.size, DOCUMENTS_PAGE), dtype=np.int64)
    rank = (rng.random(rows.size) * size[rows]).astype(np.int64)
    ids[np.arange(rows.size), rank] = clicked[rows]
    out = np.full(n, b'""' if legacy else b"[]", dtype=object)
    row_size = size[rows]
    if not legacy:
        # one orjson call per list length; split the nested list into rows
        for k in range(1, DOCUMENTS_PAGE + 1):
            g = np.flatnonzero(row_size == k)
            if not g.size:
                continue
            blob = orjson.dumps(
                np.ascontiguousarray(ids[g, :k]), option=orjson.OPT_SERIALIZE_NUMPY
            )
            out[rows[g]] = [b"[" + body + b"]" for body in blob[2:-2].split(b"],[")]
        return out
    top = rng.uniform(6.0, 30.0, size=rows.size)
    decay = rng.uniform(0.85, 0.99, size=(rows.size, DOCUMENTS_PAGE))
    tenths = np.rint(top[:, None] * np.cumprod(decay, axis=1) * 10).astype(np.int64)
    # interleave id, whole, tenth, id, whole, tenth ... ("docid:12.5") and format each
    # row with one %-operation on integers (much faster than float formatting)
    triples = np.empty((rows.size, 3 * DOCUMENTS_PAGE), dtype=np.int64)
    triples[:, 0::3] = ids
    triples[:, 1::3] = tenths // 10
    triples[:, 2::3] = tenths % 10
    formats = [b""] + [
        b'"' + b",".join([b"%d:%d.%d"] * k) + b'"' for k in range(1, DOCUMENTS_PAGE + 1)
    ]
    strs = [
        formats[k] % tuple(row[: 3 * k])
        for row, k in zip(triples.tolist(), row_size.tolist())
    ]
    if rows.size:
        out[rows] = strs
    return out

