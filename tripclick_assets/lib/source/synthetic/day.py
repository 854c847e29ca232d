"""Generating a day: :func:`generate_day` (one day file plus its rows in allarticles.txt),
:func:`ensure_days` (every missing day of a range) and the :class:`GenerationSummary`."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tripclick_assets.lib.source.reader import day_file_candidates
from tripclick_assets.lib.source.synthetic.catalogue import merge_article_rows
from tripclick_assets.lib.source.synthetic.clicks import add_bots, documents_values, human_clicks
from tripclick_assets.lib.source.synthetic.files import day_file
from tripclick_assets.lib.source.synthetic.lines import (
    article_fragments,
    valid_lines,
    with_extra_lines,
    write_lines,
)
from tripclick_assets.lib.source.synthetic.model import DAY_MS, EPOCH, default_volume


@dataclass(frozen=True)
class GenerationSummary:
    """What :func:`generate_day` wrote.

    * ``volume``: the valid, distinct click records in the file: the requested human
      clicks (``volume`` argument, or :func:`default_volume`) **plus** the clicks of the
      bot sessions, which are added on top; ``bot_clicks`` says how many are bot clicks.
    * ``duplicates = round(duplicate_rate * volume)`` extra lines, each an exact byte copy
      of an earlier valid line, inserted at a random position after its original.
    * ``malformed = round(malformed_rate * volume)`` extra lines cycling through
      ``MALFORMED_KINDS`` (in that order), at random positions.
    * ``lines = volume + duplicates + malformed``; ``sessions`` counts the distinct
      sessions of the valid records (bot sessions included); ``bot_sessions`` the bot
      sessions.
    """

    path: Path
    event_date: date
    seed: int
    volume: int  # valid distinct click records, bot clicks included
    lines: int  # volume + duplicates + malformed
    duplicates: int
    malformed: int
    sessions: int  # distinct sessions among the valid records, bot sessions included
    bot_sessions: int
    seconds: float
    bot_clicks: int = 0  # how many of `volume` are bot clicks

    def to_json_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["event_date"] = self.event_date.isoformat()
        return data


class _Streams(NamedTuple):
    """The independent random streams of a day, one per part of the model."""

    sessions: np.random.Generator
    times: np.random.Generator
    documents: np.random.Generator
    areas: np.random.Generator
    keywords: np.random.Generator
    lists: np.random.Generator
    bots: np.random.Generator
    extra: np.random.Generator


def _streams(event_date: date, seed: int) -> _Streams:
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    sequence = np.random.SeedSequence([seed, event_date.toordinal(), 0x7C11C])
    return _Streams(*(np.random.default_rng(s) for s in sequence.spawn(len(_Streams._fields))))


def _human_volume(
    event_date: date, volume: int | None, duplicate_rate: float, malformed_rate: float,
    bot_sessions: int,
) -> int:
    """The requested human clicks, after checking every argument."""
    human_volume = default_volume(event_date) if volume is None else int(volume)
    if human_volume < 0:
        raise ValueError(f"volume must be >= 0, got {volume}")
    if not 0.0 <= duplicate_rate or not 0.0 <= malformed_rate:
        raise ValueError("duplicate_rate and malformed_rate must be >= 0")
    if bot_sessions < 0:
        raise ValueError(f"bot_sessions must be >= 0, got {bot_sessions}")
    return human_volume


def _write_day_file(
    logs_dir: Path, event_date: date, *, seed: int, volume: int | None, duplicate_rate: float,
    malformed_rate: float, bot_sessions: int, legacy_documents: bool,
) -> tuple[GenerationSummary, dict[int, bytes]]:
    """Write the day file; return its summary and the allarticles.txt rows of its documents."""
    t0 = time.perf_counter()
    human_volume = _human_volume(event_date, volume, duplicate_rate, malformed_rate, bot_sessions)
    streams = _streams(event_date, seed)
    day_start_ms = (event_date - EPOCH).days * DAY_MS
    taken: set[bytes] = set()  # SessionIds in use, malformed lines' ones included
    clicks = human_clicks(
        human_volume, taken, r_sessions=streams.sessions, r_times=streams.times,
        r_documents=streams.documents, r_areas=streams.areas, r_keywords=streams.keywords,
    )
    clicks = add_bots(clicks, streams.bots, bot_sessions, taken)
    documents = documents_values(streams.lists, clicks, legacy_documents)
    fragments, article_rows = article_fragments(clicks.docs)
    valid = valid_lines(clicks, documents, fragments, day_start_ms)
    lines, n_dup, n_bad = with_extra_lines(
        valid, streams.extra, duplicate_rate=duplicate_rate, malformed_rate=malformed_rate,
        day_start_ms=day_start_ms, taken=taken,
    )
    path = day_file(logs_dir, event_date)
    write_lines(path, lines)
    summary = GenerationSummary(
        path=path, event_date=event_date, seed=seed, volume=clicks.total,
        lines=clicks.total + n_dup + n_bad, duplicates=n_dup, malformed=n_bad,
        sessions=clicks.human_sessions + clicks.bot_sessions, bot_sessions=clicks.bot_sessions,
        seconds=round(time.perf_counter() - t0, 3), bot_clicks=clicks.bot_clicks,
    )
    return summary, article_rows


def generate_day(
    logs_dir: Path,
    event_date: date,
    *,
    seed: int = 0,
    volume: int | None = None,
    duplicate_rate: float = 0.0,
    malformed_rate: float = 0.0,
    bot_sessions: int = 0,
    legacy_documents: bool = False,
) -> GenerationSummary:
    """Write ``logs_dir/YYYY-MM-DD.json`` for ``event_date`` and update allarticles.txt.

    ``volume`` is the number of human clicks (default :func:`default_volume`); each of
    the ``bot_sessions`` bot sessions adds 60..150 clicks inside one clock-aligned
    5-minute window on top of it. The summary's ``volume`` counts all valid records
    (human + bot), and ``duplicate_rate``/``malformed_rate`` are fractions of that total.
    ``legacy_documents`` writes the Documents field as the older ``"docid:score,..."``
    string.

    Valid lines are in DateCreated order and never share a ``(SessionId, DocumentId,
    DateCreated)`` triple; they depend only on ``(event_date, seed, volume, bot_sessions,
    legacy_documents)``, so the rates only add or remove extra lines. Files are written
    atomically (mode 0644), and identical arguments give identical bytes.
    """
    t0 = time.perf_counter()
    summary, article_rows = _write_day_file(
        Path(logs_dir), event_date, seed=seed, volume=volume, duplicate_rate=duplicate_rate,
        malformed_rate=malformed_rate, bot_sessions=bot_sessions,
        legacy_documents=legacy_documents,
    )
    merge_article_rows(Path(logs_dir), article_rows)
    return replace(summary, seconds=round(time.perf_counter() - t0, 3))


def ensure_days(
    logs_dir: Path | str,
    days: Iterable[date],
    *,
    seed: int = 0,
    volume: int | None = None,
    duplicate_rate: float = 0.0,
    malformed_rate: float = 0.0,
    bot_sessions: int = 0,
    legacy_documents: bool = False,
) -> list[GenerationSummary]:
    """Generate each of ``days`` that has no log file yet (neither the day file nor the
    month file the reader also accepts) into ``logs_dir``; return their summaries.

    The files are the same bytes as :func:`generate_day` called for each missing day in
    turn, but allarticles.txt is merged once, after the last day (also when a day fails),
    so N days cost O(N) instead of rereading the growing catalogue for every day. A
    summary's ``seconds`` then leaves that merge out.
    """
    logs_dir = Path(logs_dir)
    logs_dir.mkdir(parents=True, exist_ok=True)
    summaries: list[GenerationSummary] = []
    article_rows: dict[int, bytes] = {}
    try:
        for day in days:
            if any(path.exists() for path in day_file_candidates(logs_dir, day)):
                continue
            summary, rows = _write_day_file(
                logs_dir, day, seed=seed, volume=volume, duplicate_rate=duplicate_rate,
                malformed_rate=malformed_rate, bot_sessions=bot_sessions,
                legacy_documents=legacy_documents,
            )
            article_rows.update(rows)
            summaries.append(summary)
    finally:
        if summaries:
            merge_article_rows(logs_dir, article_rows)
    return summaries
