"""Read exact Kafka offset ranges with confluent-kafka.

The producer's delivery reports give every message's partition and offset, so readers
consume ``[first, last]`` per partition with ``assign()``: no consumer group, no high
watermark, no time lookups (the embedded broker gets those wrong).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class OffsetRange:
    topic: str
    partition: int
    first: int  # inclusive
    last: int  # inclusive

    @property
    def count(self) -> int:
        return self.last - self.first + 1


class OffsetRangeUnavailable(RuntimeError):
    """The broker no longer (or never) held the requested offsets."""


def merge_offset_ranges(partition_maps: Iterable[Mapping[str, Mapping]]) -> dict[str, dict[str, int]]:
    """Merge ``{partition: {first, last[, count]}}`` maps (the producer summaries' ``partitions``).

    A partition's merged range spans the lowest ``first`` to the highest ``last``; its
    ``count`` is the sum of the counts given (a map without counts adds none). The result
    is ordered by partition number.
    """
    merged: dict[str, dict[str, int]] = {}
    for partitions in partition_maps:
        for partition, entry in partitions.items():
            first, last, count = int(entry["first"]), int(entry["last"]), int(entry.get("count", 0))
            seen = merged.get(partition)
            if seen is None:
                merged[partition] = {"first": first, "last": last, "count": count}
            else:
                seen["first"], seen["last"] = min(seen["first"], first), max(seen["last"], last)
                seen["count"] += count
    return dict(sorted(merged.items(), key=lambda kv: int(kv[0])))


def ranges_from_metadata(topic: str, partitions: Mapping[str, list[int]]) -> list[OffsetRange]:
    return [OffsetRange(topic, int(p), int(v[0]), int(v[1])) for p, v in partitions.items()]


def consumer_config(bootstrap_servers: str, extra: Mapping[str, str] | None = None) -> dict:
    return {
        "bootstrap.servers": bootstrap_servers,
        "group.id": f"tripclick-range-reader-{uuid.uuid4().hex[:8]}",  # never joined: assign() only
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
        "fetch.max.bytes": 64 * 1024 * 1024,
        "max.partition.fetch.bytes": 16 * 1024 * 1024,
        **dict(extra or {}),
    }


def read_range(
    config: Mapping[str, str], offset_range: OffsetRange, *, idle_timeout_s: float = 20.0, batch: int = 10000
) -> Iterator[list]:
    """Yield lists of messages covering exactly ``offset_range``.

    Raises :class:`OffsetRangeUnavailable` if the range cannot be completed within
    ``idle_timeout_s`` of no progress (e.g. the broker restarted and lost its memory store).
    """
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer(dict(config))
    try:
        consumer.assign([TopicPartition(offset_range.topic, offset_range.partition, offset_range.first)])
        next_offset = offset_range.first
        last_progress = time.monotonic()
        while next_offset <= offset_range.last:
            # Ask for no more than what is left, so consume() returns as soon as the range is complete.
            messages = consumer.consume(min(batch, offset_range.last - next_offset + 1), timeout=1.0)
            out = []
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise OffsetRangeUnavailable(f"{offset_range}: {error}")
                offset = message.offset()
                if offset < next_offset:
                    continue
                if offset > offset_range.last:
                    break
                out.append(message)
                next_offset = offset + 1
            if out:
                last_progress = time.monotonic()
                yield out
            elif time.monotonic() - last_progress > idle_timeout_s:
                raise OffsetRangeUnavailable(
                    f"{offset_range.topic}[{offset_range.partition}] offsets {offset_range.first}..{offset_range.last}: "
                    f"stuck at {next_offset} for {idle_timeout_s:.0f}s; the broker no longer holds them "
                    "(was it restarted with memory storage?). Re-materialize the producer partition."
                )
    finally:
        consumer.close()
