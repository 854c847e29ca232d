"""Typed contracts of the Spark jobs: each job's parameters and result.

Both sides import these: the Dagster assets and resources build a ``*Params`` and get a
``*Result`` back; the job modules (``tripclick_assets/spark_jobs/<job>.py``) take the one and
return the other. On the way to a remote Spark host both travel as JSON (the params file of
``spark-submit ... --params-file``, the Pipes custom message / last stdout line of the
result) and are decoded back into these types, so a missing or mistyped field fails naming
that field (``Object missing required field `topic```, ``Expected `int`, got `str` - at
`$.by_date[...].rows```).

Pure Python (msgspec and the lake location only): no Dagster, no pyspark. This module is not
a job script (``SSHSparkResource`` ships every public module of ``spark_jobs/`` as one).
"""

from typing import ClassVar, Generic, TypeVar

import msgspec

from tripclick_assets.lib.lake.store import LakeLocation

Day = str
"""An event_date partition key, ``YYYY-MM-DD``."""

OffsetSpan = tuple[int, int]
"""Inclusive Kafka offsets ``[first, last]`` of one partition (a JSON array of two ints)."""


class JobResult(msgspec.Struct, kw_only=True):
    """What every job reports; ``job``/``job_seconds`` are set by the spark-submit entry point only."""

    job: str | None = None
    job_seconds: float | None = None


R = TypeVar("R", bound=JobResult)


class JobParams(msgspec.Struct, Generic[R], kw_only=True, forbid_unknown_fields=True):
    """A job's parameters. ``JOB`` names the job (``spark_jobs/<JOB>.py``), ``RESULT`` its result type."""

    JOB: ClassVar[str]
    RESULT: ClassVar[type]


# -- bronze -----------------------------------------------------------------------------------


class BronzeDay(msgspec.Struct, kw_only=True):
    rows: int
    parsed_rows: int
    parse_errors: int
    files: int
    path: str
    """The day's staging directory (nothing is published by the job)."""
    bytes: int
    staged_files: list[str] = []
    """The day's staged Parquet files (``s3://`` URIs on S3), for the Dagster side to audit and publish."""


class BronzeResult(JobResult, kw_only=True):
    layer: str
    version: str
    tasks: int
    by_date: dict[Day, BronzeDay]
    rows_of_other_dates: int
    seconds: float


class BronzeParams(JobParams[BronzeResult], kw_only=True, forbid_unknown_fields=True):
    """Kafka offset ranges -> bronze partitions."""

    JOB: ClassVar[str] = "bronze"
    RESULT: ClassVar[type] = BronzeResult

    lake: LakeLocation
    kafka: dict[str, str]
    """confluent-kafka client config (``bootstrap.servers`` and the security settings)."""
    topic: str
    ranges_by_date: dict[Day, dict[str, OffsetSpan]]
    """``{day: {partition: [first, last]}}``, the producer's acknowledged ranges."""
    version: str | None = None
    """The staging version to write (default: a new one); the asset holds its lease."""


# -- silver -----------------------------------------------------------------------------------


class SilverDay(msgspec.Struct, kw_only=True):
    rows: int
    bronze_rows: int
    bronze_parsed_rows: int
    duplicates_removed: int
    """Parsed bronze rows that are later copies of a kept event: ``bronze_parsed_rows = rows +
    duplicates_removed + rejected_rows`` (rejection comes before dedup)."""
    rejected_rows: int
    """Parsed bronze rows left out of silver: a required value null or not typable (every copy counts)."""
    rejected_by_reason: dict[str, int]
    """``{reason: rows}``, non-zero only (``spark_jobs.silver.REJECT_REASONS``)."""
    dropped_document_ids: int
    """Entries of kept rows' ``documents`` that are no bigint id, left out of the array (the row is kept)."""
    dropped_document_ids_by_reason: dict[str, int]
    """``{reason: entries}``, non-zero only (``spark_jobs.silver.DROPPED_DOCUMENT_ID_REASONS``)."""
    path: str
    bytes: int
    staged_files: list[str] = []


class SilverResult(JobResult, kw_only=True):
    layer: str
    version: str
    by_date: dict[Day, SilverDay]
    seconds: float


class SilverParams(JobParams[SilverResult], kw_only=True, forbid_unknown_fields=True):
    """The current bronze of each date -> staged silver (published by the Dagster side)."""

    JOB: ClassVar[str] = "silver"
    RESULT: ClassVar[type] = SilverResult

    lake: LakeLocation
    dates: list[Day]
    bronze_files: dict[Day, list[str]]
    """The data files of each date's bronze partition in the table's current snapshot (its scan plan)."""
    version: str | None = None


# -- marts ------------------------------------------------------------------------------------


class MartTableStats(msgspec.Struct, kw_only=True):
    rows: int
    rows_by_date: dict[Day, int]


class MartsResult(JobResult, kw_only=True):
    tables: dict[str, MartTableStats]
    dates: list[Day]
    silver_rows: int
    silver_paths: int
    missing_bronze_counts: list[Day]
    schema_changed: bool
    postgres_schema: str | None
    timings: dict[str, float]
    """``read_silver_seconds``, ``compute_<table>_seconds``, ``load_<table>_seconds``, ``total_seconds``, ..."""
    candidate_schema: str | None = None
    """Where the rows were loaded when the caller publishes (``MartsParams.candidate_schema``)."""
    published: bool = True


class MartsParams(JobParams[MartsResult], kw_only=True, forbid_unknown_fields=True):
    """Silver Parquet -> the PostgreSQL marts, one replaced partition per date."""

    JOB: ClassVar[str] = "marts"
    RESULT: ClassVar[type] = MartsResult

    dates: list[Day]
    postgres_url: str
    silver_paths: list[str] = []
    """The silver table's current data files of those dates (its scan plan; may be empty)."""
    bronze_parsed_counts: dict[Day, int] = {}
    """Parsed bronze rows per date (a date missing here gets duplicates_removed NULL)."""
    postgres_schema: str | None = None
    """Default: the URL's search_path (public)."""
    candidate_schema: str | None = None
    """Load into this new candidate schema and leave it for the caller to audit and publish
    (``lib.marts.postgres_load.publish_candidate``). None: load a candidate and publish it at once."""


# -- registry ---------------------------------------------------------------------------------

PARAMS_TYPES: dict[str, type[JobParams]] = {t.JOB: t for t in (BronzeParams, SilverParams, MartsParams)}
"""Job name -> its params type (the result type is ``PARAMS_TYPES[job].RESULT``)."""


def params_type(job: str) -> type[JobParams]:
    try:
        return PARAMS_TYPES[job]
    except KeyError:
        raise ValueError(f"unknown spark job {job!r}; known: {sorted(PARAMS_TYPES)}") from None


def check_params(job: str, params: JobParams[R]) -> JobParams[R]:
    """``params`` as the job will see them: the type must be ``job``'s, and the value survives the
    JSON round trip of the remote path (so a local run fails exactly where a remote one would)."""
    expected = params_type(job)
    if type(params) is not expected:
        raise TypeError(f"spark job {job!r} takes {expected.__name__}, got {type(params).__name__}")
    return decode_params(expected, encode_params(params))


def encode_params(params: JobParams) -> bytes:
    return msgspec.json.encode(params)


def decode_params(kind: type[JobParams], data: bytes | str) -> JobParams:
    """Raises ``ValueError`` naming the job and the offending field."""
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as exc:
        raise ValueError(f"{kind.JOB} job: invalid params: {exc}") from None


def result_from_message(kind: type[JobParams[R]], message: object) -> R:
    """A job's result from its JSON-decoded form (a Pipes custom message, the last stdout line)."""
    try:
        return msgspec.convert(message, type=kind.RESULT)
    except msgspec.ValidationError as exc:
        raise ValueError(f"{kind.JOB} job: invalid result: {exc}") from None


def result_message(result: JobResult) -> dict:
    """The JSON-serialisable form of a result (what the Pipes custom message carries)."""
    return msgspec.to_builtins(result)
