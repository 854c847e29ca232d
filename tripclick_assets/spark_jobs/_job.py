"""Entry point shared by the job modules when they run under spark-submit.

``spark-submit tripclick_assets/spark_jobs/silver.py --params '{...}'`` (or
``--params-file PATH``) decodes the JSON parameters into the job's params type
(:mod:`tripclick_assets.lib.spark.jobs`; a missing or mistyped field fails naming it), builds
the session from spark-submit's settings, runs the job, reports the result through Dagster
Pipes when launched by Dagster, and prints it as JSON on the last stdout line.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable

import msgspec

from tripclick_assets.lib.spark.jobs import JobParams, JobResult, decode_params, result_message


def job_main(params_type: type[JobParams], run: Callable[[object, JobParams], JobResult],
             argv: list[str] | None = None) -> int:
    name = params_type.JOB
    parser = argparse.ArgumentParser(prog=name)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--params", help="job parameters as JSON")
    source.add_argument("--params-file", help="file holding the job parameters as JSON")
    args, _ = parser.parse_known_args(argv)
    if args.params:
        data = args.params
    else:
        with open(args.params_file, "rb") as handle:
            data = handle.read()
    params = decode_params(params_type, data)

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
        result = msgspec.structs.replace(result, job=name, job_seconds=round(time.monotonic() - started, 3))
        if pipes is not None:
            pipes.report_custom_message(result_message(result))
        print(msgspec.json.encode(result, order="sorted").decode(), flush=True)
    return 0


def run_as_script(params_type: type[JobParams], run: Callable[[object, JobParams], JobResult]) -> None:
    sys.exit(job_main(params_type, run))
