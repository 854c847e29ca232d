"""Process and port helpers shared by the local service managers (Linux-first, stdlib only)."""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path


class ServiceError(RuntimeError):
    """A local service failed to start or is unhealthy; the message includes the log tail."""


class PortInUseError(ServiceError):
    """The configured port is held by a process that is not ours; the message names the setting."""


# --- pid files -------------------------------------------------------------------------------


def read_pid(path: Path) -> int | None:
    """The first line of a pid file as an int, or None when missing or unreadable."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def write_pid(path: Path, pid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{pid}\n")
    tmp.replace(path)


def remove_file(path: Path) -> None:
    path.unlink(missing_ok=True)


# --- processes -------------------------------------------------------------------------------


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return "?"
    # The command name (field 2) may contain spaces and parentheses: the state follows the last ')'.
    return stat.rsplit(")", 1)[1].split()[0]


def is_alive(pid: int | None) -> bool:
    """True when ``pid`` runs. A zombie counts as stopped: PID 1 may never reap orphans."""
    if not pid or pid <= 0:
        return False
    if Path("/proc").is_dir() and Path("/proc/self").exists():
        state = _proc_state(pid)
        return state is not None and state not in ("Z", "X")
    try:  # no procfs (macOS): zombies cannot be told apart here
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot, ``/proc/<pid>/stat`` field 22); None if unknown.

    A pid and its start time name one process: a recycled pid has another start time.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def same_process_alive(pid: int | None, started: int | None) -> bool:
    """True when ``pid`` runs and is the process that started at ``started`` (not a recycled pid)."""
    return is_alive(pid) and (started is None or start_ticks(pid) in (None, started))


def cmdline(pid: int) -> list[str]:
    """The argv of ``pid`` (empty when unknown)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our child, so it does not stay a zombie of this process."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _signal(pid: int, sig: int) -> None:
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    try:
        # Signal the whole group only when pid leads its own group (never our own group).
        if pgid == pid and pgid != os.getpgrp():
            os.killpg(pgid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def stop_pid(pid: int, timeout: float = 15, sig: int = signal.SIGTERM) -> bool:
    """Send ``sig`` (to the process group when ``pid`` leads one), wait, then SIGKILL.

    Returns True when the process is gone (or a zombie) afterwards.
    """
    if not is_alive(pid):
        _reap(pid)
        return True
    _signal(pid, sig)
    if _wait_gone(pid, timeout):
        return True
    _signal(pid, signal.SIGKILL)
    return _wait_gone(pid, 5)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        _reap(pid)
        if not is_alive(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``predicate`` until it returns True; raise ServiceError naming ``what`` on timeout.

    The predicate may raise ServiceError itself to stop waiting early (e.g. the process died).
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise ServiceError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


# --- ports -----------------------------------------------------------------------------------


def port_in_use(host: str, port: int) -> bool:
    """True when ``host:port`` cannot be bound (someone listens on it or holds it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR: sockets in TIME_WAIT from a previous run must not count as "in use".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def _socket_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    inodes.discard("0")
    return inodes


def port_owner(port: int) -> int | None:
    """Best effort: the pid of a process holding a TCP socket on ``port`` (None if unknown)."""
    inodes = _socket_inodes(port)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in targets:
                    return int(proc.name)
        except OSError:
            continue
    return None


def ensure_port_free(host: str, port: int, setting: str) -> None:
    """Raise PortInUseError naming ``setting`` when ``host:port`` is taken."""
    if not port_in_use(host, port):
        return
    owner = port_owner(port)
    who = f" (pid {owner})" if owner else ""
    raise PortInUseError(
        f"{setting}: {host}:{port} is already in use by another process{who}; choose another port"
    )


def tcp_accepts(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --- logs ------------------------------------------------------------------------------------


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def log_tail(path: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of a log file (for error messages)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 16384))
            text = fh.read().decode(errors="replace")
    except OSError:
        return f"(no log at {path})"
    text = _ANSI.sub("", text)  # tansu colours its log lines
    tail = "\n".join(text.splitlines()[-lines:])
    return tail or f"(log {path} is empty)"


def with_log(message: str, path: Path) -> str:
    """``message`` followed by the tail of the log at ``path``."""
    return f"{message}\n--- last lines of {path} ---\n{log_tail(path)}"
