"""Producers: one replay process per web server, local subprocesses through Dagster Pipes.

Each local producer is registered while it runs (a lease file under ``<logs_dir>/.producers/``
naming it and the process that orchestrates it). When the producer step starts, a producer of
the same topic and days whose orchestrating process is gone (a run worker that was killed) is a
leftover that would keep sending into the new run's offset ranges: it is stopped first (the fence).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
from pydantic import Field, field_validator

from tripclick_assets.lib.kafka.producer_summary import synthetic_days
from tripclick_assets.resources.kafka import KafkaResource
from tripclick_assets.settings import names_repeat


class SyntheticSource(dg.Config):
    """Generate real-format logs for days that have no file yet (no real records are shipped)."""

    enabled: bool = True
    seed: int = 0
    volume: int | None = Field(default=None, description="events per day; default grows like TripClick (~1,850/day)")
    duplicate_rate: float = Field(default=0.02, ge=0, le=1)
    malformed_rate: float = Field(default=0.001, ge=0, le=1)
    bot_sessions: int = Field(default=1, ge=0)


def producer_args(
    *, days: list[date], server_index: int, servers: list[str], logs_dir: str, kafka: KafkaResource,
    mode: str, speedup: float, delivery_timeout_s: float,
) -> list[str]:
    """The ``tripclick-producer`` arguments for one server (the same program runs in containers)."""
    return [
        "--event-date", days[0].isoformat(), "--end-date", days[-1].isoformat(),
        "--server-index", str(server_index), "--server-count", str(len(servers)),
        "--server-name", servers[server_index], "--source", logs_dir,
        "--bootstrap-servers", kafka.bootstrap_servers, "--topic", kafka.topic, "--dlq-topic", kafka.dlq_topic,
        "--partitions", str(kafka.partitions), "--replication-factor", str(kafka.replication_factor),
        "--mode", mode, "--speedup", str(speedup), "--delivery-timeout", str(delivery_timeout_s),
    ]


def check_server_names(names: list[str]) -> None:
    """``producers.servers``: at least one server, each named once."""
    if not names or names_repeat(names):
        raise ValueError(f"producers.servers must be a non-empty list of unique names, got {names!r}")


class ProducersResource(dg.ConfigurableResource):
    """Where the web-server producers run; subclasses decide how (subprocess, Docker)."""

    servers: list[str] = Field(default=["server0", "server1"])

    @field_validator("servers")
    @classmethod
    def _servers_unique(cls, value: list[str]) -> list[str]:
        check_server_names(value)
        return value

    def replay(
        self, context: dg.AssetExecutionContext, days: list[date], *, kafka: KafkaResource,
        mode: str = "batch", speedup: float = 24.0,
    ) -> list[dict]:
        raise NotImplementedError


class LocalProducersResource(ProducersResource):
    """Web-server producers as local subprocesses (one per server) reporting through Dagster Pipes."""

    logs_dir: str = Field(description="directory of YYYY-MM-DD.json TripClick logs")
    synthetic: SyntheticSource = SyntheticSource()
    delivery_timeout_s: float = Field(default=30.0, gt=0)

    def prepare_sources(self, days: list[date]) -> list:
        """Generate the synthetic days that have no log file yet; returns their GenerationSummary."""
        if not self.synthetic.enabled:
            return []
        from tripclick_assets.lib.source.synthetic import ensure_days

        s = self.synthetic
        return ensure_days(
            self.logs_dir, days, seed=s.seed, volume=s.volume, duplicate_rate=s.duplicate_rate,
            malformed_rate=s.malformed_rate, bot_sessions=s.bot_sessions,
        )

    @property
    def leases_dir(self) -> Path:
        """Where the running local producers are registered (the fence reads it)."""
        return Path(self.logs_dir) / ".producers"

    def replay(
        self, context: dg.AssetExecutionContext, days: list[date], *, kafka: KafkaResource,
        mode: str = "batch", speedup: float = 24.0,
    ) -> list[dict]:
        """Run every server's producer for ``days``; returns their summaries (one per server)."""
        fence_leftover_producers(self.leases_dir, topic=kafka.topic, bootstrap_servers=kafka.bootstrap_servers,
                                 days=days, log=context.log)
        generated = synthetic_days(self.prepare_sources(days))
        summaries = []
        for index, server in enumerate(self.servers):
            command = [sys.executable, "-m", "tripclick_assets.producer", *producer_args(
                days=days, server_index=index, servers=self.servers, logs_dir=self.logs_dir, kafka=kafka,
                mode=mode, speedup=speedup, delivery_timeout_s=self.delivery_timeout_s,
            )]
            lease = {"run_id": context.run.run_id, "server": server, "topic": kafka.topic,
                     "bootstrap_servers": kafka.bootstrap_servers, "days": [days[0].isoformat(), days[-1].isoformat()]}
            messages = run_registered_producer(context, command, kafka.security_env(), self.leases_dir, lease)
            if not messages:
                raise dg.Failure(f"producer {server} finished without reporting a summary")
            summary = dict(messages[-1])
            if generated:  # the days this run generated: the asset marks them synthetic
                summary["synthetic_days"] = {**summary.get("synthetic_days", {}), **generated}
            summaries.append(summary)
        return summaries


# --- the fence: leftover local producers of the same days ---------------------------------------


def _process(pid: int) -> dict:
    from tripclick_assets.services._process import start_ticks

    return {"pid": pid, "started": start_ticks(pid)}


def _alive(process: dict | None) -> bool:
    from tripclick_assets.services._process import same_process_alive

    return bool(process) and same_process_alive(process.get("pid"), process.get("started"))


def _overlaps(span: list[str], days: list[date]) -> bool:
    return span[0] <= days[-1].isoformat() and days[0].isoformat() <= span[-1]


def fence_leftover_producers(leases_dir: Path, *, topic: str, bootstrap_servers: str, days: list[date],
                             log) -> list[dict]:
    """Stops every registered producer of ``topic`` replaying any of ``days`` whose orchestrator is gone.

    A run worker killed mid-step (SIGKILL, OOM) leaves its producer running: it would keep sending
    into the next run's offset ranges. Such a producer (its process group: the producer and the
    processes it spawned) is stopped before this step starts its own; returns the leases of those
    stopped. A producer whose orchestrating process still runs belongs to a step running at the
    same time (outside the run queue): it is left alone, and what both send shows in bronze as
    repeated deliveries. Leases of producers that ended are removed.
    """
    from tripclick_assets.services._process import stop_pid

    stopped = []
    for path in sorted(leases_dir.glob("*.json")) if leases_dir.is_dir() else []:
        try:
            lease = json.loads(path.read_text())
            producer, owner = lease["producer"], lease["owner"]
            mine = lease["topic"] == topic and lease["bootstrap_servers"] == bootstrap_servers
            overlapping = _overlaps(lease["days"], days)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being written, or not ours
        if not _alive(producer):
            path.unlink(missing_ok=True)
            continue
        if not (mine and overlapping):
            continue
        what = (f"producer pid {producer['pid']} ({lease.get('server')}, days {lease['days'][0]}..{lease['days'][-1]}, "
                f"run {lease.get('run_id')})")
        if _alive(owner):
            log.warning(f"{what} is still running for a step of pid {owner['pid']} that runs at the same time: "
                        "left alone; records both send into the same ranges show as repeated deliveries")
            continue
        log.warning(f"fencing {what}: its orchestrating process {owner['pid']} is gone but it still sends into "
                    f"{topic}; stopping it before this step produces")
        stop_pid(producer["pid"], timeout=10)
        path.unlink(missing_ok=True)
        stopped.append(lease)
    return stopped


def run_registered_producer(context, command: list[str], env: dict[str, str], leases_dir: Path,
                            lease: dict) -> list:
    """Runs one producer through Dagster Pipes (as ``PipesSubprocessClient``), registered while it runs.

    The producer leads its own process group, so the fence stops it and the processes it spawned
    together. Returns its custom messages; a non-zero exit raises.
    """
    from dagster._core.errors import DagsterPipesExecutionError

    with dg.open_pipes_session(context=context, context_injector=dg.PipesTempFileContextInjector(),
                               message_reader=dg.PipesTempFileMessageReader()) as session:
        process = subprocess.Popen(command, env={**os.environ, **env, **session.get_bootstrap_env_vars()},
                                   start_new_session=True)
        leases_dir.mkdir(parents=True, exist_ok=True)
        path = leases_dir / f"{lease['run_id'][:8]}-{lease['server']}-{process.pid}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**lease, "producer": _process(process.pid), "owner": _process(os.getpid())}))
        tmp.replace(path)
        try:
            process.wait()
            if process.returncode != 0:
                raise DagsterPipesExecutionError(f"External execution process failed with code {process.returncode}")
        except dg.DagsterExecutionInterruptedError:
            context.log.info("[pipes] execution interrupted, sending SIGINT to the producer")
            _stop_group(process, signal.SIGINT)
            raise
        finally:
            if process.poll() is None:
                _stop_group(process, signal.SIGTERM)
            path.unlink(missing_ok=True)
    return session.get_custom_messages()  # complete once the session has closed


def _stop_group(process: subprocess.Popen, sig: int, timeout: float = 20) -> None:
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
