"""Lineage speed: a 1M-event day through bronze, silver and marts, and a 365-day range as one run.

Part 1: one day of ``--events`` synthetic events is produced into the embedded broker (a
run of ``tripclick_raw_logs``, not timed); then one timed Dagster run materializes
bronze_events, silver_events and the marts for that partition (wall time, events/s, peak
memory of this process tree). Baseline in the same run: the very same Kafka offset ranges
read with confluent-kafka (``read_range``) and written to one Parquet file with pyarrow
(``bronze_batch``, bronze's own record conversion): no Spark, no Dagster. Target: the day in at most 90 s.

Part 2: a ``--days``-day range at TripClick scale (the producers' default synthetic volume,
~1,850 events a day) materialized as ONE run of the whole lineage (producer included),
against ``--single-runs`` other days materialized one run each. Measured twice:

* in this process, with the Spark session already running (what a long-lived process pays);
* as fresh processes (``python -m dagster asset materialize -f benchmarks/lineage_defs.py``),
  each paying Python imports, definition loading and a Spark JVM cold start, as a run does
  in production (one process per run).

Targets: the range run in at most 300 s; per-partition cost at least 20x lower than one run
per partition.

    .venv/bin/python benchmarks/lineage.py [--events 1000000] [--days 365] [--single-runs 5] [--quick]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq

from _common import PeakRss, Stopwatch, emit_json, local_services, machine, mib, rate, stdout_to_file, verdict
from lineage_defs import ASSETS, DOWNSTREAM, bench_env, bench_resources
from tripclick_assets.defs.ingestion.assets import tripclick_raw_logs
from tripclick_assets.defs.keys import RAW_LOGS
from tripclick_assets.defs.metadata import latest_partition_metadata
from tripclick_assets.lib.lake.bronze_records import DateAttribution, bronze_batch
from tripclick_assets.lib.kafka.ranges import consumer_config, ranges_from_metadata, read_range
from tripclick_assets.lib.lake.schema import BRONZE_COLUMNS, arrow_schema
from tripclick_assets.lib.source.synthetic import generate_day
from tripclick_assets.settings import local_settings

DAY_TARGET_S = 90.0
RANGE_TARGET_S = 300.0
PER_PARTITION_TARGET = 20.0
TOPIC = "bench_raw_logs"
DEFS_FILE = Path(__file__).resolve().parent / "lineage_defs.py"
# What LocalSparkResource logs around each job (resources/spark.py).
_SPARK_LOG = re.compile(r"spark job (\w+) (starting \(session ready in|finished in) ([\d.]+)s")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=1_000_000, help="part 1: events of the big day (default 1,000,000)")
    p.add_argument("--date", type=date.fromisoformat, default=date(2016, 1, 1), help="part 1: the big day")
    p.add_argument("--days", type=int, default=365, help="part 2: days in the range run (default 365)")
    p.add_argument("--range-start", type=date.fromisoformat, default=date(2015, 1, 1), help="part 2: first day")
    p.add_argument("--single-runs", type=int, default=5,
                   help="part 2: days materialized one run each (the days just before the range)")
    p.add_argument("--part", choices=("1", "2", "both"), default="both")
    p.add_argument("--quick", action="store_true", help="smoke run: 20,000 events, a 7-day range, 2 single runs")
    args = p.parse_args()
    if args.quick:
        args.events, args.days, args.single_runs = 20_000, 7, 2
    return args


# --- shared set-up --------------------------------------------------------------------------------


class Bench:
    """The services, the Dagster instance and the resources every run of this benchmark uses."""

    def __init__(self, workdir: Path, broker, postgres):
        self.workdir = workdir
        dagster_home = workdir / "dagster_home"
        dagster_home.mkdir()
        (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nnux:\n  enabled: false\n")
        os.environ["DAGSTER_HOME"] = str(dagster_home)  # the fresh-process runs share this instance
        self.instance = dg.DagsterInstance.get()
        self.bootstrap_servers = broker.bootstrap_servers
        self.resources = bench_resources(workdir, broker.bootstrap_servers, postgres.url, TOPIC)
        self.env = {**os.environ, **bench_env(workdir, broker.bootstrap_servers, postgres.url, TOPIC)}

    def materialize(self, assets=ASSETS, **kwargs) -> dg.ExecuteInProcessResult:
        with stdout_to_file(self.workdir / "producers-stdout.log"):
            return dg.materialize(assets, resources=self.resources, instance=self.instance, **kwargs)

    def materialize_in_fresh_process(self, partition_args: list[str], log_name: str) -> dict:
        """One run of the whole lineage in a new Python process (the CLI).

        Returns the process's wall seconds, the seconds outside the run's steps (interpreter,
        imports, definitions, run set-up and tear-down, exit) and the run's :func:`run_profile`.
        """
        command = [sys.executable, "-m", "dagster", "asset", "materialize", "-f", str(DEFS_FILE),
                   "--select", "*", *partition_args]
        log_path = self.workdir / f"{log_name}.log"
        with Stopwatch() as t, open(log_path, "wb") as log:
            code = subprocess.run(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                  cwd=DEFS_FILE.parent.parent).returncode
        if code != 0:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise SystemExit(f"{' '.join(command)} failed with status {code}:\n{tail}")
        run_id = self.instance.get_runs(limit=1)[0].run_id  # the newest run: the one just finished
        profile = run_profile(self.instance, run_id)
        return {"wall_s": round(t.seconds, 2), "outside_steps_s": round(t.seconds - sum(profile["steps"].values()), 2),
                **profile}


def range_tags(first: date, last: date) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat()}


def step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Seconds of each step of a run, as its STEP_SUCCESS event reports them.

    Dagster measures these with a monotonic clock; differences of event timestamps would not
    do: this VM's wall clock once jumped ~27 s forward in the middle of a step.
    """
    success = dg.DagsterEventType.STEP_SUCCESS
    return {entry.step_key: round(entry.dagster_event.event_specific_data.duration_ms / 1000, 2)
            for entry in instance.all_logs(run_id, of_type=success)}


def run_profile(instance: dg.DagsterInstance, run_id: str) -> dict:
    """Where a run's time went: seconds per step, per Spark job (as the Spark resource logged them,
    session wait included), and how long the first Spark job waited for its session (the JVM
    cold start when there was no session yet)."""
    spark_jobs, session_wait = {}, None
    for entry in instance.all_logs(run_id):
        match = _SPARK_LOG.search(entry.user_message or "")
        if match is None:
            continue
        job, what, seconds = match.groups()
        if what.startswith("starting"):
            session_wait = float(seconds) if session_wait is None else session_wait
        else:
            spark_jobs[job] = float(seconds)
    return {"steps": step_seconds(instance, run_id), "spark_jobs": spark_jobs, "spark_session_wait_s": session_wait}


def mart_load_seconds(result: dg.ExecuteInProcessResult) -> float:
    """Seconds the marts job spent loading PostgreSQL (the load_seconds of each mart table, summed)."""
    by_table = {m.asset_key: m.metadata["load_seconds"].value
                for m in result.asset_materializations_for_node("marts") if "load_seconds" in m.metadata}
    return round(sum(by_table.values()), 2)


def publish_seconds(result: dg.ExecuteInProcessResult) -> dict[str, float]:
    """The Iceberg commit (publish) of each lake step: one transaction replacing the day's files."""
    seconds = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if "publish_seconds" in materialization.metadata:
            seconds[materialization.asset_key.to_user_string()] = float(materialization.metadata["publish_seconds"].value)
    return seconds


def days_between(first: date, count: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(count)]


def warm_spark(bench: Bench) -> float:
    """Start the local Spark session now (so in-process runs after it share a warm one); seconds taken."""
    with Stopwatch() as t:
        bench.resources["spark"].session()
    return t.seconds


def stop_spark() -> None:
    from pyspark import SparkContext

    if SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()


# --- part 1: one big day ----------------------------------------------------------------------------


def produce_day(bench: Bench, day: date, events: int) -> tuple[dict, float]:
    """Generate and produce the day (not part of the timed figures); returns its offset ranges."""
    s = bench.resources["producers"].synthetic
    generate_day(bench.workdir / "logs", day, volume=events, duplicate_rate=s.duplicate_rate,
                 malformed_rate=s.malformed_rate, bot_sessions=s.bot_sessions)
    with Stopwatch() as t:
        bench.materialize([tripclick_raw_logs], partition_key=day.isoformat())
    metadata = latest_partition_metadata(bench.instance, RAW_LOGS, day.isoformat())
    return metadata["offset_ranges"], t.seconds


def bare_bronze(bench: Bench, day: date, offset_ranges: dict) -> dict:
    """The baseline: the same offset ranges read with confluent-kafka, one Parquet file written by pyarrow."""
    schema = arrow_schema(BRONZE_COLUMNS)  # what bronze_batch returns
    attribution = DateAttribution({day.isoformat(): offset_ranges})
    config = consumer_config(bench.bootstrap_servers)
    ingested_at = datetime.now(timezone.utc)
    out = bench.workdir / "bare" / f"{day.isoformat()}.parquet"
    out.parent.mkdir()
    rows = 0
    with PeakRss() as mem, Stopwatch() as t:
        with pq.ParquetWriter(out, schema, compression="zstd") as writer:
            for offset_range in ranges_from_metadata(TOPIC, offset_ranges):
                for messages in read_range(config, offset_range):
                    writer.write_batch(bronze_batch(messages, attribution, ingested_at))
                    rows += len(messages)
    return {"rows": rows, "seconds": round(t.seconds, 2), "events_per_s": rate(rows, t.seconds),
            "peak_rss_tree_mib": mib(mem.peak_tree), "peak_rss_self_mib": mib(mem.peak_self)}


def dagster_day(bench: Bench, day: date) -> dict:
    """The timed run: bronze_events, silver_events and the marts of one partition."""
    with PeakRss() as mem, Stopwatch() as t:
        result = bench.materialize(selection=DOWNSTREAM, partition_key=day.isoformat())
    return {"seconds": round(t.seconds, 2), **run_profile(bench.instance, result.run_id),
            "mart_load_s": mart_load_seconds(result), "publish_s": publish_seconds(result),
            "peak_rss_tree_mib": mib(mem.peak_tree), "peak_rss_self_mib": mib(mem.peak_self)}


def part1(bench: Bench, args) -> dict:
    day = args.date
    print(f"\n== part 1: {args.events:,} events on {day} ==", flush=True)
    offset_ranges, produce_seconds = produce_day(bench, day, args.events)
    kafka_records = sum(last - first + 1 for first, last in offset_ranges.values())
    print(f"produced {kafka_records:,} Kafka records in {produce_seconds:.1f} s (not timed); "
          "baseline: confluent-kafka + pyarrow ...", flush=True)
    bare = bare_bronze(bench, day, offset_ranges)
    if bare["rows"] != kafka_records:
        raise SystemExit(f"baseline read {bare['rows']} records, the producer acknowledged {kafka_records}")
    print("Dagster: bronze_events + silver_events + marts ...", flush=True)
    run = dagster_day(bench, day)
    run["events_per_s"] = rate(kafka_records, run["seconds"])
    run["outside_steps_s"] = round(run["seconds"] - sum(run["steps"].values()), 2)
    figures = {
        "kafka_records": kafka_records, "producer_run_seconds": round(produce_seconds, 2),
        "bare": bare, "dagster": run,
        "ratio_dagster_to_bare_seconds": round(run["seconds"] / bare["seconds"], 2),
        "target_seconds": DAY_TARGET_S, "pass": run["seconds"] <= DAY_TARGET_S,
    }
    print_part1(figures)
    return figures


def print_part1(f: dict) -> None:
    bare, run = f["bare"], f["dagster"]
    print(f"  bare (confluent-kafka -> pyarrow, bronze only)  {bare['seconds']:7.1f} s  "
          f"{bare['events_per_s']:>10,.0f} events/s  peak RSS {bare['peak_rss_tree_mib']:,.0f} MiB")
    print(f"  Dagster bronze + silver + marts                 {run['seconds']:7.1f} s  "
          f"{run['events_per_s']:>10,.0f} events/s  peak RSS {run['peak_rss_tree_mib']:,.0f} MiB "
          f"(this process {run['peak_rss_self_mib']:,.0f} MiB)")
    print("  peak RSS: sum over this process and all its descendants (Spark's JVM and Python workers), "
          "psutil sampled every 0.1 s")
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in run["steps"].items())
    jobs = ", ".join(f"{k} {v:.1f} s" for k, v in run["spark_jobs"].items())
    print(f"  steps: {steps}; Dagster outside the steps {run['outside_steps_s']:.1f} s")
    print(f"  inside them, Spark jobs: {jobs} (the first waited {run['spark_session_wait_s']} s for its session: "
          f"JVM cold start); PostgreSQL loads of the marts {run['mart_load_s']:.1f} s")
    commits = ", ".join(f"{k} {v:.2f} s" for k, v in run["publish_s"].items())
    print(f"  Iceberg commits (publish: drop the day's old files, add the new ones, one transaction): {commits}")
    print(f"  ratio Dagster / bare (seconds)  {f['ratio_dagster_to_bare_seconds']:.2f}x")
    print(f"  target <= {DAY_TARGET_S:.0f} s: {verdict(f['pass'])}")


# --- part 2: a range as one run against one run per partition -----------------------------------------


def in_process_runs(bench: Bench, range_days: list[date], single_days: list[date]) -> dict:
    with Stopwatch() as t:
        result = bench.materialize(tags=range_tags(range_days[0], range_days[-1]))
    events = sum(m.metadata["dagster/row_count"].value
                 for m in result.asset_materializations_for_node("bronze_events"))
    range_profile = run_profile(bench.instance, result.run_id)
    range_profile["mart_load_s"] = mart_load_seconds(result)
    range_profile["outside_steps_s"] = round(t.seconds - sum(range_profile["steps"].values()), 2)
    print(f"  in-process range run: {t.seconds:.1f} s ({events:,} events; {range_profile})", flush=True)
    singles, single_profiles = [], []
    for day in single_days:
        with Stopwatch() as one:
            result = bench.materialize(partition_key=day.isoformat())
        singles.append(round(one.seconds, 2))
        single_profiles.append({**run_profile(bench.instance, result.run_id), "mart_load_s": mart_load_seconds(result)})
        print(f"  in-process run of {day}: {one.seconds:.1f} s ({single_profiles[-1]})", flush=True)
    return {"range_seconds": round(t.seconds, 2), "range_events": events, "range_profile": range_profile,
            "single_seconds": singles, "single_profiles": single_profiles}


def fresh_process_runs(bench: Bench, range_days: list[date], single_days: list[date]) -> dict:
    partition_range = f"{range_days[0].isoformat()}...{range_days[-1].isoformat()}"
    range_run = bench.materialize_in_fresh_process(["--partition-range", partition_range], "fresh-range")
    print(f"  fresh-process range run: {describe_fresh(range_run)}", flush=True)
    singles = []
    for day in single_days:
        singles.append(bench.materialize_in_fresh_process(["--partition", day.isoformat()], f"fresh-{day}"))
        print(f"  fresh-process run of {day}: {describe_fresh(singles[-1])}", flush=True)
    return {"range_seconds": range_run["wall_s"], "single_seconds": [s["wall_s"] for s in singles],
            "range_breakdown": range_run, "single_breakdown": singles}


def describe_fresh(run: dict) -> str:
    return (f"{run['wall_s']:.1f} s wall, of which {run['outside_steps_s']:.1f} s outside the steps (interpreter, "
            f"definitions, run set-up and tear-down, exit); steps {run['steps']}; Spark jobs {run['spark_jobs']} "
            f"(the first waited {run['spark_session_wait_s']} s for its session)")


def per_partition(figures: dict, days: int) -> None:
    """Adds the per-partition costs and their ratio to ``figures`` (one of the two measurements)."""
    figures["range_per_partition_s"] = round(figures["range_seconds"] / days, 3)
    figures["single_per_partition_s"] = round(statistics.mean(figures["single_seconds"]), 2)
    figures["ratio_single_to_range_per_partition"] = round(
        figures["single_per_partition_s"] / figures["range_per_partition_s"], 1)
    figures["pass_range"] = figures["range_seconds"] <= RANGE_TARGET_S
    figures["pass_per_partition"] = figures["ratio_single_to_range_per_partition"] >= PER_PARTITION_TARGET


def part2(bench: Bench, args) -> dict:
    range_days = days_between(args.range_start, args.days)
    single_days = days_between(args.range_start - timedelta(days=args.single_runs), args.single_runs)
    print(f"\n== part 2: {range_days[0]}..{range_days[-1]} ({len(range_days)} days) as one run, "
          f"{single_days[0]}..{single_days[-1]} one run each ==", flush=True)
    with Stopwatch() as gen:
        bench.resources["producers"].prepare_sources(range_days + single_days)  # the producers' own generator
    print(f"  generated {len(range_days) + len(single_days)} days of logs in {gen.seconds:.1f} s (not timed)")
    warm_seconds = warm_spark(bench)
    print(f"  Spark session ready in {warm_seconds:.1f} s before the in-process runs", flush=True)
    in_process = in_process_runs(bench, range_days, single_days)
    per_partition(in_process, len(range_days))
    stop_spark()  # nothing of this process's Spark is left running while the fresh processes run
    fresh = fresh_process_runs(bench, range_days, single_days)
    per_partition(fresh, len(range_days))
    figures = {"days": len(range_days), "single_runs": len(single_days), "generation_seconds": round(gen.seconds, 2),
               "spark_warm_up_seconds": round(warm_seconds, 2), "in_process_warm_spark": in_process,
               "fresh_processes": fresh, "target_range_seconds": RANGE_TARGET_S,
               "target_per_partition_ratio": PER_PARTITION_TARGET}
    print_part2(figures)
    return figures


def print_part2(f: dict) -> None:
    for label, key in (("in this process, Spark session already running", "in_process_warm_spark"),
                       ("fresh process per run (production-like)", "fresh_processes")):
        m = f[key]
        singles = ", ".join(f"{s:.1f}" for s in m["single_seconds"])
        print(f"  {label}:")
        print(f"    range of {f['days']} days as one run  {m['range_seconds']:7.1f} s  "
              f"= {m['range_per_partition_s']:.3f} s per partition; target <= {RANGE_TARGET_S:.0f} s: "
              f"{verdict(m['pass_range'])}")
        print(f"    one run per partition         {m['single_per_partition_s']:7.1f} s per partition "
              f"(runs: {singles} s)")
        print(f"    per-partition cost ratio      {m['ratio_single_to_range_per_partition']:7.1f}x; "
              f"target >= {PER_PARTITION_TARGET:.0f}x: {verdict(m['pass_per_partition'])}")


# --- main ------------------------------------------------------------------------------------------------


def ensure_class_archive() -> dict:
    """The Spark driver's class-data archive, as ``scripts/dev.sh`` builds it (not timed; once per machine)."""
    from tripclick_assets.lib.spark.class_archive import build

    archive = local_settings().spark_class_archive
    if archive.is_file():
        print(f"Spark class-data archive: {archive} (present)", flush=True)
        return {"path": str(archive), "built_seconds": None}
    print(f"Spark class-data archive: building {archive} (not timed) ...", flush=True)
    with Stopwatch() as t:
        build(archive)
    return {"path": str(archive), "built_seconds": round(t.seconds, 1)}


def main() -> int:
    args = parse_args()
    figures = {"benchmark": "lineage", "quick": args.quick, "machine": machine()}
    figures["spark_class_archive"] = ensure_class_archive()
    with tempfile.TemporaryDirectory(prefix="bench-lineage-") as tmp:
        workdir = Path(tmp)
        with local_services(workdir, postgres=True) as (broker, postgres):
            bench = Bench(workdir, broker, postgres)
            try:
                if args.part in ("1", "both"):
                    figures["part1"] = part1(bench, args)
                if args.part in ("2", "both"):
                    figures["part2"] = part2(bench, args)
            finally:
                stop_spark()
                bench.instance.dispose()
    emit_json(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
