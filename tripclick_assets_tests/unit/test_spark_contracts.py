"""The typed contracts between the Dagster side and the Spark jobs (tripclick_assets.lib.spark.jobs).

Each params/result type goes through JSON the way the SSH path moves it: params encoded into
the params file and decoded by the job's entry point; the result turned into builtins for the
Pipes custom message (or printed as the last stdout line) and converted back on the Dagster
side. Wrong or missing fields fail naming the field.
"""

import io
import json
from pathlib import Path

import dagster as dg
import msgspec
import pytest

from tripclick_assets.lib.lake.store import LakeLocation
from tripclick_assets.lib.spark import jobs
from tripclick_assets.lib.spark.jobs import (
    BronzeDay, BronzeParams, BronzeResult, MartsParams, MartsResult, MartTableStats, SilverDay, SilverParams,
    SilverResult, check_params, decode_params, encode_params, result_from_message, result_message,
)

DAY, DAY2 = "2016-01-01", "2016-01-02"
S3 = LakeLocation("s3://lake/tripclick", s3_endpoint_url="http://minio:9000", s3_region="us-east-1")

PARAMS = [
    BronzeParams(lake=S3, kafka={"bootstrap.servers": "kafka:9092", "security.protocol": "SASL_SSL"},
                 topic="tripclick_raw_logs", ranges_by_date={DAY: {"0": (0, 99), "2": (5, 7)}, DAY2: {}}),
    BronzeParams(lake=LakeLocation("/data/lake"), kafka={"bootstrap.servers": "k:9092"}, topic="t",
                 ranges_by_date={DAY: {"1": (10, 20)}}, version="20160101T000000-abcdef12"),
    SilverParams(lake=LakeLocation("/data/lake"), dates=[DAY, DAY2],
                 bronze_files={DAY: ["/data/lake/bronze/data/v1/_partition=2016-01-01/part-0.parquet"], DAY2: []}),
    SilverParams(lake=S3, dates=[DAY], bronze_files={DAY: ["s3://lake/tripclick/bronze/data/v/p.parquet"]},
                 version="v1"),
    MartsParams(dates=[DAY], postgres_url="postgresql://u:p@pg:5432/db"),
    MartsParams(dates=[DAY, DAY2], postgres_url="postgresql://u:p@pg/db", silver_paths=["s3a://lake/a.parquet"],
                bronze_parsed_counts={DAY: 10, DAY2: 0}, postgres_schema="marts"),
]

RESULTS = [
    (BronzeParams, BronzeResult(
        layer="bronze", version="v1", tasks=3, rows_of_other_dates=2, seconds=12.5,
        by_date={DAY: BronzeDay(rows=10, parsed_rows=9, parse_errors=1, files=2, path="/lake/bronze/x", bytes=1234),
                 DAY2: BronzeDay(rows=0, parsed_rows=0, parse_errors=0, files=0, path="/lake/bronze/y", bytes=0)})),
    (SilverParams, SilverResult(
        layer="silver", version="v2", seconds=3.0,
        by_date={DAY: SilverDay(rows=8, bronze_rows=10, bronze_parsed_rows=9, duplicates_removed=0,
                                rejected_rows=1, rejected_by_reason={"event_ts_not_a_timestamp": 1},
                                dropped_document_ids=2, dropped_document_ids_by_reason={"document_id_out_of_range": 2},
                                path="/lake/silver/x", bytes=999)})),
    (MartsParams, MartsResult(
        tables={"mart_daily_traffic": MartTableStats(rows=1, rows_by_date={DAY: 1}),
                "mart_session_analysis": MartTableStats(rows=0, rows_by_date={DAY: 0})},
        dates=[DAY], silver_rows=8, silver_paths=1, missing_bronze_counts=[], schema_changed=True,
        postgres_schema=None, timings={"total_seconds": 4.25, "load_mart_daily_traffic_seconds": 0.5})),
]


def _ids(values):
    return [type(v).__name__ for v in values]


@pytest.mark.parametrize("params", PARAMS, ids=_ids(PARAMS))
def test_params_survive_the_params_file(params):
    data = encode_params(params)  # what SSHSparkResource writes into the params file
    assert isinstance(json.loads(data), dict)  # plain JSON
    decoded = decode_params(type(params), data)  # what _job.job_main decodes
    assert decoded == params
    assert check_params(type(params).JOB, params) == params  # the local path's check is the same round trip


@pytest.mark.parametrize(("kind", "result"), RESULTS, ids=[k.JOB for k, _ in RESULTS])
def test_results_survive_pipes_and_stdout(kind, result):
    assert kind.RESULT is type(result)
    reported = msgspec.structs.replace(result, job=kind.JOB, job_seconds=15.0)  # as job_main reports it
    message = json.loads(json.dumps(result_message(reported)))  # the Pipes custom message is plain JSON
    assert result_from_message(kind, message) == reported
    line = msgspec.json.encode(reported, order="sorted").decode()  # the last stdout line (run.last_json())
    assert result_from_message(kind, json.loads(line)) == reported
    # Locally nothing sets job/job_seconds: they are optional.
    assert result_from_message(kind, result_message(result)) == result and result.job is None


def test_offset_ranges_from_metadata_become_pairs():
    """The producer's metadata has lists ``[first, last]``; the job sees (first, last) pairs either way."""
    params = BronzeParams(lake=LakeLocation("/l"), kafka={"bootstrap.servers": "k:1"}, topic="t",
                          ranges_by_date={DAY: {"0": [0, 5]}})
    assert check_params("bronze", params).ranges_by_date == {DAY: {"0": (0, 5)}}


@pytest.mark.parametrize(("kind", "data", "field"), [
    (BronzeParams, {"lake": {"root": "/l"}, "kafka": {"bootstrap.servers": "k:1"}, "ranges_by_date": {}},
     "missing required field `topic`"),
    (BronzeParams, {"lake": {}, "kafka": {}, "topic": "t", "ranges_by_date": {}},
     "missing required field `root` - at `$.lake`"),
    (BronzeParams, {"lake": {"root": "/l"}, "kafka": {}, "topic": "t", "ranges_by_date": {DAY: {"0": [1]}}},
     "Expected `array` of length 2 - at `$.ranges_by_date[...][...]`"),
    (BronzeParams, {"lake": {"root": "/l"}, "kafka": {"bootstrap.servers": 9092}, "topic": "t", "ranges_by_date": {}},
     "Expected `str`, got `int` - at `$.kafka[...]`"),
    (SilverParams, {"lake": {"root": "/l"}, "dates": DAY, "bronze_files": {}}, "Expected `array`, got `str` - at `$.dates`"),
    (SilverParams, {"lake": {"root": "/l"}}, "missing required field `dates`"),
    (MartsParams, {"dates": [DAY]}, "missing required field `postgres_url`"),
    (MartsParams, {"dates": [DAY], "postgres_url": "x", "bronze_parsed_counts": {DAY: "12"}},
     "Expected `int`, got `str` - at `$.bronze_parsed_counts[...]`"),
    (MartsParams, {"dates": [DAY], "postgres_url": "x", "postgres_schma": "s"}, "unknown field `postgres_schma`"),
])
def test_wrong_or_missing_params_fail_naming_the_field(kind, data, field):
    with pytest.raises(ValueError, match=rf"^{kind.JOB} job: invalid params: .*") as raised:
        decode_params(kind, json.dumps(data))
    assert field in str(raised.value)


def test_a_malformed_result_fails_naming_the_field():
    message = result_message(RESULTS[0][1])
    del message["by_date"][DAY]["rows"]
    with pytest.raises(ValueError, match=r"bronze job: invalid result: .*`rows` - at `\$\.by_date\[\.\.\.\]`"):
        result_from_message(BronzeParams, message)
    with pytest.raises(ValueError, match=r"Expected `float`, got `str` - at `\$\.timings\[\.\.\.\]`"):
        result_from_message(MartsParams, {**result_message(RESULTS[2][1]), "timings": {"total_seconds": "4"}})


def test_the_resources_check_params_before_running_anything():
    from tripclick_assets.resources.spark import SparkResource

    mistyped = SilverParams(lake=LakeLocation("/l"), dates=DAY, bronze_files={})  # constructing a Struct does not validate...
    with pytest.raises(dg.Failure, match=r"Expected `array`, got `str` - at `\$\.dates`") as raised:
        SparkResource.checked_params("silver", mistyped)  # ...the resource does, as the job would
    assert raised.value.allow_retries is False
    with pytest.raises(dg.Failure, match="spark job 'bronze' takes BronzeParams, got SilverParams"):
        SparkResource.checked_params("bronze", PARAMS[2])
    with pytest.raises(dg.Failure, match="unknown spark job 'gold'"):
        SparkResource.checked_params("gold", PARAMS[2])


def test_every_job_script_has_a_contract():
    scripts = Path(jobs.__file__).parents[2] / "spark_jobs"
    names = {p.stem for p in scripts.glob("*.py") if not p.name.startswith("_")}
    assert set(jobs.PARAMS_TYPES) == names == {"bronze", "silver", "marts"}
    assert {t.RESULT for t in jobs.PARAMS_TYPES.values()} == {BronzeResult, SilverResult, MartsResult}


class _Session:
    stopped = False

    def stop(self):
        self.stopped = True


def test_the_spark_submit_entry_point_decodes_params_and_prints_the_typed_result(tmp_path, monkeypatch, capsys):
    """job_main without Spark: params file -> SilverParams -> run -> result JSON on the last stdout line."""
    from tripclick_assets.spark_jobs import _job, _session

    session = _Session()
    monkeypatch.setattr(_session, "get_or_create_session", lambda config, app_name: session)
    monkeypatch.delenv("DAGSTER_PIPES_CONTEXT", raising=False)
    seen = []

    def run(spark, params):
        seen.append(params)
        return RESULTS[1][1]

    params_file = tmp_path / "params.json"
    params_file.write_bytes(encode_params(PARAMS[2]))
    assert _job.job_main(SilverParams, run, ["--params-file", str(params_file)]) == 0
    assert seen == [PARAMS[2]] and session.stopped
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = result_from_message(SilverParams, json.loads(last))
    assert result.job == "silver" and result.job_seconds is not None and result.job_seconds >= 0
    assert msgspec.structs.replace(result, job=None, job_seconds=None) == RESULTS[1][1]

    # Bad params fail before a session is created, naming the field.
    with pytest.raises(ValueError, match=r"silver job: invalid params: Object missing required field `lake`"):
        _job.job_main(SilverParams, run, ["--params", json.dumps({"dates": [DAY]})])
    assert len(seen) == 1


def test_the_ssh_params_file_holds_the_encoded_params():
    """The params go over the channel's stdin into a file a umask-077 shell creates (never on a command line)."""
    from tripclick_assets.resources.ssh_spark import SSHSparkResource

    written = {}

    class Stdin(io.BytesIO):
        channel = None

    class Channel:
        def shutdown_write(self):
            written["data"] = stdin.getvalue()

        def recv_exit_status(self):
            return 0

    stdin = Stdin()
    stdin.channel = Channel()

    class Stdout:
        channel = stdin.channel

    class Client:
        def exec_command(self, command, timeout=None):
            written["command"] = command
            return stdin, Stdout(), io.BytesIO()

    spark = SSHSparkResource(host="h", user="u", private_key="/k", remote_dir="/opt/tripclick")
    path = spark._write_params(Client(), "marts", PARAMS[5])
    assert path.startswith("/opt/tripclick/runs/params-marts-") and path in written["command"]
    assert written["command"].startswith("umask 077 && ") and "set -C" in written["command"]
    assert decode_params(MartsParams, written["data"]) == PARAMS[5]
    assert PARAMS[5].postgres_url not in written["command"]
