"""The ``tripclick`` command line.

Adding a subcommand: create its parser in ``build_parser`` with ``set_defaults(cmd="name")``
and map ``"name"`` to a ``handler(args) -> exit code`` in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from tripclick_assets.settings import SettingsError, local_settings, sample_days


def _services(args: argparse.Namespace):
    from tripclick_assets.services import services_from_settings

    return services_from_settings(local_settings())


def _each_service(args: argparse.Namespace, act: Callable) -> int:
    """``act(service)`` for every service, printing the line it returns; one failing does not stop the others."""
    from tripclick_assets.services import ServiceError

    failed = False
    for service in _services(args):
        try:
            line = act(service)
        except ServiceError as exc:
            print(f"error: {service.name}: {exc}", file=sys.stderr)
            failed = True
            continue
        print(line)
    return 1 if failed else 0


def services_up(args: argparse.Namespace) -> int:
    def up(service) -> str:
        began = time.monotonic()
        service.start(timeout=args.timeout)
        status = service.status()
        where = status.get("bootstrap_servers") or status.get("url")
        how = "external" if status.get("external") else f"pid {status['pid']}"
        return f"{service.name}: up at {where} ({how}, {time.monotonic() - began:.1f}s)"

    return _each_service(args, up)


def services_down(args: argparse.Namespace) -> int:
    def down(service) -> str:
        service.stop(timeout=args.timeout)
        return f"{service.name}: down"

    return _each_service(args, down)


def services_status(args: argparse.Namespace) -> int:
    settings = local_settings()
    statuses = {service.name: service.status() for service in _services(args)}
    print(json.dumps({"home": str(settings.home), "services": statuses}, indent=2))
    return 0


def spark_archive(args: argparse.Namespace) -> int:
    """Build the local Spark driver's class-data archive unless it is there (or --rebuild)."""
    from tripclick_assets.lib.spark.class_archive import build

    archive = local_settings().spark_class_archive
    if archive.is_file() and not args.rebuild:
        print(f"spark class archive: {archive} (present)")
        return 0
    print(f"spark class archive: building {archive} (about a minute, once)", flush=True)
    build(archive)
    print(f"spark class archive: {archive}")
    return 0


def missing_sample_days(days: list[str]) -> list[str]:
    """The days of ``days`` for which some asset has no materialization in the instance."""
    import dagster as dg

    from tripclick_assets.defs import keys

    asset_keys = [keys.RAW_LOGS, keys.BRONZE, keys.SILVER, *keys.MARTS.values()]
    with dg.DagsterInstance.get() as instance:
        done = [instance.get_materialized_partitions(key) for key in asset_keys]
    return [day for day in days if not all(day in partitions for partitions in done)]


def sample(args: argparse.Namespace) -> int:
    """Materialize the sample week as one range run, unless every partition of it is there."""
    import subprocess

    days = sample_days()
    span = f"{days[0]}...{days[-1]}"
    if not args.force and not missing_sample_days(days):
        print(f"sample: {span} already materialized (--force to run it again)")
        return 0
    print(f"sample: materializing the lineage for {span} as one run", flush=True)
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "tripclick_assets.definitions",
               "--select", "*", "--partition-range", span]
    return subprocess.run(command).returncode


def lake_migrate(args: argparse.Namespace) -> int:
    """Convert a lake in the retired ``_CURRENT`` layout into the Iceberg tables, in place."""
    import dagster as dg

    from tripclick_assets import settings
    from tripclick_assets.defs.resources import RESOURCES
    from tripclick_assets.lib.lake.migrate import migrate

    with dg.build_resources({"lake": RESOURCES[settings.environment()]()["lake"]}) as built:  # EnvVars resolved
        results = migrate(built.lake.tables())
    for layer, result in results.items():
        print(f"{layer}: {len(result.days)} partitions, {result.files} files registered "
              f"(snapshot {result.snapshot_id}), {result.removed_versions} stale versions removed")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "lake migrate": lake_migrate,
    "sample": sample,
    "spark-archive": spark_archive,
    "services up": services_up,
    "services down": services_down,
    "services status": services_status,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tripclick", description="TripClick lakehouse tooling.")
    commands = parser.add_subparsers(metavar="COMMAND", required=True)

    services = commands.add_parser(
        "services",
        help="local Kafka broker and PostgreSQL",
        description="Manage the local services (settings: TRIPCLICK_HOME, TRIPCLICK_HOST, "
        "TRIPCLICK_KAFKA_PORT, TRIPCLICK_POSTGRES_PORT, TRIPCLICK_POSTGRES_URL).",
    )
    actions = services.add_subparsers(metavar="ACTION", required=True)
    up = actions.add_parser("up", help="start the services (idempotent)")
    up.add_argument("--timeout", type=float, default=60, help="seconds to wait for each service (default 60)")
    up.set_defaults(cmd="services up")
    down = actions.add_parser("down", help="stop the services")
    down.add_argument("--timeout", type=float, default=30, help="seconds to wait for each service (default 30)")
    down.set_defaults(cmd="services down")
    actions.add_parser("status", help="print the services' status as JSON").set_defaults(cmd="services status")

    lake = commands.add_parser("lake", help="the bronze/silver Iceberg tables")
    lake_actions = lake.add_subparsers(metavar="ACTION", required=True)
    lake_actions.add_parser(
        "migrate", help="convert a lake in the retired _CURRENT layout into the Iceberg tables, in place",
        description="Registers each partition's current version in the bronze/silver table (files stay where "
        "they are), then deletes the _CURRENT pointers and the stale versions. Idempotent.",
    ).set_defaults(cmd="lake migrate")

    archive = commands.add_parser(
        "spark-archive",
        help="build the local Spark driver's class-data archive (faster cold starts)",
        description="Build $TRIPCLICK_HOME/spark/classes.jsa, a JDK class-data archive local Spark "
        "sessions start from (about half the JVM cold start). Idempotent.",
    )
    archive.add_argument("--rebuild", action="store_true", help="replace an existing archive")
    archive.set_defaults(cmd="spark-archive")

    week = commands.add_parser(
        "sample",
        help="materialize the sample week (needs DAGSTER_HOME and the services up)",
        description="Materialize the whole lineage for the seven days from TRIPCLICK_SAMPLE_START "
        "(default 2016-01-01) as one range run; does nothing when they are all materialized.",
    )
    week.add_argument("--force", action="store_true", help="run even when every day is materialized")
    week.set_defaults(cmd="sample")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.cmd](args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
