"""Entry point shared by the job modules when they run under spark-submit.

``spark-submit tripclick_assets/spark_jobs/silver.py --params '{...}'`` (or
``--params-file PATH``) builds the session from spark-submit's settings, runs the job,
reports the result through Dagster Pipes when launched by Dagster, and prints it as the
last stdout line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Callable


def job_main(name: str, run: Callable[[object, dict], dict], argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=name)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--params", help="job parameters as JSON")
    source.add_argument("--params-file", help="file holding the job parameters as JSON")
    args, _ = parser.parse_known_args(argv)
    params = json.loads(args.params) if args.params else json.loads(open(args.params_file).read())

    from tripclick_assets.spark_jobs._session import BASE_CONFIG, get_or_create_session

    with contextlib.ExitStack() as stack:
        pipes = None
        try:
            from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes

            if PipesEnvVarParamsLoader().is_dagster_pipes_process():
                pipes = stack.enter_context(open_dagster_pipes())
        except ImportError:  # a Spark image without dagster-pipes still runs the job
            pass
        started = time.monotonic()
        spark = get_or_create_session(BASE_CONFIG, app_name=f"tripclick-{name}")
        try:
            result = run(spark, params)
        finally:
            spark.stop()
        result = {**result, "job": name, "job_seconds": round(time.monotonic() - started, 3)}
        if pipes is not None:
            pipes.report_custom_message(result)
        print(json.dumps(result, sort_keys=True, default=str), flush=True)
    return 0


def run_as_script(name: str, run: Callable[[object, dict], dict]) -> None:
    sys.exit(job_main(name, run))
