"""Producer throughput: replay_days (batch) against a bare confluent-kafka produce loop.

Generates one synthetic day (timed: the generator's events/s), replays it with the
project's producer into a fresh topic of the embedded broker (events/s, every message
acknowledged), then sends the very same payloads (same keys, same bytes, same producer
settings) with a plain ``produce`` + ``poll(0)`` loop and a final ``flush`` into another
fresh topic: the limit of this client against this broker. Target: the replay reaches at
least 50% of the bare loop.

    .venv/bin/python benchmarks/producer.py [--events 1000000] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
from datetime import date, datetime, timezone
from pathlib import Path

if __name__ == "__main__":
    # Not when the replay's spawned processes re-import this script as __mp_main__: they
    # then start as fast as they do under the producer's own CLI.
    from confluent_kafka import Producer

    from _common import Stopwatch, emit_json, local_services, machine, rate, verdict
    from tripclick_assets.lib.kafka.events import build_event, encode_event
    from tripclick_assets.lib.kafka.topics import ensure_topics
    from tripclick_assets.lib.source.synthetic import generate_day
    from tripclick_assets.lib.source.reader import iter_blocks, iter_lines, parse_record
    from tripclick_assets.producer.blocks import DayShare, encode_block
    from tripclick_assets.producer.local_shards import default_workers
    from tripclick_assets.producer.config import ReplayConfig, producer_config
    from tripclick_assets.producer.replay import replay_days

TARGET_RATIO = 0.5
REPLAY_TOPIC = "bench_replay"
BARE_TOPIC = "bench_bare"
SERVER = "server0"  # what a one-server replay names itself


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=1_000_000, help="synthetic events in the day (default 1,000,000)")
    p.add_argument("--date", type=date.fromisoformat, default=date(2016, 1, 1), help="the day to generate")
    p.add_argument("--partitions", type=int, default=3, help="partitions of each topic (the project's default)")
    p.add_argument("--workers", type=int, default=None,
                   help=f"the replay's extra producing processes (default: the producer's own, {default_workers()} here)")
    p.add_argument("--quick", action="store_true", help="smoke run with 20,000 events")
    args = p.parse_args()
    if args.quick:
        args.events = 20_000
    return args


def generate(logs_dir: Path, day: date, events: int) -> tuple[Path, float]:
    with Stopwatch() as t:
        summary = generate_day(logs_dir, day, volume=events)
    return summary.path, t.seconds


def time_parse_and_encode(path: Path, day: date) -> tuple[int, float]:
    """The replay's per-event Python work alone (block reader, parse, encode), on one core, no Kafka."""
    start_ms = int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)
    share = DayShare(day_start_ms=start_ms, day_end_ms=start_ms + 86_400_000, server=SERVER, server_index=0,
                     server_count=1, source_file=path.name, owns_unattributed=True)
    count = 0
    with Stopwatch() as t:
        for first_line_no, block in iter_blocks(path):
            count += len(encode_block(share, first_line_no, block).values)
    return count, t.seconds


def build_payloads(path: Path) -> list[tuple[bytes, bytes]]:
    """(key, value) exactly as a one-server replay sends them: the project's reader and event contract.

    The cyclic GC is off while the list grows (otherwise every collection re-walks a million
    tuples and this takes longer than the replay itself); afterwards the list is frozen out
    of the GC's sight so it cannot slow down the replay or the bare loop that follow.
    """
    payloads = []
    gc.disable()
    try:
        for line_no, line in iter_lines(path):
            record = parse_record(line)
            event = build_event(record, server=SERVER, source_file=path.name, source_line=line_no)
            payloads.append((record.session_id.encode(), encode_event(event)))
    finally:
        gc.enable()
    gc.freeze()
    return payloads


def run_replay(config: ReplayConfig, day: date) -> dict:
    summary = replay_days(config, [day], progress=lambda line: print(f"  {line}", file=sys.stderr, flush=True))
    if summary["failed"] or summary["sent"] != summary["produced"]:
        raise SystemExit(f"replay lost messages: {summary['failed']} failed, {summary['sent']}/{summary['produced']}")
    return summary


def run_bare_loop(settings: dict, topic: str, payloads: list[tuple[bytes, bytes]]) -> tuple[int, float]:
    """The limit: produce + poll(0) per message, final flush; returns (acknowledged, seconds)."""
    acked = failed = 0

    def on_delivery(err, _msg):
        nonlocal acked, failed
        if err is None:
            acked += 1
        else:
            failed += 1

    with Stopwatch() as t:
        producer = Producer(settings)
        for key, value in payloads:
            while True:
                try:
                    producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                    break
                except BufferError:  # local queue full: wait for delivery reports
                    producer.poll(0.05)
            producer.poll(0)
        producer.flush(60)
    if failed or acked != len(payloads):
        raise SystemExit(f"bare loop lost messages: {failed} failed, {acked}/{len(payloads)} acknowledged")
    return acked, t.seconds


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-producer-") as tmp:
        home = Path(tmp)
        print(f"generating {args.events:,} events for {args.date} ...", flush=True)
        path, gen_seconds = generate(home / "logs", args.date, args.events)
        print("timing the reader + event encoding alone ...", flush=True)
        events, encode_seconds = time_parse_and_encode(path, args.date)
        payloads = build_payloads(path)  # not timed

        with local_services(home) as (broker, _):
            config = ReplayConfig(logs_dir=home / "logs", bootstrap_servers=broker.bootstrap_servers,
                                  topic=REPLAY_TOPIC, dlq_topic=REPLAY_TOPIC + "_dlq", partitions=args.partitions,
                                  workers=args.workers)
            # Both topics exist before either timing starts, so neither pays for topic creation.
            ensure_topics({"bootstrap.servers": broker.bootstrap_servers},
                          (REPLAY_TOPIC, REPLAY_TOPIC + "_dlq", BARE_TOPIC), partitions=args.partitions)
            print("replaying with replay_days (batch, one server) ...", flush=True)
            summary = run_replay(config, args.date)
            print("sending the same payloads with a bare confluent-kafka loop ...", flush=True)
            bare_acked, bare_seconds = run_bare_loop(producer_config(config), BARE_TOPIC, payloads)

    replay_rate = rate(summary["produced"], summary["seconds"])
    bare_rate = rate(bare_acked, bare_seconds)
    ratio = round(replay_rate / bare_rate, 3)
    figures = {
        "benchmark": "producer",
        "events": events,
        "generator_seconds": round(gen_seconds, 2),
        "generator_events_per_s": rate(events, gen_seconds),
        "parse_encode_seconds": round(encode_seconds, 2),
        "parse_encode_events_per_s": rate(events, encode_seconds),
        "replay_processes": summary["processes"]["count"],
        "replay_process_seconds": summary["processes"]["seconds"],
        "replay_seconds": summary["seconds"],
        "replay_acknowledged": summary["sent"],
        "replay_events_per_s": replay_rate,
        "bare_seconds": round(bare_seconds, 2),
        "bare_acknowledged": bare_acked,
        "bare_events_per_s": bare_rate,
        "ratio_replay_to_bare": ratio,
        "target_ratio": TARGET_RATIO,
        "pass": ratio >= TARGET_RATIO,
        "quick": args.quick,
        "machine": machine(),
    }
    print()
    print(f"generator      {figures['generator_events_per_s']:>12,.0f} events/s  ({gen_seconds:.1f} s for {events:,})")
    print(f"parse+encode   {figures['parse_encode_events_per_s']:>12,.0f} events/s  (the replay's reader and "
          "encoder alone, one core, no Kafka)")
    print(f"replay_days    {replay_rate:>12,.0f} events/s  ({summary['seconds']:.1f} s, {summary['sent']:,} "
          f"acknowledged, {summary['processes']['count']} producing processes)")
    print(f"bare loop      {bare_rate:>12,.0f} events/s  ({bare_seconds:.1f} s, {bare_acked:,} acknowledged)")
    print(f"ratio          {ratio:>12.2f}  replay / bare; target >= {TARGET_RATIO:.2f}: {verdict(figures['pass'])}")
    emit_json(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
