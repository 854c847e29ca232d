"""The valid clicks of a day before formatting: human sessions, then bot sessions, with the
values of every field."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tripclick_assets.lib.source.synthetic.areas import draw_areas
from tripclick_assets.lib.source.synthetic.documents import documents_field, draw_documents
from tripclick_assets.lib.source.synthetic.keywords import draw_keywords
from tripclick_assets.lib.source.synthetic.model import (
    BOT_MAX_CLICKS,
    BOT_MIN_CLICKS,
    DAY_MS,
    DOCUMENT_ID_SPACE,
    WINDOW_MS,
)
from tripclick_assets.lib.source.synthetic.sessions import (
    human_timestamps,
    session_ids,
    session_lengths,
)


@dataclass(frozen=True)
class Clicks:
    """Per click (generation order: humans, then bots) its field values."""

    ts: np.ndarray  # milliseconds since the start of the day
    session_of: np.ndarray  # index into session_ids
    session_ids: list[bytes]
    docs: np.ndarray  # DocumentId
    areas: np.ndarray  # raw ClinicalAreas (bytes, without JSON quotes)
    keywords: np.ndarray  # JSON-encoded Keywords (bytes)
    human_clicks: int
    human_sessions: int
    bot_sessions: int = 0
    bot_clicks: int = 0

    @property
    def total(self) -> int:
        return self.human_clicks + self.bot_clicks


def human_clicks(
    volume: int,
    taken: set[bytes],
    *,
    r_sessions: np.random.Generator,
    r_times: np.random.Generator,
    r_documents: np.random.Generator,
    r_areas: np.random.Generator,
    r_keywords: np.random.Generator,
) -> Clicks:
    """``volume`` human clicks in sessions; their SessionIds are added to ``taken``."""
    if volume:
        lengths = session_lengths(r_sessions, volume)
        ts = human_timestamps(r_times, lengths)
    else:
        lengths = np.zeros(0, np.int64)
        ts = np.zeros(0, np.int64)
    sids = session_ids(r_sessions, lengths.size, taken)
    return Clicks(
        ts=ts,
        session_of=np.repeat(np.arange(lengths.size), lengths),
        session_ids=sids,
        docs=draw_documents(r_documents, volume),
        areas=draw_areas(r_areas, volume),
        keywords=draw_keywords(r_keywords, lengths) if volume else np.zeros(0, dtype=object),
        human_clicks=volume,
        human_sessions=lengths.size,
    )


def add_bots(clicks: Clicks, rng: np.random.Generator, sessions: int, taken: set[bytes]) -> Clicks:
    """``clicks`` plus ``sessions`` bot sessions.

    Each bot session has BOT_MIN_CLICKS..BOT_MAX_CLICKS clicks (uniform) at distinct
    milliseconds inside one clock-aligned 5-minute window, crawling consecutive document
    ids with empty ClinicalAreas and Keywords.
    """
    sizes = rng.integers(BOT_MIN_CLICKS, BOT_MAX_CLICKS + 1, size=sessions)
    n = int(sizes.sum())
    if not sessions:
        return clicks
    sids = session_ids(rng, sessions, taken)
    windows = rng.integers(0, DAY_MS // WINDOW_MS, size=sessions)
    bot_ts = np.concatenate([
        w * WINDOW_MS + np.sort(rng.choice(WINDOW_MS, size=int(k), replace=False))
        for w, k in zip(windows.tolist(), sizes.tolist())
    ])
    step = int(rng.integers(1, 4))
    first = int(rng.integers(1, DOCUMENT_ID_SPACE - step * n))
    bot_docs = first + step * np.arange(n, dtype=np.int64)  # a crawl
    bot_session_of = len(clicks.session_ids) + np.repeat(np.arange(sessions), sizes)
    return replace(
        clicks,
        ts=np.concatenate([clicks.ts, bot_ts]),
        session_of=np.concatenate([clicks.session_of, bot_session_of]),
        session_ids=clicks.session_ids + sids,
        docs=np.concatenate([clicks.docs, bot_docs]),
        areas=np.concatenate([clicks.areas, np.full(n, b"", dtype=object)]),
        keywords=np.concatenate([clicks.keywords, np.full(n, b'""', dtype=object)]),
        bot_sessions=sessions,
        bot_clicks=n,
    )


def documents_values(rng: np.random.Generator, clicks: Clicks, legacy: bool) -> np.ndarray:
    """The Documents field of every click; bots fetch pages directly: no search results."""
    documents = documents_field(rng, clicks.docs, legacy)
    if clicks.bot_sessions:
        documents[clicks.human_clicks:] = b'""' if legacy else b"[]"
    return documents
