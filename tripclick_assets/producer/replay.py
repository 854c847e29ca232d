"""Replay one day of TripClick logs into Kafka (batch or paced realtime).

Counts come only from delivery reports: a message is ``sent`` once the broker
acknowledged it (acks=all), ``failed`` otherwise; a line that cannot become an event
goes to the dead-letter topic with its reason and is ``quarantined``.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from confluent_kafka import KafkaException, Producer

from tripclick_assets.lib.events import DLQ_TOPIC, TOPIC, build_event, encode_event, shard_of
from tripclick_assets.lib.kafka_topics import ensure_topics
from tripclick_assets.lib.tripclick_logs import MalformedRecord, find_day_source, iter_lines, parse_record

# A quarantined line is kept whole up to this size; longer ones are cut (the header says so).
DLQ_MAX_VALUE_BYTES = 16 * 1024


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

    def __post_init__(self):
        if self.mode not in ("batch", "realtime"):
            raise ValueError(f"mode must be 'batch' or 'realtime', got {self.mode!r}")
        if not 0 <= self.server_index < self.server_count:
            raise ValueError(
                f"server_index must be in [0, server_count={self.server_count}), got {self.server_index}"
            )
        if self.speedup <= 0:
            raise ValueError(f"speedup must be positive, got {self.speedup}")

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
        "queue.buffering.max.messages": 200000,
        "message.send.max.retries": 10,
        "retry.backoff.ms": 200,
        "delivery.timeout.ms": int(config.delivery_timeout_s * 1000),
        "socket.connection.setup.timeout.ms": int(min(config.delivery_timeout_s, 10) * 1000),
        **dict(config.kafka_config),
    }


class _Deliveries:
    """Delivery-report bookkeeping: per-partition offset ranges of acknowledged messages."""

    def __init__(self):
        self.sent = 0
        self.failed = 0
        self.dlq_sent = 0
        self.dlq_failed = 0
        self.errors: Counter[str] = Counter()
        self.partitions: dict[int, list[int]] = {}  # partition -> [first, last, count]

    def on_event(self, err, msg):
        if err is not None:
            self.failed += 1
            self.errors[str(err)] += 1
            return
        self.sent += 1
        entry = self.partitions.get(msg.partition())
        offset = msg.offset()
        if entry is None:
            self.partitions[msg.partition()] = [offset, offset, 1]
        else:
            entry[0] = min(entry[0], offset)
            entry[1] = max(entry[1], offset)
            entry[2] += 1

    def on_dlq(self, err, msg):
        if err is not None:
            self.dlq_failed += 1
            self.errors[f"dlq: {err}"] += 1
        else:
            self.dlq_sent += 1


class ProducerFatal(RuntimeError):
    """librdkafka gave up on the producer (e.g. the broker lost the idempotent producer id)."""


def _produce(producer: Producer, topic: str, **kwargs) -> bool:
    """Queue one message; False when the client rejected it outright (it then counts as failed)."""
    while True:
        try:
            producer.produce(topic, **kwargs)
            return True
        except BufferError:
            producer.poll(0.05)  # local queue full: let delivery reports drain it
        except KafkaException as exc:
            if exc.args[0].fatal():
                raise ProducerFatal(str(exc.args[0])) from None
            return False


def _drain(producer: Producer, timeout_s: float) -> None:
    """Wait for outstanding delivery reports; what is still queued at the deadline counts as failed.

    After a fatal error confluent-kafka can raise SystemError out of flush()/poll(); the
    summary must still be written, so such errors end the wait instead of the process.
    """
    try:
        producer.flush(timeout_s)
        return
    except (SystemError, KafkaException):
        pass
    deadline = time.monotonic() + timeout_s
    while len(producer) > 0 and time.monotonic() < deadline:
        try:
            producer.poll(0.1)
        except (SystemError, KafkaException):
            return


class _ProducerState:
    """Shared by the days of one replay: once fatal, nothing more is sent."""

    def __init__(self):
        self.fatal: str | None = None


def _day_start_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)


class _DayReplay:
    """One day's pass over its source file into an already-open producer."""

    def __init__(self, config: ReplayConfig, producer: Producer, state: _ProducerState, day: date,
                 progress: Callable[[str], None]):
        self.config, self.producer, self.state, self.day, self.progress = config, producer, state, day, progress
        self.day_str = f"{day:%Y-%m-%d}"
        self.source = find_day_source(config.logs_dir, day)
        self.deliveries = _Deliveries()
        self.quarantine_reasons: Counter[str] = Counter()
        self.lines = self.other_shards = self.other_dates = self.produced = self.quarantined = 0
        self.not_sent = 0  # valid lines never handed to Kafka (fatal producer error or client rejection)

    def run(self, progress_every_s: float) -> None:
        config, producer, deliveries = self.config, self.producer, self.deliveries
        is_month_file = self.source.stem != self.day_str
        # Unattributable bad lines of a month file are quarantined once, by the month's first day.
        owns_unattributed = not is_month_file or self.day.day == 1
        topic, server, source_name, day = config.topic, config.server, self.source.name, self.day_str
        pace_origin_ms, wall_origin = _day_start_ms(self.day), time.monotonic()
        next_progress = wall_origin + progress_every_s
        for line_no, line in iter_lines(self.source):
            self.lines += 1
            try:
                record = parse_record(line)
            except MalformedRecord as bad:
                # A bad line has no trustworthy session to shard on: servers reading the
                # same file split them by line number so each is quarantined exactly once.
                if owns_unattributed and line_no % config.server_count == config.server_index:
                    self._quarantine(line_no, line, bad.reason)
                continue
            if config.server_count > 1 and shard_of(record.session_id, config.server_count) != config.server_index:
                self.other_shards += 1
                continue
            event = build_event(record, server=server, source_file=source_name, source_line=line_no)
            if event["event_date"] != day:
                self.other_dates += 1
                continue
            if config.mode == "realtime":
                due = wall_origin + (record.epoch_ms - pace_origin_ms) / 1000.0 / config.speedup
                while (delay := due - time.monotonic()) > 0:
                    producer.poll(min(delay, 0.2))
            if not self._send(topic, value=encode_event(event), key=record.session_id.encode(),
                              on_delivery=deliveries.on_event):
                self.not_sent += 1
                continue
            self.produced += 1
            if self.produced % 1000 == 0:
                producer.poll(0)
                now = time.monotonic()
                if now >= next_progress:
                    next_progress = now + progress_every_s
                    self.progress(f"[{server} {day}] produced {self.produced}, acknowledged "
                                  f"{deliveries.sent}, failed {deliveries.failed}, quarantined {self.quarantined}")

    def _send(self, topic: str, **kwargs) -> bool:
        if self.state.fatal is not None:
            return False
        try:
            return _produce(self.producer, topic, **kwargs)
        except ProducerFatal as exc:
            self.state.fatal = str(exc)
            self.progress(f"[{self.config.server} {self.day_str}] error: Kafka producer failed for good: {exc}; "
                          "every line not yet acknowledged is reported failed")
            return False

    def _quarantine(self, line_no: int, line: bytes, reason: str) -> None:
        self.quarantined += 1
        self.quarantine_reasons[reason.split(":")[0]] += 1
        name = self.source.name
        self._send(
            self.config.dlq_topic, value=line[:DLQ_MAX_VALUE_BYTES], key=f"{name}:{line_no}".encode(),
            headers=[
                ("reason", reason.encode("utf-8", "replace")[:1024]),
                ("source_file", name.encode()), ("source_line", str(line_no).encode()),
                ("server", self.config.server.encode()), ("event_date", self.day_str.encode()),
                ("original_bytes", str(len(line)).encode()),
            ],
            on_delivery=self.deliveries.on_dlq,
        )

    def settle(self) -> None:
        """After the producer flushed: whatever was not acknowledged has failed."""
        d = self.deliveries
        unacknowledged = self.produced - d.sent - d.failed
        if unacknowledged > 0:
            d.failed += unacknowledged
            d.errors["not acknowledged before the flush timeout"] += unacknowledged
        if self.not_sent:
            d.failed += self.not_sent
            d.errors[f"not sent: {self.state.fatal or 'rejected by the client'}"[:300]] += self.not_sent
        dlq_unacknowledged = self.quarantined - d.dlq_sent - d.dlq_failed
        if dlq_unacknowledged > 0:
            d.dlq_failed += dlq_unacknowledged

    def summary(self) -> dict:
        d = self.deliveries
        return {
            "event_date": self.day_str,
            "source_file": str(self.source),
            "lines": self.lines,
            "produced": self.produced,
            "sent": d.sent,
            "failed": d.failed,
            "quarantined": self.quarantined,
            "quarantine_delivered": d.dlq_sent,
            "quarantine_failed": d.dlq_failed,
            "quarantine_reasons": dict(self.quarantine_reasons),
            "skipped_other_servers": self.other_shards,
            "skipped_other_dates": self.other_dates,
            "partitions": {
                str(p): {"first": first, "last": last, "count": count}
                for p, (first, last, count) in sorted(d.partitions.items())
            },
            "errors": dict(d.errors.most_common(5)),
        }


_TOTALS = ("lines", "produced", "sent", "failed", "quarantined", "quarantine_failed")


def replay_days(
    config: ReplayConfig,
    days: list[date],
    progress: Callable[[str], None] | None = None,
    progress_every_s: float = 5.0,
) -> dict:
    """Produce the server's share of each day with one producer; returns the summary dict.

    All sources are located before anything is sent, so a missing day fails the whole
    call up front instead of half-way through a range.
    """
    progress = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    started = time.monotonic()
    for day in days:
        find_day_source(config.logs_dir, day)
    ensure_topics(
        {"bootstrap.servers": config.bootstrap_servers, **dict(config.kafka_config)},
        (config.topic, config.dlq_topic), partitions=config.partitions,
        replication_factor=config.replication_factor, timeout=min(config.delivery_timeout_s, 10.0),
    )
    producer = Producer(producer_config(config))
    state = _ProducerState()
    replays = []
    for day in days:
        replay = _DayReplay(config, producer, state, day, progress)
        replay.run(progress_every_s)
        replays.append(replay)
        if config.mode == "realtime":
            _drain(producer, config.delivery_timeout_s + 5)
    _drain(producer, config.delivery_timeout_s + 5)
    for replay in replays:
        replay.settle()
    seconds = time.monotonic() - started
    day_summaries = [r.summary() for r in replays]
    summary = {
        "server": config.server,
        "mode": config.mode,
        "topic": config.topic,
        "dlq_topic": config.dlq_topic,
        "fatal_error": state.fatal,
        "days": day_summaries,
        **{key: sum(d[key] for d in day_summaries) for key in _TOTALS},
        "seconds": round(seconds, 3),
    }
    produced = summary["produced"]
    summary["events_per_second"] = round(produced / seconds, 1) if seconds > 0 else None
    progress(f"[{config.server}] done {len(days)} day(s): sent {summary['sent']}, failed "
             f"{summary['failed']}, quarantined {summary['quarantined']} in {seconds:.1f}s")
    return summary
