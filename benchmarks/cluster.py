"""The production path's cost: the 1M-event day, bronze + silver + marts, on a two-worker Spark standalone
cluster from the deploy image, beside the same day on ``local[*]``, in the same run, on the same two cores.

Set-up (not timed): the embedded broker and PostgreSQL, a private dockerd, the ``deploy/spark`` image built on
a debootstrap Debian base (as the tests build it), spark-master and two 1-core 1 GiB workers
(``tripclick_assets_tests/remote/cluster.py``), and the day produced into Kafka. Then two timed runs, each in a
fresh process (``dagster asset materialize -f benchmarks/lineage_defs.py --select 'bronze_events*'``):

* baseline: ``local[*]`` in the run's process;
* cluster: the driver in the run's process (``TRIPCLICK_SPARK_MASTER`` path), executors on the workers.

Prints wall time, seconds per step and per Spark job, and the ratio cluster / local. Needs root (dockerd).

    .venv/bin/python benchmarks/cluster.py [--events 1000000] [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _common import Stopwatch, emit_json, local_services, machine  # noqa: E402
from lineage import DEFS_FILE, Bench, produce_day, run_profile  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--date", type=date.fromisoformat, default=date(2016, 1, 1))
    p.add_argument("--quick", action="store_true", help="smoke run: 20,000 events")
    args = p.parse_args()
    if args.quick:
        args.events = 20_000
    return args


def start_cluster(workdir: Path):
    from tripclick_assets_tests.remote.cluster import SparkCluster
    from tripclick_assets_tests.remote.servers import Dockerd, bookworm_rootfs_tarball, build, import_base_image

    dockerd = Dockerd(Path(tempfile.mkdtemp(prefix="bd", dir="/tmp")))  # short: the socket path limit
    dockerd.start()
    client = dockerd.client()
    with Stopwatch() as t:
        base = import_base_image(client, bookworm_rootfs_tarball())
        image = build(client, REPO, "tripclick-bench/spark:latest", dockerfile="deploy/spark/Dockerfile",
                      buildargs={"INSTALL_S3A_JARS": "false", "BASE_IMAGE": base})
    print(f"cluster: image built in {t.seconds:.0f} s", flush=True)
    cluster = SparkCluster(client, image, [workdir])
    cluster.start()
    return dockerd, cluster


def timed_run(bench: Bench, day: date, name: str, extra_env: dict[str, str]) -> dict:
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-f", str(DEFS_FILE),
               "--select", "bronze_events*", "--partition", day.isoformat()]
    log_path = bench.workdir / f"{name}.log"
    with Stopwatch() as t, open(log_path, "wb") as log:
        code = subprocess.run(command, env={**bench.env, **extra_env}, stdout=log, stderr=subprocess.STDOUT,
                              cwd=REPO).returncode
    if code != 0:
        raise SystemExit(f"{name} run failed ({code}):\n{log_path.read_text(errors='replace')[-3000:]}")
    run_id = bench.instance.get_runs(limit=1)[0].run_id
    profile = run_profile(bench.instance, run_id)
    return {"wall_s": round(t.seconds, 2), **profile}


def main() -> None:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tripclick-bench-cluster-"))
    figures = {"machine": machine(), "events": args.events}
    with local_services(workdir / "services", postgres=True) as (broker, postgres):
        dockerd, cluster = start_cluster(workdir)
        try:
            bench = Bench(workdir, broker, postgres)
            _, produce_s = produce_day(bench, args.date, args.events)
            print(f"produced {args.events:,} events in {produce_s:.1f} s (not timed)", flush=True)
            local = timed_run(bench, args.date, "local", {"BENCH_SPARK_MASTER": "local[*]"})
            print(f"local[*]: {local['wall_s']} s {local['steps']}", flush=True)
            on_cluster = timed_run(bench, args.date, "cluster", {
                "BENCH_SPARK_MASTER": f"spark://127.0.0.1:{cluster.master_port}",
                "BENCH_SPARK_WORKER_PYTHON": "/opt/venv/bin/python"})
            print(f"cluster: {on_cluster['wall_s']} s {on_cluster['steps']}", flush=True)
            workers = cluster.tasks_by_worker()
        finally:
            cluster.stop()
            dockerd.stop()
    figures |= {"local": local, "cluster": on_cluster,
                "tasks_by_worker": {w: sum(a.values()) for w, a in workers.items()},
                "ratio_cluster_to_local": round(on_cluster["wall_s"] / local["wall_s"], 2)}
    print(f"\nthe {args.events:,}-event day, bronze + silver + marts (fresh process each):")
    print(f"  local[*]            {local['wall_s']:8.1f} s   spark jobs {local['spark_jobs']}")
    print(f"  two-worker cluster  {on_cluster['wall_s']:8.1f} s   spark jobs {on_cluster['spark_jobs']}")
    print(f"  ratio cluster / local: {figures['ratio_cluster_to_local']}x   tasks per worker: "
          f"{figures['tasks_by_worker']}")
    emit_json(figures)


if __name__ == "__main__":
    os.environ.setdefault("TRIPCLICK_TEST_CACHE", "/var/cache/tripclick-tests")
    main()
