"""What one producer replays and how it talks to Kafka: the replay's settings and the client config."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tripclick_assets.lib.kafka.topics import DLQ_TOPIC, TOPIC
from tripclick_assets.producer import local_shards

# librdkafka's local queue (queue.buffering.max.messages); a batch is only handed over whole.
LOCAL_QUEUE_MESSAGES = 200_000


@dataclass(frozen=True)
class ReplayConfig:
    logs_dir: Path
    bootstrap_servers: str
    mode: str = "batch"  # batch | realtime
    server_index: int = 0
    server_count: int = 1
    server_name: str | None = None
    speedup: float = 24.0
    topic: str = TOPIC
    dlq_topic: str = DLQ_TOPIC
    partitions: int = 3
    replication_factor: int = 1
    delivery_timeout_s: float = 30.0
    kafka_config: Mapping[str, str] = field(default_factory=dict)  # security etc.
    # Extra processes that each replay a part of this server's sessions with their own
    # producer (batch mode, big files); None: one per spare core, at most three; 0: none.
    workers: int | None = None

    def __post_init__(self):
        if self.mode not in ("batch", "realtime"):
            raise ValueError(f"mode must be 'batch' or 'realtime', got {self.mode!r}")
        if not 0 <= self.server_index < self.server_count:
            raise ValueError(
                f"server_index must be in [0, server_count={self.server_count}), got {self.server_index}"
            )
        if self.speedup <= 0:
            raise ValueError(f"speedup must be positive, got {self.speedup}")
        if self.workers is not None and self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")

    def processes_for(self, source_bytes: int) -> int:
        """How many local processes replay sources of this size."""
        if self.mode == "realtime" or source_bytes < local_shards.MIN_SOURCE_BYTES:
            return 1  # paced replays are slow by design; small files are not worth a process start
        return 1 + (local_shards.default_workers() if self.workers is None else self.workers)

    @property
    def server(self) -> str:
        return self.server_name or f"server{self.server_index}"


def producer_config(config: ReplayConfig) -> dict:
    return {
        "bootstrap.servers": config.bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": "zstd",
        "linger.ms": 20,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": LOCAL_QUEUE_MESSAGES,
        "message.send.max.retries": 10,
        "retry.backoff.ms": 200,
        "delivery.timeout.ms": int(config.delivery_timeout_s * 1000),
        "socket.connection.setup.timeout.ms": int(min(config.delivery_timeout_s, 10) * 1000),
        **dict(config.kafka_config),
    }
