"""The ClinicalAreas field: per record 0-5 areas drawn without replacement, each spelled as
its canonical name or one of its slug variants, joined by commas."""

from __future__ import annotations

import functools

import numpy as np

from tripclick_assets.lib.source.clinical_areas import CANONICAL_AREAS, SLUG_VARIANTS
from tripclick_assets.lib.source.synthetic.model import (
    AREA_COUNT_PROBS,
    AREA_DRAW_WEIGHTS,
    CANONICAL_SPELLING_SHARE,
    LEADING_COMMA_SHARE,
)


@functools.lru_cache(maxsize=1)
def _area_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[bytes]]:
    """Area cdf; per area its first spelling id and spelling count; the spelling table.

    Spelling id ``i`` (``0 <= i < T``) is ``table[i]``; ``i + T`` is the same spelling with
    a leading comma, so one lookup builds "first area, with or without leading comma" and
    "next area, always after a comma".
    """
    names = list(AREA_DRAW_WEIGHTS)
    assert set(names) == set(CANONICAL_AREAS), "area weights must cover every canonical area"
    w = np.array([AREA_DRAW_WEIGHTS[n] for n in names], dtype=np.float64)
    cdf = np.cumsum(w / w.sum())
    cdf[-1] = 1.0
    per_area = [[n.encode()] + [v.encode() for v in SLUG_VARIANTS.get(n, ())] for n in names]
    n_spell = np.array([len(x) for x in per_area], dtype=np.int64)
    first = np.cumsum(n_spell) - n_spell
    flat = [sp for x in per_area for sp in x]
    return cdf, first, n_spell, flat + [b"," + sp for sp in flat]


def draw_areas(rng: np.random.Generator, n: int) -> np.ndarray:
    """Raw ClinicalAreas strings (without JSON quotes) for ``n`` records (object array)."""
    cdf, first_id, n_spell, table = _area_tables()
    n_areas = len(cdf)
    n_table = len(table) // 2
    counts = rng.choice(len(AREA_COUNT_PROBS), size=n, p=AREA_COUNT_PROBS)
    max_k = len(AREA_COUNT_PROBS) - 1
    chosen = np.full((n, max_k), -1, dtype=np.int64)
    for j in range(max_k):
        pending = np.flatnonzero(counts > j)
        while pending.size:  # redraw clashes: sampling without replacement
            draw = np.minimum(
                np.searchsorted(cdf, rng.random(pending.size), side="right"), n_areas - 1
            )
            clash = (chosen[pending, :j] == draw[:, None]).any(axis=1)
            chosen[pending[~clash], j] = draw[~clash]
            pending = pending[clash]
    # spelling: the canonical name, or (30%) one of its SLUG_VARIANTS
    variant = rng.random((n, max_k)) >= CANONICAL_SPELLING_SHARE
    pick = rng.integers(0, 1 << 30, size=(n, max_k))
    leading = rng.random(n) < LEADING_COMMA_SHARE
    area = np.maximum(chosen, 0)
    n_var = n_spell[area] - 1
    spelling = first_id[area] + np.where(variant & (n_var > 0), 1 + pick % np.maximum(n_var, 1), 0)
    spelling[:, 0] += np.where(leading, n_table, 0)  # first area: optional leading comma
    spelling[:, 1:] += n_table  # later areas: always after a comma

    out = np.full(n, b"", dtype=object)
    for k in range(1, max_k + 1):
        rows = np.flatnonzero(counts == k)
        if not rows.size:
            continue
        cols = spelling[rows, :k].T.tolist()
        strs = [table[i] for i in cols[0]]
        for col in cols[1:]:
            strs = [s + table[i] for s, i in zip(strs, col)]
        out[rows] = strs
    return out

