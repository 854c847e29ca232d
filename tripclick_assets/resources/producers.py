"""Producers: one replay process per web server, local subprocesses through Dagster Pipes."""

from __future__ import annotations

import sys
from datetime import date

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

    def replay(
        self, context: dg.AssetExecutionContext, days: list[date], *, kafka: KafkaResource,
        mode: str = "batch", speedup: float = 24.0,
    ) -> list[dict]:
        """Run every server's producer for ``days``; returns their summaries (one per server)."""
        generated = synthetic_days(self.prepare_sources(days))
        client = dg.PipesSubprocessClient()
        summaries = []
        for index, server in enumerate(self.servers):
            command = [sys.executable, "-m", "tripclick_assets.producer", *producer_args(
                days=days, server_index=index, servers=self.servers, logs_dir=self.logs_dir, kafka=kafka,
                mode=mode, speedup=speedup, delivery_timeout_s=self.delivery_timeout_s,
            )]
            invocation = client.run(command=command, context=context, env=kafka.security_env())
            messages = invocation.get_custom_messages()
            if not messages:
                raise dg.Failure(f"producer {server} finished without reporting a summary")
            summary = dict(messages[-1])
            if generated:  # the days this run generated: the asset marks them synthetic
                summary["synthetic_days"] = {**summary.get("synthetic_days", {}), **generated}
            summaries.append(summary)
        return summaries
