"""The shape of human sessions: how many clicks each has, when they happen in the day, and
their 24-character SessionIds."""

from __future__ import annotations

import numpy as np

from tripclick_assets.lib.source.synthetic.model import (
    DAY_MS,
    GAP_LOG_MEAN,
    GAP_SESSION_SIGMA,
    GAP_SIGMA,
    HOURLY_PROFILE,
    MAX_GAP_S,
    MAX_SESSION_CLICKS,
    MULTI_EXTRA_CLICKS_P,
    SINGLE_CLICK_SHARE,
)

_ALPHABET = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)


def session_ids(rng: np.random.Generator, n: int, taken: set[bytes]) -> list[bytes]:
    """``n`` distinct 24-character ``[a-z0-9]`` ids, none in ``taken`` (which grows)."""
    out: list[bytes] = []
    while len(out) < n:
        need = n - len(out)
        raw = _ALPHABET[rng.integers(0, 36, size=(need, 24))]
        for sid in raw.view("S24").ravel().tolist():
            if sid not in taken:
                taken.add(sid)
                out.append(sid)
    return out


def session_lengths(rng: np.random.Generator, volume: int) -> np.ndarray:
    """Clicks per session, summing to exactly ``volume`` (the last session is cut short)."""
    chunks: list[np.ndarray] = []
    total = 0
    while total < volume:
        m = max(16, int((volume - total) / 3.0) + 16)
        single = rng.random(m) < SINGLE_CLICK_SHARE
        multi = np.minimum(1 + rng.geometric(MULTI_EXTRA_CLICKS_P, size=m), MAX_SESSION_CLICKS)
        k = np.where(single, 1, multi)
        chunks.append(k)
        total += int(k.sum())
    k = np.concatenate(chunks)
    csum = np.cumsum(k)
    last = int(np.searchsorted(csum, volume))  # first session reaching the volume
    k = k[: last + 1].copy()
    k[-1] -= int(csum[last] - volume)
    return k


def human_timestamps(rng: np.random.Generator, lengths: np.ndarray) -> np.ndarray:
    """Millisecond offsets in the day for each click, sessions consecutive.

    Session starts follow :data:`HOURLY_PROFILE`; a session that would run past midnight
    is moved earlier, so every click falls inside the UTC day.
    """
    n_sessions = lengths.size
    n_clicks = int(lengths.sum())
    session_of = np.repeat(np.arange(n_sessions), lengths)
    starts_idx = np.cumsum(lengths) - lengths
    pos = np.arange(n_clicks) - starts_idx[session_of]  # click index in session

    z_session = rng.standard_normal(n_sessions)
    z_gap = rng.standard_normal(n_clicks)
    fold = rng.random(n_clicks)
    gaps_s = np.exp(GAP_LOG_MEAN + GAP_SESSION_SIGMA * z_session[session_of] + GAP_SIGMA * z_gap)
    gaps_s = np.where(gaps_s > MAX_GAP_S, MAX_GAP_S * (0.3 + 0.7 * fold), gaps_s)
    gaps = np.maximum(np.rint(gaps_s * 1000.0), 1).astype(np.int64)
    gaps[pos == 0] = 0
    offsets = np.cumsum(gaps)
    offsets -= offsets[starts_idx][session_of]  # per-session cumulative offset
    span = offsets[starts_idx + lengths - 1]

    # a span longer than the day (vanishingly rare) is compressed, keeping order strict
    too_long = span > DAY_MS - lengths
    if too_long.any():
        factor = (DAY_MS - lengths - 1) / np.maximum(span, 1)
        scale = np.where(too_long, factor, 1.0)[session_of]
        offsets = np.where(
            too_long[session_of], np.floor(offsets * scale).astype(np.int64) + pos, offsets
        )
        span = offsets[starts_idx + lengths - 1]

    hours_p = np.asarray(HOURLY_PROFILE, dtype=np.float64)
    hour = rng.choice(24, size=n_sessions, p=hours_p / hours_p.sum())
    start = hour * 3_600_000 + rng.integers(0, 3_600_000, size=n_sessions)
    start = np.minimum(start, DAY_MS - 1 - span)
    return start[session_of] + offsets

