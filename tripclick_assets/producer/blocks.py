"""The replay's CPU stage: a block of a log file -> the Kafka keys and payloads one process owns.

A server's sessions can be split further over several local processes, each with its own
Kafka producer (see ``local_shards``). Every process reads the whole file; a line whose
SessionId is written plainly is skipped by the processes that do not own it without being
decoded, so the parsing is not paid twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from tripclick_assets.lib.kafka.events import EventEncoder, format_event_ts, plain_session_digest, session_digest
from tripclick_assets.lib.source.reader import MalformedRecord, clean_line, parse_fields


@dataclass(frozen=True)
class DayShare:
    """What one process of one server replays of one source file for one day."""

    day_start_ms: int
    day_end_ms: int
    server: str
    server_index: int
    server_count: int
    source_file: str
    # Unattributable bad lines of a month file are quarantined once, by the month's first day.
    owns_unattributed: bool
    keep_times: bool = False  # realtime pacing needs each event's epoch ms
    # This process's part of the server's sessions: local_index of local_count.
    local_index: int = 0
    local_count: int = 1
    # The days whose clicks the source file holds for the replay: [file_start_ms, file_end_ms), the
    # month of a month file (None: just this day, a day file). A click of another day of that range
    # is left to its own day's replay; a click outside it is quarantined (reason other_event_date).
    file_start_ms: int | None = None
    file_end_ms: int | None = None

    @property
    def shards(self) -> int:
        return self.server_count * self.local_count

    @property
    def shard(self) -> int:
        """A session is ours when ``session_digest % shards == shard``: the server's own rule, refined."""
        return self.server_index + self.server_count * self.local_index


@dataclass
class EncodedBlock:
    keys: list[bytes] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    times_ms: list[int] = field(default_factory=list)
    quarantined: list[tuple[int, bytes, str]] = field(default_factory=list)  # (line, bytes, reason)
    lines: int = 0
    other_shards: int = 0  # lines other servers own (not those of this server's other processes)
    # Lines left to another day's replay of the same file: clicks of another day of a month file, and
    # (for any but the month's first day) the month file's bad lines and clicks of other months.
    other_dates: int = 0


OTHER_EVENT_DATE = "other_event_date"


def other_event_date_reason(epoch_ms: int, share: DayShare) -> str:
    """The quarantine reason of a click of another day: ``other_event_date: <its day> (...)``."""
    event_ts = format_event_ts(epoch_ms)
    replayed = format_event_ts(share.day_start_ms)[:10]
    return f"{OTHER_EVENT_DATE}: {event_ts[:10]} (event_ts {event_ts}) in the file replayed for {replayed}"


@lru_cache(maxsize=4)
def _encoder(server: str, source_file: str) -> EventEncoder:
    return EventEncoder(server=server, source_file=source_file)


def encode_block(share: DayShare, first_line_no: int, block: bytes) -> EncodedBlock:
    """Parse and encode the lines of one block that belong to ``share``."""
    out = EncodedBlock()
    encoder = _encoder(share.server, share.source_file)
    compact, splice, encode = encoder.compact_fields, encoder.splice, encoder.encode
    keys, values, times, quarantined = out.keys, out.values, out.times_ms, out.quarantined
    shards, mine, servers, server = share.shards, share.shard, share.server_count, share.server_index
    start, end = share.day_start_ms, share.day_end_ms
    lines = other_shards = other_dates = 0
    owns_unattributed = share.owns_unattributed
    # block_lines, unrolled: a generator step costs more per line than the checks below.
    for line_no, line in enumerate(block.split(b"\n"), first_line_no):
        if line[-1:] != b"}" and (line := clean_line(line)) is None:
            continue
        lines += 1
        digest = plain_session_digest(line) if shards > 1 else None
        if digest is not None and digest % shards != mine:
            other_shards += digest % servers != server
            continue
        fields = compact(line)
        if fields is None:  # not in the dump's own shape: the reference parser
            try:
                record = parse_fields(line)
            except MalformedRecord as bad:
                # Exactly one process of one server quarantines each bad line: the owner of its
                # plainly written session, or else the one its line number points at.
                owner = (line_no if digest is None else digest) % shards
                if owner != mine:
                    other_shards += owner % servers != server
                elif owns_unattributed:
                    quarantined.append((line_no, line, bad.reason))
                else:  # a month file's bad line: the month's first day quarantines it
                    other_dates += 1
                continue
            session_id, epoch_ms = record[1], record[3]
        else:
            session_id, document_id, epoch_ms = fields
        if shards > 1 and digest is None:
            digest = session_digest(session_id)
            if digest % shards != mine:
                other_shards += digest % servers != server
                continue
        if not start <= epoch_ms < end:  # the rare path: a click of another day
            if _left_to_another_day(share, epoch_ms):
                other_dates += 1
            else:
                quarantined.append((line_no, line, other_event_date_reason(epoch_ms, share)))
            continue
        keys.append(session_id.encode())
        values.append(encode(line, record, line_no) if fields is None
                      else splice(line, session_id, document_id, epoch_ms, line_no))
        if share.keep_times:
            times.append(epoch_ms)
    out.lines, out.other_shards, out.other_dates = lines, other_shards, other_dates
    return out


def _left_to_another_day(share: DayShare, epoch_ms: int) -> bool:
    """Whether another day's replay of the same file accounts for this click of another day."""
    if share.file_start_ms is not None and share.file_start_ms <= epoch_ms < share.file_end_ms:
        return True  # a day of the month file: that day's replay produces it
    return not share.owns_unattributed  # outside the file's days: the month's first day quarantines it
