"""The event contract on Kafka (docs/contracts.md): raw fields + event_ts, event_date, dedup_key, provenance.

Every producer, in any language or container, must compute the same ``dedup_key``:
lowercase hex of ``xxh64(f"{session_id}|{document_id}|{event_ts}", seed=0)`` with
``event_ts`` formatted exactly as :func:`format_event_ts` does.
"""

from __future__ import annotations

import time
from typing import Annotated

import msgspec
import orjson
import xxhash

from tripclick_assets.lib.source.reader import MAX_DOCUMENT_ID, MAX_LINE_BYTES, ClickRecord, parse_fields

from tripclick_assets.lib.kafka.topics import DLQ_TOPIC, TOPIC  # noqa: F401 - re-exported
PROVENANCE_FIELDS = ("server", "source_file", "source_line")


def format_event_ts(epoch_ms: int) -> str:
    """Epoch milliseconds -> ``2016-01-01T11:41:35.927Z`` (UTC, always three decimals)."""
    seconds, millis = divmod(epoch_ms, 1000)
    t = time.gmtime(seconds)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
        t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, millis
    )


def dedup_key(session_id: str, document_id: int, event_ts: str) -> str:
    return xxhash.xxh64_hexdigest(f"{session_id}|{document_id}|{event_ts}".encode("utf-8"), seed=0)


def session_digest(session_id: str) -> int:
    """The stable hash that shards sessions over servers (and over a server's processes)."""
    return _xxh64_intdigest(session_id.encode("utf-8"))


def shard_of(session_id: str, server_count: int) -> int:
    """Stable server index for a session, so each session is replayed by exactly one server."""
    return session_digest(session_id) % server_count


_SESSION_KEY = b'"SessionId":'
_xxh64_intdigest = xxhash.xxh64_intdigest  # seed 0


def plain_session_digest(line: bytes) -> int | None:
    """:func:`session_digest` of a line's SessionId read from its bytes, without decoding the line.

    Only a plainly written value counts (``"SessionId":"..."`` or ``"SessionId": "..."``,
    ASCII, no escape, no space or control byte at either end, which parsing would strip or
    reject); otherwise None, and the caller decodes the line to learn its session. A JSON
    string cannot hold an unescaped quote, so the pattern cannot match inside another
    field's value.
    """
    # The dump's own layouts first: a 13-digit /Date(ms)/, then a 24-character ASP.NET id.
    if line[39:52] == b'"SessionId":"' and line[76:77] == b'"':  # compact
        raw = line[52:76]
    elif line[41:55] == b'"SessionId": "' and line[79:80] == b'"':  # json.dumps' default spacing
        raw = line[55:79]
    else:
        start = line.find(_SESSION_KEY) + 12
        if start < 12:
            return None
        start += line[start:start + 1] == b" "
        if line[start:start + 1] != b'"':
            return None
        start += 1
        end = line.find(34, start)  # the closing quote
        if end <= start:
            return None
        raw = line[start:end]
    # isalnum() alone settles the usual ids; the byte-wise checks cost more.
    if not raw.isalnum() and (raw[0] <= 32 or raw[-1] <= 32 or 92 in raw or not raw.isascii()):
        return None
    return _xxh64_intdigest(raw)


def build_event(record: ClickRecord, *, server: str, source_file: str, source_line: int) -> dict:
    """The Kafka payload for one record (a new dict; the record is not modified)."""
    event_ts = format_event_ts(record.epoch_ms)
    event = dict(record.raw)
    event["SessionId"] = record.session_id
    event["event_ts"] = event_ts
    event["event_date"] = event_ts[:10]
    event["dedup_key"] = dedup_key(record.session_id, record.document_id, event_ts)
    event["server"] = server
    event["source_file"] = source_file
    event["source_line"] = source_line
    return event


def encode_event(event: dict) -> bytes:
    return orjson.dumps(event)


ADDED_FIELDS = frozenset(("event_ts", "event_date", "dedup_key", *PROVENANCE_FIELDS))
_MILLIS_SUFFIXES = tuple(f".{millis:03d}Z" for millis in range(1000))
_UNSET = msgspec.UNSET


class _ContractFields(msgspec.Struct, gc=False):
    """What the contract reads from a line; the decoder checks the rest's syntax and skips it."""

    DateCreated: str
    SessionId: str
    DocumentId: Annotated[int, msgspec.Meta(ge=0, le=MAX_DOCUMENT_ID)]
    # A line that already holds a field the contract adds fails here and takes the slow path.
    event_ts: msgspec.UnsetType = _UNSET
    event_date: msgspec.UnsetType = _UNSET
    dedup_key: msgspec.UnsetType = _UNSET
    server: msgspec.UnsetType = _UNSET
    source_file: msgspec.UnsetType = _UNSET
    source_line: msgspec.UnsetType = _UNSET


_CONTRACT_DECODER = msgspec.json.Decoder(_ContractFields)


def _is_utf8(line: bytes) -> bool:
    """The fast decoder skips fields without checking their UTF-8, so non-ASCII lines are checked first."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class EventEncoder:
    """Reads log lines and encodes their events for one server and source file, cheaply.

    ``read`` gives the same fields as :func:`parse_fields`, and ``encode`` the same JSON
    object as ``encode_event(build_event(...))``. A line in the dump's own shape (compact,
    valid UTF-8, integer DocumentId, ``/Date(ms)/``, no field named like an added one) is
    checked with a decoder that builds only the three fields the contract needs, and its
    event is the line's own bytes with the added fields spliced in before the closing
    brace. Every other line takes the reference path, which also words the reasons for
    bad lines. Both paths give the same bytes for compact lines such as the dump's.
    """

    def __init__(self, *, server: str, source_file: str):
        self.server, self.source_file = server, source_file
        self._tail = (f',"server":{orjson.dumps(server).decode()}'
                      f',"source_file":{orjson.dumps(source_file).decode()},"source_line":')
        self._second_prefixes: dict[int, str] = {}  # epoch second -> "YYYY-MM-DDTHH:MM:SS"

    def event_ts(self, epoch_ms: int) -> str:
        """Same as :func:`format_event_ts`; a day's clicks share their seconds, so those are cached."""
        seconds, millis = divmod(epoch_ms, 1000)
        prefix = self._second_prefixes.get(seconds)
        if prefix is None:
            if len(self._second_prefixes) > 200_000:
                self._second_prefixes.clear()
            prefix = self._second_prefixes[seconds] = format_event_ts(seconds * 1000)[:-5]
        return prefix + _MILLIS_SUFFIXES[millis]

    def compact_fields(self, line: bytes) -> tuple[str, int, int] | None:
        """(session_id, document_id, epoch_ms) of a line in the dump's own shape, else None."""
        if len(line) <= MAX_LINE_BYTES and line[-1:] == b"}" and (line.isascii() or _is_utf8(line)):
            try:
                c = _CONTRACT_DECODER.decode(line)
            except msgspec.MsgspecError:
                return None  # the reference path says what is wrong, or accepts what it can normalise
            created, session_id = c.DateCreated, c.SessionId
            digits = created[6:-2]
            if (0 < len(digits) <= 15 and digits.isascii() and digits.isdigit()
                    and created[:6] == "/Date(" and created[-2:] == ")/"
                    and session_id and not session_id[0].isspace() and not session_id[-1].isspace()):
                return session_id, c.DocumentId, int(digits)
        return None

    def read(self, line: bytes) -> tuple[dict | None, str, int, int, bool]:
        """(raw or None, session_id, document_id, epoch_ms, normalized); raises MalformedRecord.

        ``raw`` is None when the line took the fast path: its bytes are the raw fields.
        """
        fields = self.compact_fields(line)
        return parse_fields(line) if fields is None else (None, *fields, False)

    def encode(self, line: bytes, record: ClickRecord | tuple, source_line: int) -> bytes:
        """The payload of ``record`` (from :meth:`read`, :func:`parse_fields` or a ClickRecord) read from ``line``."""
        raw, session_id, document_id, epoch_ms, normalized = record
        if raw is not None and (normalized or line[-1:] != b"}" or not ADDED_FIELDS.isdisjoint(raw)):
            return encode_event(build_event(ClickRecord._make(record), server=self.server,
                                            source_file=self.source_file, source_line=source_line))
        return self.splice(line, session_id, document_id, epoch_ms, source_line)

    def splice(self, line: bytes, session_id: str, document_id: int, epoch_ms: int, source_line: int) -> bytes:
        """The payload of a compact line (see :meth:`compact_fields`): its bytes with the added fields."""
        seconds, millis = divmod(epoch_ms, 1000)
        prefix = self._second_prefixes.get(seconds)
        event_ts = prefix + _MILLIS_SUFFIXES[millis] if prefix is not None else self.event_ts(epoch_ms)
        key = xxhash.xxh64_hexdigest(f"{session_id}|{document_id}|{event_ts}".encode(), seed=0)  # dedup_key
        return line[:-1] + (f',"event_ts":"{event_ts}","event_date":"{event_ts[:10]}","dedup_key":"{key}"'
                            f'{self._tail}{source_line}}}').encode()
