"""``tripclick-producer``: the program each web server (or local subprocess) runs.

Progress goes to stderr; the last stdout line is one JSON summary. Under Dagster Pipes
the same summary is reported as a custom message and progress lines go to the run log.
Exit status: 0 all acknowledged, 1 some deliveries failed, 2 bad input or config,
3 broker unreachable.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from datetime import date
from pathlib import Path

from tripclick_assets.lib.kafka.topics import DLQ_TOPIC, TOPIC
from tripclick_assets.lib.kafka.producer_summary import synthetic_days
from tripclick_assets.lib.kafka.security import kafka_security_from_env
from tripclick_assets.lib.source.reader import SourceNotFoundError
from tripclick_assets.lib.kafka.topics import BrokerUnreachable
from tripclick_assets.producer.config import ReplayConfig
from tripclick_assets.producer.replay import replay_days


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tripclick-producer", description=__doc__.split("\n")[0])
    p.add_argument("--event-date", required=True, type=date.fromisoformat, help="YYYY-MM-DD (UTC)")
    p.add_argument("--end-date", type=date.fromisoformat, default=None,
                   help="replay every day from --event-date to this one (inclusive) in one process")
    p.add_argument("--bootstrap-servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
                   help="default: $KAFKA_BOOTSTRAP_SERVERS")
    p.add_argument("--mode", choices=("batch", "realtime"), default="batch")
    p.add_argument("--server-index", type=int, default=0)
    p.add_argument("--server-count", type=int, default=1)
    p.add_argument("--server-name", default=None, help="default: server<index>")
    p.add_argument("--source", type=Path, required=True, help="directory holding YYYY-MM-DD.json logs")
    p.add_argument("--synthetic", action="store_true",
                   help="generate the day's synthetic log file into --source first if it is missing")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--volume", type=int, default=None, help="synthetic events for the day")
    p.add_argument("--duplicate-rate", type=float, default=0.0)
    p.add_argument("--malformed-rate", type=float, default=0.0)
    p.add_argument("--bot-sessions", type=int, default=0)
    p.add_argument("--speedup", type=float, default=24.0, help="realtime: 24 replays a day in an hour")
    p.add_argument("--topic", default=TOPIC)
    p.add_argument("--dlq-topic", default=DLQ_TOPIC)
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--replication-factor", type=int, default=1)
    p.add_argument("--delivery-timeout", type=float, default=30.0, help="seconds per message, bounded")
    p.add_argument("--workers", type=int, default=None,
                   help="extra processes that each replay a part of this server's sessions with their own "
                        "producer, in batch mode for files of 8 MiB or more (default: one per spare core, "
                        "at most 3; 0: none)")
    p.add_argument("--kafka-option", action="append", default=[], metavar="KEY=VALUE",
                   help="extra librdkafka setting; secrets come from KAFKA_SASL_PASSWORD etc.")
    return p


def _kafka_options(pairs: list[str]) -> dict[str, str]:
    options = kafka_security_from_env(os.environ)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--kafka-option must be KEY=VALUE, got {pair!r}")
        options[key.strip()] = value
    return options


def _days(args) -> list[date]:
    end = args.end_date or args.event_date
    if end < args.event_date:
        raise ValueError(f"--end-date {end} is before --event-date {args.event_date}")
    return [date.fromordinal(n) for n in range(args.event_date.toordinal(), end.toordinal() + 1)]


def run(args, log) -> tuple[int, dict | None]:
    if not args.bootstrap_servers:
        log("error: --bootstrap-servers (or KAFKA_BOOTSTRAP_SERVERS) is required")
        return 2, None
    try:
        days = _days(args)
        generated = []
        if args.synthetic:
            from tripclick_assets.lib.source.synthetic import ensure_days

            generated = ensure_days(
                args.source, days, seed=args.seed, volume=args.volume,
                duplicate_rate=args.duplicate_rate, malformed_rate=args.malformed_rate,
                bot_sessions=args.bot_sessions,
            )
        config = ReplayConfig(
            logs_dir=args.source, bootstrap_servers=args.bootstrap_servers,
            mode=args.mode, server_index=args.server_index, server_count=args.server_count,
            server_name=args.server_name, speedup=args.speedup, topic=args.topic,
            dlq_topic=args.dlq_topic, partitions=args.partitions,
            replication_factor=args.replication_factor, delivery_timeout_s=args.delivery_timeout,
            kafka_config=_kafka_options(args.kafka_option), workers=args.workers,
        )
        summary = replay_days(config, days, progress=log)
        if generated:
            summary["synthetic_days"] = synthetic_days(generated)
    except (SourceNotFoundError, ValueError) as exc:
        log(f"error: {exc}")
        return 2, None
    except BrokerUnreachable as exc:
        log(f"error: {exc}")
        return 3, None
    return (1 if summary["failed"] or summary["quarantine_failed"] else 0), summary


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    pipes = None
    with contextlib.ExitStack() as stack:
        from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes

        if PipesEnvVarParamsLoader().is_dagster_pipes_process():
            pipes = stack.enter_context(open_dagster_pipes())

        def log(line: str) -> None:
            print(line, file=sys.stderr, flush=True)
            if pipes is not None:
                (pipes.log.error if line.startswith("error") else pipes.log.info)(line)

        code, summary = run(args, log)
        if summary is not None:
            print(json.dumps(summary, sort_keys=True), flush=True)
            if pipes is not None:
                pipes.report_custom_message(summary)
        if pipes is not None and code != 0:
            # Pipes only sees the exit code; say why in the run log as well.
            pipes.log.error(f"producer exited with status {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
