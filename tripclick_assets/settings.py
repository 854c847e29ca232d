"""The one module that reads the environment: ``TRIPCLICK_ENV=local|prod`` and every setting.

A leaf: it imports nothing from the project and nothing from Dagster. Each setting is one
line below, named by its variable, and lands in the keyword arguments of the resource it
configures (``defs/resources.py`` builds the resources). Secrets are never read here: a
:class:`Secret` names the variable, and Dagster resolves it at run time (``dg.EnvVar``).
A malformed value fails at load with a message that names the variable.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

ENVIRONMENTS = ("local", "prod")

DEFAULT_SPARK_SUBMIT = (
    "docker exec {docker_env} spark-master spark-submit --master spark://spark-master:7077 "
    "--py-files {code_zip} {job_script} --params-file {params_file}"
)
DEFAULT_SPARK_KILL = "docker exec spark-master pkill -TERM -f {params_file}"
# Docker TLS material: resource field -> (variable suffix, file name in TRIPCLICK_DOCKER_TLS_DIR)
TLS_FILES = {"tls_ca": ("CA", "ca.pem"), "tls_cert": ("CERT", "cert.pem"), "tls_key": ("KEY", "key.pem")}


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the setting."""


class Secret(str):
    """The name of a variable that holds a secret; resolved at run time, never read at load."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _int(name: str, default: int, *, low: int = 1, high: int = 65535) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _flag(name: str, default: bool = False) -> bool:
    raw = (_env(name) or str(default)).lower()
    if raw not in ("1", "0", "true", "false", "yes", "no"):
        raise SettingsError(f"{name} must be true or false, got {raw!r}")
    return raw in ("1", "true", "yes")


def _required(name: str, hint: str) -> str:
    value = _env(name)
    if value is None:
        raise SettingsError(f"{name} is required when TRIPCLICK_ENV=prod ({hint})")
    return value


def _secret(name: str, *, required: str | None = None) -> Secret | None:
    """The variable as a :class:`Secret` when it is set (or ``required`` names why it must be)."""
    if _env(name) is None:
        if required:
            _required(name, required)
        return None
    return Secret(name)


def _list(name: str) -> list[str]:
    return [item.strip() for item in (_env(name) or "").split(",") if item.strip()]


def _pairs(name: str, example: str) -> list[tuple[str, str]]:
    pairs = []
    for item in _list(name):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise SettingsError(f"{name} must be a comma-separated list like {example}, got {item!r}")
        pairs.append((key.strip(), value.strip()))
    return pairs


def environment() -> str:
    """``local`` (embedded services, the default) or ``prod``."""
    env = _env("TRIPCLICK_ENV", "local")
    if env not in ENVIRONMENTS:
        raise SettingsError(f"TRIPCLICK_ENV must be one of {', '.join(ENVIRONMENTS)}, got {env!r}")
    return env


# --- local: embedded services on loopback, data under TRIPCLICK_HOME --------------------------


@dataclass(frozen=True)
class LocalSettings:
    """Where the embedded services and local data live (``TRIPCLICK_HOME``, default ``./.tripclick``)."""

    home: Path
    host: str
    kafka_port: int
    postgres_port: int
    postgres_url: str | None  # an existing server: no embedded PostgreSQL is started
    spark_master: str
    spark_worker_python: str | None = None  # the executors' interpreter on a standalone cluster

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def spark_class_archive(self) -> Path:
        """The local Spark driver's class-data archive (``tripclick spark-archive`` builds it)."""
        return self.home / "spark" / "classes.jsa"

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def postgres_dsn(self) -> str:
        """The external server's URL, else the embedded server's (local-only credentials)."""
        return self.postgres_url or f"postgresql://tripclick:tripclick@{self.host}:{self.postgres_port}/tripclick"


def local_settings() -> LocalSettings:
    return LocalSettings(
        home=Path(_env("TRIPCLICK_HOME", str(Path.cwd() / ".tripclick"))).expanduser().resolve(),
        host=_local_host(),
        kafka_port=_int("TRIPCLICK_KAFKA_PORT", 19092),
        postgres_port=_int("TRIPCLICK_POSTGRES_PORT", 15432),
        postgres_url=_env("TRIPCLICK_POSTGRES_URL"),
        spark_master=_spark_master(),
        spark_worker_python=_env("TRIPCLICK_SPARK_WORKER_PYTHON"),
    )


SAMPLE_DAYS = 7  # a week: the UI's per-partition plots show a line, not a dot


def sample_days() -> list[str]:
    """The partitions ``scripts/dev.sh`` materializes: a week from ``TRIPCLICK_SAMPLE_START``."""
    from datetime import date, timedelta

    raw = _env("TRIPCLICK_SAMPLE_START", "2016-01-01")
    try:
        first = date.fromisoformat(raw)
    except ValueError:
        raise SettingsError(f"TRIPCLICK_SAMPLE_START must be a date like 2016-01-01, got {raw!r}") from None
    if first < date(2013, 1, 1):
        raise SettingsError(f"TRIPCLICK_SAMPLE_START must be 2013-01-01 or later (the first partition), got {raw!r}")
    return [(first + timedelta(days=n)).isoformat() for n in range(SAMPLE_DAYS)]


def _local_host() -> str:
    """``TRIPCLICK_HOST``: loopback unless ``TRIPCLICK_ALLOW_NON_LOOPBACK=true`` (then with a warning)."""
    host = _env("TRIPCLICK_HOST", "127.0.0.1")
    if not is_loopback(host):
        if not _flag("TRIPCLICK_ALLOW_NON_LOOPBACK"):
            raise SettingsError(f"TRIPCLICK_HOST={host} is not a loopback address: the embedded broker and "
                                "PostgreSQL have local-only credentials; set TRIPCLICK_ALLOW_NON_LOOPBACK=true "
                                "to bind there anyway")
        logging.getLogger("tripclick_assets.settings").warning(
            "TRIPCLICK_HOST=%s: the embedded services listen outside loopback (TRIPCLICK_ALLOW_NON_LOOPBACK=true); "
            "anyone who reaches that address can use them with the local-only credentials", host)
    return host


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _spark_master() -> str:
    master = _env("TRIPCLICK_SPARK_MASTER", "local[*]")
    if not re.fullmatch(r"local(\[(\*|\d+)(,\d+)?\])?|spark://[^/\s]+:\d+(,[^/\s]+:\d+)*", master):
        raise SettingsError(f"TRIPCLICK_SPARK_MASTER must be local[*], local[N] or spark://host:port, got {master!r}")
    return master


# --- both environments ------------------------------------------------------------------------


def alerts() -> dict:
    """AlertsResource: the webhook URL is a secret."""
    return {
        "webhook_url": _secret("TRIPCLICK_ALERT_WEBHOOK_URL"),
        "ui_url": _env("TRIPCLICK_UI_URL"),
    }


# --- prod: one function per resource, its keyword arguments one setting a line ----------------


def kafka() -> dict:
    """KafkaResource for the production cluster."""
    return {
        "bootstrap_servers": _required("KAFKA_BOOTSTRAP_SERVERS", "host:port[,host:port...] of the Kafka cluster"),
        "security_protocol": _kafka_protocol(),
        "sasl_mechanism": _env("KAFKA_SASL_MECHANISM"),
        "sasl_username": _env("KAFKA_SASL_USERNAME"),
        "sasl_password": _secret("KAFKA_SASL_PASSWORD"),
        "ssl_ca_location": _env("KAFKA_SSL_CA_LOCATION"),
        "ssl_certificate_location": _env("KAFKA_SSL_CERTIFICATE_LOCATION"),
        "ssl_key_location": _env("KAFKA_SSL_KEY_LOCATION"),
        "ssl_key_password": _secret("KAFKA_SSL_KEY_PASSWORD"),
        "replication_factor": _int("TRIPCLICK_KAFKA_REPLICATION_FACTOR", 2, high=16),
    }


PLAINTEXT_PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT")  # no TLS: credentials and records in the clear


def _kafka_protocol() -> str:
    """``KAFKA_SECURITY_PROTOCOL`` (default SASL_SSL); a protocol without TLS needs TRIPCLICK_KAFKA_ALLOW_PLAINTEXT=true."""
    protocol = _env("KAFKA_SECURITY_PROTOCOL", "SASL_SSL").upper()
    if protocol in PLAINTEXT_PROTOCOLS and not _flag("TRIPCLICK_KAFKA_ALLOW_PLAINTEXT"):
        raise SettingsError(f"KAFKA_SECURITY_PROTOCOL={protocol} sends records (and SASL passwords) unencrypted; use "
                            "SASL_SSL or SSL, or set TRIPCLICK_KAFKA_ALLOW_PLAINTEXT=true to allow it")
    return protocol


def producers() -> dict:
    """DockerProducersResource: a producer container per web server."""
    return {
        "servers": producer_servers(),
        **_producer_image(),
        "network_mode": _env("TRIPCLICK_PRODUCER_NETWORK", "host"),
        "source_dir": _env("TRIPCLICK_PRODUCER_SOURCE_DIR", "/data/logs"),
        "mounts": _list("TRIPCLICK_PRODUCER_MOUNTS"),
        "synthetic": {"enabled": _flag("TRIPCLICK_PRODUCER_SYNTHETIC")},
    }


# The digest deploy/.env.example shows: a placeholder that names no image.
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64


def _producer_image() -> dict:
    """``TRIPCLICK_PRODUCER_IMAGE`` by digest, ``[registry/]name[:tag]@sha256:<64 hex>``: image and tag fields.

    A tag (or ``latest``) can be moved to other content, so production refuses it. The digest is the
    repository digest of an image pulled from a registry, or the image ID of one moved with
    ``docker save | docker load`` (the resource accepts either; it never pulls).
    """
    name = "TRIPCLICK_PRODUCER_IMAGE"
    example = "registry.example.internal/tripclick-producer@sha256:<64 hex>, deploy/README.md section 0"
    ref = _required(name, f"the producer image by digest, e.g. {example}")
    match = re.fullmatch(r"([a-z0-9][a-z0-9._/:-]*)@(sha256:[0-9a-f]{64})", ref)
    if not match:
        raise SettingsError(f"{name} must name the image by digest (e.g. {example}): a tag or latest can be moved "
                            f"to other content; got {ref!r}")
    if match.group(2) == PLACEHOLDER_DIGEST:
        raise SettingsError(f"{name} still holds the placeholder digest of deploy/.env.example ({ref}): set the "
                            "digest of the producer image on the web servers (deploy/README.md section 0)")
    repository, _, last = match.group(1).rpartition("/")
    image = f"{repository}/{last.split(':')[0]}" if repository else last.split(":")[0]  # a tag beside it: dropped
    return {"image": image, "tag": match.group(2)}


def spark_ssh() -> dict:
    """SSHSparkResource: spark-submit on the Spark master over SSH."""
    custom_submit = _env("TRIPCLICK_SPARK_SUBMIT_TEMPLATE")
    return {
        "host": _required("TRIPCLICK_SPARK_SSH_HOST", "the Spark master's SSH address"),
        "port": _int("TRIPCLICK_SPARK_SSH_PORT", 22),
        "user": _required("TRIPCLICK_SPARK_SSH_USER", "the SSH login on the Spark master"),
        "private_key": _secret("TRIPCLICK_SPARK_SSH_KEY", required="the SSH private key: a path or the key text"),
        "known_hosts": _env("TRIPCLICK_SPARK_KNOWN_HOSTS", "~/.ssh/known_hosts"),
        "command_template": custom_submit or DEFAULT_SPARK_SUBMIT,
        "kill_template": _env("TRIPCLICK_SPARK_KILL_TEMPLATE", None if custom_submit else DEFAULT_SPARK_KILL),
        "remote_dir": _env("TRIPCLICK_SPARK_REMOTE_DIR", "/opt/tripclick"),
        "submit_dir": _env("TRIPCLICK_SPARK_SUBMIT_DIR"),
        # the deploy image's interpreter (deploy/spark/Dockerfile), which holds the jobs' dependencies
        "env": dict(_pairs("TRIPCLICK_SPARK_ENV", "PYSPARK_PYTHON=/opt/venv/bin/python")),
    }


def lake() -> dict:
    """LakeResource: the s3a:// lake; its Iceberg catalog in the Gold PostgreSQL (the same secret) or Glue."""
    catalog = _choice("TRIPCLICK_LAKE_CATALOG", LAKE_CATALOGS, "sql")
    return {
        "root": _env("TRIPCLICK_LAKE_ROOT", "s3a://tripclick-lake"),
        "s3_endpoint_url": _env("TRIPCLICK_LAKE_S3_ENDPOINT"),
        "s3_region": _env("TRIPCLICK_LAKE_S3_REGION"),
        "catalog": catalog,
        "catalog_uri": _secret("TRIPCLICK_POSTGRES_URL", required="the lake's sql catalog lives in it")
        if catalog == "sql" else None,
        "catalog_sslmode": _env("TRIPCLICK_POSTGRES_SSLMODE", "verify-full"),  # the same server as postgres()
        "catalog_sslrootcert": _env("TRIPCLICK_POSTGRES_SSLROOTCERT"),
        **lake_tables(),
    }


LAKE_CATALOGS = ("sql", "glue")


def lake_tables() -> dict:
    """The lake's Iceberg tables, both environments: catalog name and snapshot retention."""
    return {
        "catalog_name": _env("TRIPCLICK_LAKE_CATALOG_NAME", "tripclick"),
        "snapshot_retention_days": _int("TRIPCLICK_LAKE_SNAPSHOT_RETENTION_DAYS", 7, high=3650),
    }


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = _env(name, default)
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def postgres() -> dict:
    """PostgresResource: the Gold server (the URL carries the password)."""
    return {
        "url": _secret("TRIPCLICK_POSTGRES_URL", required="postgresql://user:password@host:port/database"),
        "sslmode": _env("TRIPCLICK_POSTGRES_SSLMODE", "verify-full"),
        "sslrootcert": _env("TRIPCLICK_POSTGRES_SSLROOTCERT"),
    }


# --- rules the resources apply too (they import them from here: this module imports nothing) ----


def names_repeat(names) -> bool:
    """A name listed twice: every producer server is named once (settings and ``producers.servers``)."""
    return len(set(names)) != len(names)


# A Docker Engine address: a local socket, or TCP (docker-py takes http:// and https:// as TCP too).
DOCKER_URL_SCHEMES = ("unix://", "tcp://", "https://", "http://")


def docker_url_ok(url: str) -> bool:
    return url.startswith(DOCKER_URL_SCHEMES)


def docker_tls_missing(url: str, *, tls: bool, insecure: bool) -> bool:
    """True for plain TCP not explicitly allowed: a Docker Engine over TCP needs TLS unless marked insecure."""
    return not url.startswith("unix://") and not tls and not insecure


def producer_servers() -> list[dict]:
    """``TRIPCLICK_PRODUCER_SERVERS=server0=tcp://host:2376,...``, each with its Docker TLS material."""
    name = "TRIPCLICK_PRODUCER_SERVERS"
    pairs = _pairs(name, "server0=tcp://10.0.1.11:2376,server1=tcp://10.0.1.12:2376")
    if not pairs:
        raise SettingsError(f"{name} is required when TRIPCLICK_ENV=prod (server0=tcp://host:2376,...)")
    names = [n for n, _ in pairs]
    if names_repeat(names):
        raise SettingsError(f"{name} names each server once, got {names}")
    insecure = set(_list("TRIPCLICK_DOCKER_INSECURE"))
    if insecure - set(names):
        raise SettingsError(f"TRIPCLICK_DOCKER_INSECURE names unknown servers {sorted(insecure - set(names))}")
    servers = []
    for server, url in pairs:
        if not docker_url_ok(url):
            raise SettingsError(f"{name}: {server} must be tcp://host:port or unix:///path, got {url!r}")
        tls = _docker_tls(server)
        if docker_tls_missing(url, tls=bool(tls), insecure=server in insecure):
            raise SettingsError(
                f"{server} ({url}) needs TLS: set TRIPCLICK_DOCKER_TLS_DIR (ca.pem, cert.pem, key.pem) or "
                "TRIPCLICK_DOCKER_TLS_CA/_CERT/_KEY, or list it in TRIPCLICK_DOCKER_INSECURE to allow plain TCP"
            )
        servers.append({"name": server, "base_url": url, "insecure": server in insecure, **tls})
    return servers


def _docker_tls(server: str) -> dict[str, str]:
    """TLS fields as :class:`Secret` names when TRIPCLICK_DOCKER_TLS_CA/_CERT/_KEY[_<SERVER>] are all set,
    else as paths under TRIPCLICK_DOCKER_TLS_DIR, else none."""
    from_env = {}
    for field, (suffix, _) in TLS_FILES.items():
        own = f"TRIPCLICK_DOCKER_TLS_{suffix}_{re.sub(r'[^A-Za-z0-9]', '_', server).upper()}"
        shared = f"TRIPCLICK_DOCKER_TLS_{suffix}"
        var = own if _env(own) is not None else shared if _env(shared) is not None else None
        if var is not None:
            from_env[field] = Secret(var)
    if len(from_env) == len(TLS_FILES):
        return from_env
    tls_dir = _env("TRIPCLICK_DOCKER_TLS_DIR")
    if tls_dir:
        return {field: str(Path(tls_dir).expanduser() / file) for field, (_, file) in TLS_FILES.items()}
    if from_env:
        missing = [f"TRIPCLICK_DOCKER_TLS_{TLS_FILES[f][0]}" for f in TLS_FILES if f not in from_env]
        raise SettingsError(f"{server}: set {', '.join(missing)} as well (or TRIPCLICK_DOCKER_TLS_DIR)")
    return {}


def prod_settings() -> dict[str, dict]:
    """Every production resource's settings by resource key; fails on the first bad variable."""
    return {
        "kafka": kafka(), "producers": producers(), "spark": spark_ssh(), "lake": lake(),
        "postgres": postgres(), "alerts": alerts(),
    }
