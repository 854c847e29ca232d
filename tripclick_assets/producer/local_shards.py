"""A server's batch replay split over local processes, each producing its own part of the sessions.

Producing costs Python time per message (the client call and its delivery report), as
parsing does, so a big file is replayed by ``workers + 1`` processes: this one and
``workers`` spawned ones, each with its own Kafka producer and its own part of the
server's sessions (``DayShare.local_index``). Each session still comes from one process in
file order, so its clicks keep their order on their partition. A spawned process that
fails or dies has its part replayed again by this one: messages it had delivered are then
sent twice (at least once; silver drops them by ``dedup_key``), never lost.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable

# Starting a process costs more than replaying a small file in this one.
MIN_SOURCE_BYTES = 8 * 1024 * 1024


def default_workers() -> int:
    """One extra producing process per spare core this process may run on, at most three."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(3, max(0, cores - 1))


def replay_in_processes(run_share: Callable, config, days: list, processes: int,
                        progress: Callable[[str], None], progress_every_s: float) -> tuple[list[dict], list[int]]:
    """Runs ``run_share(config, days, index, processes, ...)`` for every index; returns (results, replayed here)."""
    context = multiprocessing.get_context("spawn")  # not fork: librdkafka threads may already run here
    children = []
    try:
        for index in range(1, processes):
            receiver, sender = context.Pipe(duplex=False)
            child = context.Process(target=_child, name=f"tripclick-producer-{index}", daemon=True,
                                    args=(run_share, config, days, index, processes, progress_every_s, sender,
                                          os.getpid()))
            child.start()
            sender.close()  # so a child that dies shows as EOF here
            children.append((index, child, receiver))
        results = [run_share(config, days, 0, processes, progress, progress_every_s)]
        replayed_here = []
        for index, child, receiver in children:
            result = _receive(receiver, child)
            if isinstance(result, str):
                progress(f"[{config.server}] error: producer process {index + 1}/{processes} {result}; "
                         f"replaying its sessions here")
                result = run_share(config, days, index, processes, progress, progress_every_s)
                replayed_here.append(index)
            results.append(result)
        return results, replayed_here
    finally:
        for _, child, receiver in children:
            receiver.close()
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
                child.join()


def _receive(receiver, child) -> dict | str:
    """The child's result, or why there is none."""
    try:
        return receiver.recv()
    except (EOFError, OSError):
        child.join(timeout=10)
        return f"exited with code {child.exitcode} before reporting"


def _child(run_share, config, days, index, processes, progress_every_s, sender, parent_pid) -> None:
    _exit_with_parent(parent_pid)
    try:
        result = run_share(config, days, index, processes, _to_stderr, progress_every_s)
    except BaseException as exc:  # the parent replays this part; tell it why
        sender.send(f"failed: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"[:4000])
        raise
    sender.send(result)
    sender.close()


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _exit_with_parent(parent_pid: int) -> None:
    """A child whose parent died (SIGKILL, OOM, a stopped container) exits too."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
