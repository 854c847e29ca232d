"""The replay's CPU stage: blocks of a log file -> Kafka keys and payloads, in worker processes.

Parsing and encoding cost several times what handing a message to librdkafka does, so a
batch replay runs them in a small process pool while the main process only produces.
Blocks come back in file order, which keeps each session's clicks in order on its
partition; at most ``window`` blocks are in flight, so memory stays bounded however far
the encoders run ahead of the broker.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from tripclick_assets.lib.events import EventEncoder, shard_of
from tripclick_assets.lib.tripclick_logs import BLOCK_BYTES, MalformedRecord, block_lines, iter_blocks


@dataclass(frozen=True)
class DayShare:
    """What one server replays of one source file for one day."""

    day_start_ms: int
    day_end_ms: int
    server: str
    server_index: int
    server_count: int
    source_file: str
    # Unattributable bad lines of a month file are quarantined once, by the month's first day.
    owns_unattributed: bool
    keep_times: bool = False  # realtime pacing needs each event's epoch ms


@dataclass
class EncodedBlock:
    keys: list[bytes] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    times_ms: list[int] = field(default_factory=list)
    quarantined: list[tuple[int, bytes, str]] = field(default_factory=list)  # (line, bytes, reason)
    lines: int = 0
    other_shards: int = 0
    other_dates: int = 0


@lru_cache(maxsize=4)
def _encoder(server: str, source_file: str) -> EventEncoder:
    return EventEncoder(server=server, source_file=source_file)


def encode_block(share: DayShare, first_line_no: int, block: bytes) -> EncodedBlock:
    """Parse and encode the lines of one block that belong to ``share``."""
    out = EncodedBlock()
    encoder = _encoder(share.server, share.source_file)
    read, encode = encoder.read, encoder.encode
    keys, values, times, quarantined = out.keys, out.values, out.times_ms, out.quarantined
    index, count, start, end = share.server_index, share.server_count, share.day_start_ms, share.day_end_ms
    lines = other_shards = other_dates = 0
    for line_no, line in block_lines(first_line_no, block):
        lines += 1
        try:
            fields = read(line)
        except MalformedRecord as bad:
            # A bad line has no trustworthy session to shard on: servers reading the
            # same file split them by line number so each is quarantined exactly once.
            if share.owns_unattributed and line_no % count == index:
                quarantined.append((line_no, line, bad.reason))
            continue
        session_id, epoch_ms = fields[1], fields[3]
        if count > 1 and shard_of(session_id, count) != index:
            other_shards += 1
        elif not start <= epoch_ms < end:
            other_dates += 1
        else:
            keys.append(session_id.encode())
            values.append(encode(line, fields, line_no))
            if share.keep_times:
                times.append(epoch_ms)
    out.lines, out.other_shards, out.other_dates = lines, other_shards, other_dates
    return out


def _exit_with_parent(parent_pid: int) -> None:
    """Pool initializer: a worker whose producer died (SIGKILL, OOM, a stopped container) exits too."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def default_workers() -> int:
    """One encoder per spare core, at most four: the main process needs a core to produce."""
    return min(4, max(0, (os.cpu_count() or 1) - 1))


class BlockEncoder:
    """Encodes a file's blocks in file order: in a process pool, or in this process.

    The pool starts with the first file of at least ``pool_min_bytes`` (starting worker
    processes costs more than encoding a small file) and serves every later day.
    """

    def __init__(self, workers: int, *, block_bytes: int = BLOCK_BYTES, pool_min_bytes: int = 2 * BLOCK_BYTES):
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        self.workers, self.block_bytes, self.pool_min_bytes = workers, block_bytes, pool_min_bytes
        self._pool: ProcessPoolExecutor | None = None
        self.blocks_by_pool = self.blocks_here = 0
        self.pool_broke = False

    def __enter__(self) -> BlockEncoder:
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def blocks(self, path: Path, share: DayShare) -> Iterator[EncodedBlock]:
        if not self.workers or self.pool_broke or path.stat().st_size < self.pool_min_bytes:
            for first_line_no, block in iter_blocks(path, self.block_bytes):
                self.blocks_here += 1
                yield encode_block(share, first_line_no, block)
            return
        if self._pool is None:
            # spawn, not fork: the caller may already run librdkafka or JVM threads.
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_exit_with_parent, initargs=(os.getpid(),))
        yield from self._pooled(path, share)

    def _pooled(self, path: Path, share: DayShare) -> Iterator[EncodedBlock]:
        """Blocks in order from the pool; while the oldest is not ready, this process encodes the next one.

        At most ``2 * workers + 1`` blocks are with the pool, and as many again encoded here,
        so memory stays bounded however far the encoders run ahead of the broker. If a worker
        dies, its blocks are encoded here and the pool is not used again.
        """
        window = 2 * self.workers + 1
        blocks = iter_blocks(path, self.block_bytes)
        slots: deque[tuple[Future | None, tuple[int, bytes] | EncodedBlock]] = deque()
        exhausted = False
        try:
            while True:
                while not exhausted and self._pool is not None and len(slots) < window:
                    item = next(blocks, None)
                    if item is None:
                        exhausted = True
                    else:
                        slots.append((self._pool.submit(encode_block, share, *item), item))
                if not slots:
                    break
                future, item = slots[0]
                if future is not None and not future.done() and not exhausted and len(slots) < 2 * window:
                    local = next(blocks, None)
                    if local is None:
                        exhausted = True
                    else:
                        slots.append((None, encode_block(share, *local)))
                        self.blocks_here += 1
                    continue
                slots.popleft()
                yield self._result(future, item, share)
            if not exhausted:  # the pool broke: the rest of the file is encoded here
                for item in blocks:
                    self.blocks_here += 1
                    yield encode_block(share, *item)
        finally:
            for future, _ in slots:
                if future is not None:
                    future.cancel()

    def _result(self, future: Future | None, item, share: DayShare) -> EncodedBlock:
        if future is None:
            return item
        try:
            block = future.result()
        except BrokenProcessPool:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool, self.pool_broke = None, True
            self.blocks_here += 1
            return encode_block(share, *item)
        self.blocks_by_pool += 1
        return block
