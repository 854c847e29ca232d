"""Dagster Pipes over plain text streams (container logs, SSH channels).

A remote process's stdout/stderr arrive as bytes; :class:`LineSplitter` cuts each stream
into whole lines and :class:`RemoteOutput` routes them: Pipes messages to the session
(through :class:`PipesLineReader`), every other line into a tail of the last lines (for
the failure message) and the run log.
"""

import collections
import json
from contextlib import contextmanager

import dagster as dg
from dagster_pipes import PIPES_PROTOCOL_VERSION_FIELD, PipesDefaultMessageWriter


class PipesLineReader(dg.PipesMessageReader):
    """Pipes messages written to stdio, picked out of lines the caller reads (container logs, SSH channels)."""

    def __init__(self, stream: str = PipesDefaultMessageWriter.STDERR):
        self._stream = stream
        self._handler = None

    @contextmanager
    def read_messages(self, handler):
        self._handler = handler
        try:
            yield {PipesDefaultMessageWriter.STDIO_KEY: self._stream}
        finally:
            self._handler = None

    def handle_line(self, line: str) -> bool:
        """Hands a Pipes message to the session; False for any other line."""
        if self._handler is None or PIPES_PROTOCOL_VERSION_FIELD not in line:
            return False
        try:
            message = json.loads(line)
        except ValueError:
            return False
        if not isinstance(message, dict) or PIPES_PROTOCOL_VERSION_FIELD not in message:
            return False
        self._handler.handle_message(message)
        return True

    def no_messages_debug_text(self) -> str:
        return "Pipes messages are read from the process's stdout/stderr lines."


class LineSplitter:
    """One byte stream cut into whole text lines (UTF-8, invalid bytes replaced, CRLF as LF)."""

    def __init__(self):
        self._pending = b""

    def feed(self, data: bytes) -> list[str]:
        """The lines ``data`` completes; a last partial line waits for the rest."""
        *lines, self._pending = (self._pending + data).split(b"\n")
        return [line.decode("utf-8", "replace").rstrip("\r") for line in lines]

    def end(self) -> list[str]:
        """Once the stream ended: its last line if it had no newline."""
        rest, self._pending = self._pending, b""
        return [rest.decode("utf-8", "replace")] if rest else []


class RemoteOutput:
    """The output lines of one remote process: Pipes messages to its session, the rest to ``tail`` and the run log.

    By default a line is kept as ``"<stream>: <line>"`` and logged at DEBUG as
    ``[<label> <stream>] <line>``; subclasses change that in :meth:`keep` and :meth:`log_line`.
    """

    def __init__(self, reader: PipesLineReader, log, label: str, tail_lines: int, streams=("stdout", "stderr")):
        self.reader, self.log, self.label = reader, log, label
        self.tail = collections.deque(maxlen=tail_lines)
        self._splitters = {stream: LineSplitter() for stream in streams}

    def feed(self, stream: str, data: bytes) -> None:
        """Bytes read from ``stream``: each line they complete is handled now."""
        for line in self._splitters[stream].feed(data):
            self.handle(stream, line)

    def end(self) -> None:
        """The streams ended: handle what was left without a newline."""
        for stream, splitter in self._splitters.items():
            for line in splitter.end():
                self.handle(stream, line)

    def handle(self, stream: str, line: str) -> None:
        if self.reader.handle_line(line):
            return
        self.keep(stream, line)
        self.log_line(stream, line)

    def keep(self, stream: str, line: str) -> None:
        self.tail.append(f"{stream}: {line}")

    def log_line(self, stream: str, line: str) -> None:
        self.log.debug(f"[{self.label} {stream}] {line}")
