"""Replay one day of TripClick logs into Kafka (batch or paced realtime).

Counts come only from delivery reports: a message is ``sent`` once the broker
acknowledged it (acks=all), ``failed`` otherwise; a line that cannot become an event
goes to the dead-letter topic with its reason and is ``quarantined``.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timezone

from confluent_kafka import KafkaException, Producer

from tripclick_assets.lib.kafka.producer_summary import merge_day_parts
from tripclick_assets.lib.kafka.topics import ensure_topics
from tripclick_assets.lib.source.reader import find_day_source, iter_blocks
from tripclick_assets.producer import local_shards
from tripclick_assets.producer.blocks import OTHER_EVENT_DATE, DayShare, EncodedBlock, encode_block
from tripclick_assets.producer.config import LOCAL_QUEUE_MESSAGES, ReplayConfig, producer_config

# A quarantined line is kept whole up to this size; longer ones are cut (the header says so).
DLQ_MAX_VALUE_BYTES = 16 * 1024
_OTHER_EVENT_DATE_PREFIX = f"{OTHER_EVENT_DATE}: "
class _Deliveries:
    """Delivery-report bookkeeping: per-partition offset ranges of acknowledged messages."""

    def __init__(self):
        self.failed = 0
        self.dlq_sent = 0
        self.dlq_failed = 0
        self.errors: Counter[str] = Counter()
        # partition -> [first, last, count], grown one offset at a time (the per-message path stays inline);
        # summaries of several processes and servers merge with lib.kafka.ranges.merge_offset_ranges.
        self.partitions: dict[int, list[int]] = {}

    @property
    def sent(self) -> int:
        return sum(count for _, _, count in self.partitions.values())

    def on_event(self, err, msg):
        # Runs once per message inside poll(): kept to the fewest Python operations.
        if err is not None:
            self.failed += 1
            self.errors[str(err)] += 1
            return
        offset = msg.offset()
        if offset is None or offset < 0:
            # librdkafka reports a retried batch the broker answered DUPLICATE_SEQUENCE_NUMBER as
            # delivered, without an offset: no range can hold it, so it counts as failed (a rerun
            # of the day produces it again; silver removes a copy that did land).
            self.failed += 1
            self.errors["acknowledged without an offset (duplicate sequence number)"] += 1
            return
        entry = self.partitions.get(msg.partition())
        if entry is None:
            self.partitions[msg.partition()] = [offset, offset, 1]
            return
        if offset > entry[1]:
            entry[1] = offset
        elif offset < entry[0]:
            entry[0] = offset
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
                 progress: Callable[[str], None], local_index: int = 0, local_count: int = 1):
        self.config, self.producer, self.state, self.day, self.progress = config, producer, state, day, progress
        self.local_index, self.local_count = local_index, local_count
        self.label = config.server if local_count == 1 else f"{config.server} {local_index + 1}/{local_count}"
        self.day_str = f"{day:%Y-%m-%d}"
        self.source = find_day_source(config.logs_dir, day)
        self.deliveries = _Deliveries()
        self.quarantine_reasons: Counter[str] = Counter()
        self.lines = self.other_shards = self.other_dates = self.produced = self.quarantined = 0
        self.not_sent = 0  # valid lines never handed to Kafka (fatal producer error or client rejection)
        self._progress_every_s = self._next_progress = 0.0

    def run(self, progress_every_s: float) -> None:
        config = self.config
        is_month_file = self.source.stem != self.day_str
        day_start = _day_start_ms(self.day)
        month_start = _day_start_ms(self.day.replace(day=1))
        next_month = date(self.day.year + self.day.month // 12, self.day.month % 12 + 1, 1)
        share = DayShare(
            day_start_ms=day_start, day_end_ms=day_start + 86_400_000, server=config.server,
            server_index=config.server_index, server_count=config.server_count, source_file=self.source.name,
            owns_unattributed=not is_month_file or self.day.day == 1, keep_times=config.mode == "realtime",
            local_index=self.local_index, local_count=self.local_count,
            file_start_ms=month_start if is_month_file else None,
            file_end_ms=_day_start_ms(next_month) if is_month_file else None,
        )
        wall_origin = time.monotonic()
        self._progress_every_s, self._next_progress = progress_every_s, wall_origin + progress_every_s
        for first_line_no, data in iter_blocks(self.source):
            block = encode_block(share, first_line_no, data)
            self.lines += block.lines
            self.other_shards += block.other_shards
            self.other_dates += block.other_dates
            for line_no, line, reason in block.quarantined:
                self._quarantine(line_no, line, reason)
            if config.mode == "realtime":
                self._send_paced(block, day_start, wall_origin)
            else:
                self._send_batch(block.keys, block.values)
            self.producer.poll(0)
            self._report_progress()

    def _report_progress(self) -> None:
        now = time.monotonic()
        if now >= self._next_progress:
            self._next_progress = now + self._progress_every_s
            d = self.deliveries
            self.progress(f"[{self.label} {self.day_str}] produced {self.produced}, acknowledged "
                          f"{d.sent}, failed {d.failed}, quarantined {self.quarantined}")

    def _send_paced(self, block: EncodedBlock, day_start_ms: int, wall_origin: float) -> None:
        """Realtime: each event waits for its time of day, ``speedup`` times faster than it happened."""
        producer, speedup, topic = self.producer, self.config.speedup, self.config.topic
        for key, value, epoch_ms in zip(block.keys, block.values, block.times_ms):
            due = wall_origin + (epoch_ms - day_start_ms) / 1000.0 / speedup
            while (delay := due - time.monotonic()) > 0:
                producer.poll(min(delay, 0.2))
            if self._send(topic, value=value, key=key, on_delivery=self.deliveries.on_event):
                self.produced += 1
            else:
                self.not_sent += 1
            if self.produced % 1000 == 0:
                self._report_progress()

    def _send_batch(self, keys: list[bytes], values: list[bytes]) -> None:
        """Hand a block's events to librdkafka in one call, in order; what it refuses counts as not sent."""
        if not keys:
            return
        if self.state.fatal is not None:
            self.not_sent += len(keys)
            return
        producer = self.producer
        messages = [{"key": key, "value": value} for key, value in zip(keys, values)]
        while len(producer) + len(messages) > LOCAL_QUEUE_MESSAGES and len(producer) > 0:
            producer.poll(0.05)  # make room so the batch is accepted whole and in order
        queued = producer.produce_batch(self.config.topic, messages, on_delivery=self.deliveries.on_event)
        self.produced += queued
        if queued == len(messages):
            return
        for message in messages:  # librdkafka marks each message it refused with "_error"; retry those alone
            error = message.get("_error")
            if error is None:
                continue
            if getattr(error, "fatal", lambda: False)():
                self._fail_for_good(str(error))
            if self._send(self.config.topic, key=message["key"], value=message["value"],
                          on_delivery=self.deliveries.on_event):
                self.produced += 1
            else:
                self.not_sent += 1

    def _send(self, topic: str, **kwargs) -> bool:
        if self.state.fatal is not None:
            return False
        try:
            return _produce(self.producer, topic, **kwargs)
        except ProducerFatal as exc:
            self._fail_for_good(str(exc))
            return False

    def _fail_for_good(self, error: str) -> None:
        if self.state.fatal is None:
            self.state.fatal = error
            self.progress(f"[{self.label} {self.day_str}] error: Kafka producer failed for good: "
                          f"{error}; every line not yet acknowledged is reported failed")

    def _quarantine(self, line_no: int, line: bytes, reason: str) -> None:
        self.quarantined += 1
        self.quarantine_reasons[reason.split(":")[0]] += 1
        name = self.source.name
        headers = [
            ("reason", reason.encode("utf-8", "replace")[:1024]),
            ("source_file", name.encode()), ("source_line", str(line_no).encode()),
            ("server", self.config.server.encode()), ("event_date", self.day_str.encode()),
            ("original_bytes", str(len(line)).encode()),
        ]
        if reason.startswith(_OTHER_EVENT_DATE_PREFIX):  # a valid click of another day: the day it belongs to
            headers.append(("line_event_date", reason[len(_OTHER_EVENT_DATE_PREFIX):][:10].encode()))
        self._send(
            self.config.dlq_topic, value=line[:DLQ_MAX_VALUE_BYTES], key=f"{name}:{line_no}".encode(),
            headers=headers, on_delivery=self.deliveries.on_dlq,
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


def replay_share(config: ReplayConfig, days: list[date], local_index: int = 0, local_count: int = 1,
                 progress: Callable[[str], None] | None = None, progress_every_s: float = 5.0) -> dict:
    """One process's part of a replay: its sessions of each day, through its own producer."""
    progress = progress or _to_stderr
    started = time.monotonic()
    producer = Producer(producer_config(config))
    state = _ProducerState()
    replays = []
    for day in days:
        replay = _DayReplay(config, producer, state, day, progress, local_index, local_count)
        replay.run(progress_every_s)
        replays.append(replay)
        if config.mode == "realtime":
            _drain(producer, config.delivery_timeout_s + 5)
    _drain(producer, config.delivery_timeout_s + 5)
    for replay in replays:
        replay.settle()
    return {"fatal_error": state.fatal, "days": [r.summary() for r in replays],
            "seconds": round(time.monotonic() - started, 3)}


def replay_days(
    config: ReplayConfig,
    days: list[date],
    progress: Callable[[str], None] | None = None,
    progress_every_s: float = 5.0,
) -> dict:
    """Produce the server's share of each day; returns the summary dict.

    All sources are located before anything is sent, so a missing day fails the whole
    call up front instead of half-way through a range.
    """
    progress = progress or _to_stderr
    started = time.monotonic()
    sources = [find_day_source(config.logs_dir, day) for day in days]  # a month file once per day
    ensure_topics(
        {"bootstrap.servers": config.bootstrap_servers, **dict(config.kafka_config)},
        (config.topic, config.dlq_topic), partitions=config.partitions,
        replication_factor=config.replication_factor, timeout=min(config.delivery_timeout_s, 10.0),
    )
    processes = config.processes_for(sum(source.stat().st_size for source in sources))
    if processes == 1:
        shares, replayed_here = [replay_share(config, days, 0, 1, progress, progress_every_s)], []
    else:
        shares, replayed_here = local_shards.replay_in_processes(replay_share, config, days, processes, progress,
                                                                 progress_every_s)
    seconds = time.monotonic() - started
    day_summaries = [merge_day_parts([share["days"][i] for share in shares]) for i in range(len(days))]
    summary = {
        "server": config.server,
        "mode": config.mode,
        "topic": config.topic,
        "dlq_topic": config.dlq_topic,
        "fatal_error": next((share["fatal_error"] for share in shares if share["fatal_error"]), None),
        "processes": {"count": processes, "seconds": [share["seconds"] for share in shares],
                      "replayed_again_here": replayed_here},
        "days": day_summaries,
        **{key: sum(d[key] for d in day_summaries) for key in _TOTALS},
        "seconds": round(seconds, 3),
    }
    produced = summary["produced"]
    summary["events_per_second"] = round(produced / seconds, 1) if seconds > 0 else None
    progress(f"[{config.server}] done {len(days)} day(s): sent {summary['sent']}, failed "
             f"{summary['failed']}, quarantined {summary['quarantined']} in {seconds:.1f}s")
    return summary


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
