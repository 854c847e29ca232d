"""The Keywords field: a fixed pool of medical search queries (some in Trip's syntax:
``title:``, ``from:2011``, ``AND``/``OR``/``NOT``, parentheses, quoted phrases) and
the query of each click's search."""

from __future__ import annotations

import functools

import numpy as np
import orjson

from tripclick_assets.lib.source.synthetic.model import (
    EMPTY_KEYWORDS_SHARE,
    NEW_SEARCH_SHARE,
    QUERY_POOL_SIZE,
    QUERY_ZIPF,
)
from tripclick_assets.lib.source.synthetic.vocabulary import (
    CONDITION_LIST,
    INTERVENTIONS,
    POPULATIONS,
)


@functools.lru_cache(maxsize=1)
def _query_pool() -> tuple[tuple[bytes, ...], np.ndarray]:
    """A fixed pool of JSON-encoded queries and their cumulative Zipf popularity."""
    rng = np.random.default_rng(0x51A7)
    conds = CONDITION_LIST
    ivs = INTERVENTIONS
    aspects = (
        "treatment", "diagnosis", "management", "guidelines", "children", "pregnancy",
        "elderly", "prognosis", "screening", "prevention", "nice", "cochrane",
    )
    seen: set[str] = set()
    pool: list[str] = []
    attempts = 0
    while len(pool) < QUERY_POOL_SIZE and attempts < QUERY_POOL_SIZE * 20:
        attempts += 1
        lower = rng.random() < 0.85  # most users type in lower case
        c = conds[rng.integers(len(conds))]
        c2 = conds[rng.integers(len(conds))]
        iv = ivs[rng.integers(len(ivs))]
        if lower:
            c, c2, iv = c.lower(), c2.lower(), iv.lower()
        t = rng.random()
        if t < 0.30:
            q = c
        elif t < 0.42:
            q = f"{c} {iv}"
        elif t < 0.50:
            q = f"{iv} {c}"
        elif t < 0.64:
            q = f"{c} {aspects[rng.integers(len(aspects))]}"
        elif t < 0.69:
            q = iv
        elif t < 0.74:
            q = f"title:{c.split()[-1] if rng.random() < 0.5 else c}"
        elif t < 0.77:
            q = f"title:({c} AND {iv})"
        elif t < 0.82:
            q = f"{c} AND {iv}"
        elif t < 0.85:
            q = f"({c} OR {c2}) AND {iv}"
        elif t < 0.87:
            q = f"{c} NOT {POPULATIONS[rng.integers(len(POPULATIONS))]}"
        elif t < 0.91:
            q = f"{c} from:{2005 + rng.integers(16)}"
        elif t < 0.93:
            q = f"from:{2005 + rng.integers(16)} {iv} {c}"
        elif t < 0.97:
            q = f'"{c}"'
        else:
            q = f"{c} {iv} {POPULATIONS[rng.integers(len(POPULATIONS))]}"
        if q not in seen:
            seen.add(q)
            pool.append(q)
    encoded = tuple(orjson.dumps(q) for q in pool)
    weights = 1.0 / np.arange(1, len(pool) + 1) ** QUERY_ZIPF
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    return encoded, cdf


def draw_keywords(rng: np.random.Generator, lengths: np.ndarray) -> np.ndarray:
    """JSON-encoded Keywords per click (object array): one query per search."""
    encoded, cdf = _query_pool()
    n_clicks = int(lengths.sum())
    starts_idx = np.cumsum(lengths) - lengths
    new_search = rng.random(n_clicks) < NEW_SEARCH_SHARE
    new_search[starts_idx] = True
    search_of = np.cumsum(new_search) - 1
    n_searches = int(search_of[-1]) + 1 if n_clicks else 0
    empty = rng.random(n_searches) < EMPTY_KEYWORDS_SHARE
    q = np.minimum(np.searchsorted(cdf, rng.random(n_searches), side="right"), len(cdf) - 1)
    q = np.where(empty, -1, q)
    table = np.array(list(encoded) + [b'""'], dtype=object)  # index -1 -> empty
    return table[q[search_of]]

