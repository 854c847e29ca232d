"""Helpers shared by the benchmark scripts: free ports, local services, peak memory, output.

The scripts import this module as ``_common`` (Python puts the script's own directory,
``benchmarks/``, first on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil

from tripclick_assets.services import BrokerService, PostgresService


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_services(home: Path, *, postgres: bool = False):
    """Start the embedded broker (and PostgreSQL) on free loopback ports; stop them by PID at the end."""
    services = [BrokerService(home, port=free_port())]
    if postgres:
        services.append(PostgresService(home, port=free_port()))
    try:
        for service in services:
            service.start()
            print(f"started {service.name} pid {service.pid} on port {service.port}", flush=True)
        yield services[0], (services[1] if postgres else None)
    finally:
        for service in reversed(services):
            pid = service.pid
            service.stop()  # signals the pid recorded at start (pid file / postmaster.pid), then waits
            if pid is not None:
                print(f"stopped {service.name} pid {pid}", flush=True)


@contextlib.contextmanager
def stdout_to_file(path: Path):
    """Send file descriptor 1 (this process's and its children's) to ``path`` for a while.

    Dagster's producer subprocesses inherit our stdout and print a JSON summary each; this
    keeps them out of the benchmark's own output, whose last line must be its JSON figures.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    with open(path, "ab") as target:
        os.dup2(target.fileno(), 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


class PeakRss:
    """Peak resident memory of this process and all its descendants, sampled in a thread.

    ``peak_tree`` is the largest sum of RSS over the process tree seen at one sample
    (shared pages are counted once per process, so it slightly over-counts);
    ``peak_self`` is this Python process alone.
    """

    def __init__(self, interval_s: float = 0.1):
        self.interval_s = interval_s
        self.peak_tree = 0
        self.peak_self = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_loop, daemon=True)

    def _sample_once(self) -> None:
        me = psutil.Process()
        own = me.memory_info().rss
        total = own
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        self.peak_self = max(self.peak_self, own)
        self.peak_tree = max(self.peak_tree, total)

    def _sample_loop(self) -> None:
        while not self._stop.is_set():
            self._sample_once()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakRss:
        self._sample_once()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample_once()


def mib(n_bytes: int) -> float:
    return round(n_bytes / 2**20, 1)


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("inf")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def machine() -> dict:
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        # The machine may be shared: a busy one slows both sides of a comparison, not only one.
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def emit_json(figures: dict) -> None:
    """The last stdout line: every figure of the run as one JSON object."""
    print(json.dumps(figures, sort_keys=True, default=str), flush=True)


class Stopwatch:
    """``with Stopwatch() as t: ...`` then ``t.seconds``."""

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start
