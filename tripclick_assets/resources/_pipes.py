"""Dagster Pipes over plain text streams (container logs, SSH channels)."""

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
