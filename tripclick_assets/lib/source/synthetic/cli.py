"""``python -m tripclick_assets.lib.source.synthetic``: generate one day from the command
line and print its summary as one JSON line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import orjson

from tripclick_assets.lib.source.synthetic.day import generate_day


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tripclick_assets.lib.source.synthetic",
        description="Generate one day of synthetic TripClick logs in the real format.",
    )
    parser.add_argument("--logs-dir", required=True, type=Path)
    parser.add_argument("--date", required=True, type=_parse_date)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--volume", type=int, default=None,
                        help="human clicks (default: TripClick scale for the date)")
    parser.add_argument("--duplicate-rate", type=float, default=0.0)
    parser.add_argument("--malformed-rate", type=float, default=0.0)
    parser.add_argument("--bot-sessions", type=int, default=0)
    parser.add_argument("--legacy-documents", action="store_true")
    args = parser.parse_args(argv)
    try:
        summary = generate_day(
            args.logs_dir,
            args.date,
            seed=args.seed,
            volume=args.volume,
            duplicate_rate=args.duplicate_rate,
            malformed_rate=args.malformed_rate,
            bot_sessions=args.bot_sessions,
            legacy_documents=args.legacy_documents,
        )
    except ValueError as exc:
        parser.error(str(exc))
    sys.stdout.write(orjson.dumps(summary.to_json_dict()).decode() + "\n")
    return 0
