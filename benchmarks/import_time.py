"""Cold load of the code location: import ``tripclick_assets.definitions`` and load its definitions.

Each measurement is a new ``python -c ...`` process (wall time, interpreter start-up included),
so nothing is cached in memory between runs; the OS file cache and ``__pycache__`` stay warm,
as they are when Dagster restarts a code server. The project run imports the module and calls
``defs()`` (``@dg.definitions``: the module import alone loads nothing), which is what a code
server does. Baseline in the same run: ``import dagster`` alone, alternated with the project
run so background load hits both alike. Also lists the modules with the largest cumulative
import time (``python -X importtime``). Target: the project at most 1.5x ``import dagster``
(medians).

    .venv/bin/python benchmarks/import_time.py [--runs 5] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import emit_json, machine, verdict

TARGET_RATIO = 1.5
PROJECT = "tripclick_assets.definitions"
PROJECT_CODE = "import tripclick_assets.definitions as d; d.defs()"
BASELINE = "dagster"
REPO = Path(__file__).resolve().parent.parent  # run where `dagster dev` runs, as it loads the module


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5, help="fresh processes per import (default 5)")
    p.add_argument("--top", type=int, default=10, help="modules to list from -X importtime")
    p.add_argument("--quick", action="store_true", help="smoke run: 2 runs each")
    args = p.parse_args()
    if args.quick:
        args.runs = 2
    return args


def time_code(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
    return time.perf_counter() - started


def summary(seconds: list[float]) -> dict:
    return {"min_s": round(min(seconds), 3), "median_s": round(statistics.median(seconds), 3),
            "max_s": round(max(seconds), 3), "runs_s": [round(s, 3) for s in seconds]}


def importtime_table(code: str) -> list[dict]:
    """Every module of ``python -X importtime -c code``: self and cumulative microseconds."""
    stderr = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=REPO,
                            check=True, capture_output=True, text=True).stderr
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue  # the header line
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        rows.append({"module": name.strip(), "self_ms": int(self_us) / 1000,
                     "cumulative_ms": int(cumulative_us) / 1000})
    return rows


def self_time_by_package(rows: list[dict]) -> list[dict]:
    """Own import time summed per top-level package (dagster, pydantic, tripclick_assets, ...)."""
    totals: dict[str, float] = {}
    for row in rows:
        package = row["module"].split(".")[0]
        totals[package] = totals.get(package, 0.0) + row["self_ms"]
    ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)
    return [{"package": name, "self_ms": round(ms, 1)} for name, ms in ranked]


def main() -> int:
    args = parse_args()
    project, baseline, interpreter = [], [], []
    for i in range(args.runs):
        baseline.append(time_code(f"import {BASELINE}"))
        project.append(time_code(PROJECT_CODE))
        interpreter.append(time_code("import sys"))  # interpreter start-up alone
        print(f"run {i + 1}/{args.runs}: {BASELINE} {baseline[-1]:.2f} s, {PROJECT} {project[-1]:.2f} s, "
              f"bare interpreter {interpreter[-1]:.2f} s", flush=True)
    rows = importtime_table(PROJECT_CODE)
    top = sorted(rows, key=lambda r: r["cumulative_ms"], reverse=True)[: args.top]
    top_self = sorted(rows, key=lambda r: r["self_ms"], reverse=True)[: args.top]
    packages = self_time_by_package(rows)[: args.top]

    ratio = statistics.median(project) / statistics.median(baseline)
    figures = {
        "benchmark": "import_time",
        "project": summary(project),
        "baseline_dagster": summary(baseline),
        "interpreter": summary(interpreter),
        "ratio_project_to_dagster_median": round(ratio, 2),
        "target_ratio": TARGET_RATIO,
        "pass": ratio <= TARGET_RATIO,
        "pyspark_imported": any(r["module"].split(".")[0] == "pyspark" for r in rows),
        "top_cumulative": top,
        "top_self": top_self,
        "top_packages": packages,
        "quick": args.quick,
        "machine": machine(),
    }
    print()
    for label, key in ((f"load {PROJECT}", "project"), (f"import {BASELINE}", "baseline_dagster"),
                       ("interpreter alone", "interpreter")):
        s = figures[key]
        print(f"{label:<40} min {s['min_s']:.2f} s  median {s['median_s']:.2f} s  max {s['max_s']:.2f} s")
    print(f"ratio project / dagster (medians)        {figures['ratio_project_to_dagster_median']:.2f}x")
    print(f"target ratio <= {TARGET_RATIO}x: {verdict(figures['pass'])}; pyspark imported: {figures['pyspark_imported']}")
    print(f"\ntop {args.top} modules by cumulative import time (python -X importtime, one run):")
    for row in top:
        print(f"  {row['cumulative_ms']:9.1f} ms  {row['module']}")
    print(f"\ntop {args.top} modules by their own import time:")
    for row in top_self:
        print(f"  {row['self_ms']:9.1f} ms  {row['module']}")
    print(f"\ntop {args.top} top-level packages by own import time (summed over their modules):")
    for row in packages:
        print(f"  {row['self_ms']:9.1f} ms  {row['package']}")
    emit_json(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
