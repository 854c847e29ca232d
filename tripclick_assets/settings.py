"""The one module that reads the environment and decides local versus production.

Everything else receives plain values (or resources built here); nothing else looks at
``TRIPCLICK_ENV``. A bad value fails at load time with a message naming the variable.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ENVIRONMENTS = ("local", "prod")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the setting."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _env_int(name: str, default: int, *, low: int = 1, high: int = 65535) -> int:
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


def environment() -> str:
    """``local`` (embedded services, the default) or ``prod``."""
    env = _env("TRIPCLICK_ENV", "local")
    if env not in ENVIRONMENTS:
        raise SettingsError(f"TRIPCLICK_ENV must be one of {', '.join(ENVIRONMENTS)}, got {env!r}")
    return env


@dataclass(frozen=True)
class LocalSettings:
    """Where the embedded services and local data live (``TRIPCLICK_HOME``, default ``./.tripclick``)."""

    home: Path
    host: str
    kafka_port: int
    postgres_port: int
    postgres_url: str | None  # an existing server: no embedded PostgreSQL is started

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
    home = Path(_env("TRIPCLICK_HOME", str(Path.cwd() / ".tripclick"))).expanduser().resolve()
    return LocalSettings(
        home=home,
        host=_env("TRIPCLICK_HOST", "127.0.0.1"),
        kafka_port=_env_int("TRIPCLICK_KAFKA_PORT", 19092),
        postgres_port=_env_int("TRIPCLICK_POSTGRES_PORT", 15432),
        postgres_url=_env("TRIPCLICK_POSTGRES_URL"),
    )


@dataclass(frozen=True)
class AlertSettings:
    webhook_configured: bool
    ui_url: str | None
    webhook_env_var: str = "TRIPCLICK_ALERT_WEBHOOK_URL"


def alert_settings() -> AlertSettings:
    return AlertSettings(
        webhook_configured=_env("TRIPCLICK_ALERT_WEBHOOK_URL") is not None,
        ui_url=_env("TRIPCLICK_UI_URL"),
    )


DEFAULT_SPARK_SUBMIT = (
    "docker exec {docker_env} spark-master spark-submit --master spark://spark-master:7077 "
    "--py-files {code_zip} {job_script} --params-file {params_file}"
)
DEFAULT_SPARK_KILL = "docker exec spark-master pkill -TERM -f {params_file}"
TLS_FILES = {"tls_ca": ("CA", "ca.pem"), "tls_cert": ("CERT", "cert.pem"), "tls_key": ("KEY", "key.pem")}


@dataclass(frozen=True)
class ProducerServer:
    """One web server's Docker Engine; TLS material is named, never read here (paths or EnvVar names)."""

    name: str
    base_url: str
    insecure: bool = False
    tls_paths: dict[str, str] | None = None  # from TRIPCLICK_DOCKER_TLS_DIR
    tls_env: dict[str, str] | None = None  # field -> environment variable holding a path or PEM text


@dataclass(frozen=True)
class ProdSettings:
    """Production topology (addresses, names, paths); secrets stay in the environment as EnvVars."""

    producer_servers: tuple[ProducerServer, ...]
    producer_image: str
    producer_tag: str
    producer_network: str
    producer_source_dir: str
    producer_mounts: tuple[str, ...]
    producer_synthetic: bool
    spark_host: str
    spark_port: int
    spark_user: str
    spark_known_hosts: str
    spark_submit_template: str
    spark_kill_template: str | None
    spark_remote_dir: str
    spark_submit_dir: str | None
    spark_env: dict[str, str]
    lake_root: str
    lake_s3_endpoint: str | None
    lake_s3_region: str | None
    kafka_bootstrap_servers: str
    kafka_security_protocol: str
    kafka_sasl_mechanism: str | None
    kafka_sasl_username: str | None
    kafka_ssl_ca_location: str | None
    kafka_password_env_var: str | None  # KAFKA_SASL_PASSWORD when it is set (read at run time)
    kafka_ssl_certificate_location: str | None = None
    kafka_ssl_key_location: str | None = None
    kafka_key_password_env_var: str | None = None  # KAFKA_SSL_KEY_PASSWORD when it is set
    spark_key_env_var: str = "TRIPCLICK_SPARK_SSH_KEY"
    postgres_url_env_var: str = "TRIPCLICK_POSTGRES_URL"


def _required(name: str, hint: str) -> str:
    value = _env(name)
    if value is None:
        raise SettingsError(f"{name} is required when TRIPCLICK_ENV=prod ({hint})")
    return value


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


def _tls_sources(server: str) -> tuple[dict[str, str] | None, dict[str, str] | None]:
    """(field -> EnvVar name) when TRIPCLICK_DOCKER_TLS_CA/_CERT/_KEY[_<SERVER>] are all set, else
    (field -> path) under TRIPCLICK_DOCKER_TLS_DIR, else neither."""
    tls_env = {}
    for field, (suffix, _) in TLS_FILES.items():
        own = f"TRIPCLICK_DOCKER_TLS_{suffix}_{re.sub(r'[^A-Za-z0-9]', '_', server).upper()}"
        shared = f"TRIPCLICK_DOCKER_TLS_{suffix}"
        var = own if _env(own) is not None else shared if _env(shared) is not None else None
        if var is not None:
            tls_env[field] = var
    if len(tls_env) == len(TLS_FILES):
        return tls_env, None
    tls_dir = _env("TRIPCLICK_DOCKER_TLS_DIR")
    if tls_dir:
        return None, {field: str(Path(tls_dir).expanduser() / file) for field, (_, file) in TLS_FILES.items()}
    if tls_env:
        missing = [f"TRIPCLICK_DOCKER_TLS_{TLS_FILES[f][0]}" for f in TLS_FILES if f not in tls_env]
        raise SettingsError(f"{server}: set {', '.join(missing)} as well (or TRIPCLICK_DOCKER_TLS_DIR)")
    return None, None


def _producer_servers() -> tuple[ProducerServer, ...]:
    name = "TRIPCLICK_PRODUCER_SERVERS"
    pairs = _pairs(name, "server0=tcp://10.0.1.11:2376,server1=tcp://10.0.1.12:2376")
    if not pairs:
        raise SettingsError(f"{name} is required when TRIPCLICK_ENV=prod (server0=tcp://host:2376,...)")
    names = [n for n, _ in pairs]
    if len(set(names)) != len(names):
        raise SettingsError(f"{name} names each server once, got {names}")
    insecure = set(_list("TRIPCLICK_DOCKER_INSECURE"))
    if insecure - set(names):
        raise SettingsError(f"TRIPCLICK_DOCKER_INSECURE names unknown servers {sorted(insecure - set(names))}")
    servers = []
    for server, url in pairs:
        if not url.startswith(("tcp://", "unix://")):
            raise SettingsError(f"{name}: {server} must be tcp://host:port or unix:///path, got {url!r}")
        tls_env, tls_paths = _tls_sources(server)
        if url.startswith("tcp://") and not (tls_env or tls_paths) and server not in insecure:
            raise SettingsError(
                f"{server} ({url}) needs TLS: set TRIPCLICK_DOCKER_TLS_DIR (ca.pem, cert.pem, key.pem) or "
                "TRIPCLICK_DOCKER_TLS_CA/_CERT/_KEY, or list it in TRIPCLICK_DOCKER_INSECURE to allow plain TCP"
            )
        servers.append(ProducerServer(server, url, server in insecure, tls_paths, tls_env))
    return tuple(servers)


def _flag(name: str, default: bool = False) -> bool:
    raw = (_env(name) or str(default)).lower()
    if raw not in ("1", "0", "true", "false", "yes", "no"):
        raise SettingsError(f"{name} must be true or false, got {raw!r}")
    return raw in ("1", "true", "yes")


def prod_settings() -> ProdSettings:
    """The production topology from ``TRIPCLICK_*`` variables (docs/remote-execution.md lists them)."""
    custom_submit = _env("TRIPCLICK_SPARK_SUBMIT_TEMPLATE")
    return ProdSettings(
        producer_servers=_producer_servers(),
        producer_image=_env("TRIPCLICK_PRODUCER_IMAGE", "tripclick-producer"),
        producer_tag=_env("TRIPCLICK_PRODUCER_TAG", "latest"),
        producer_network=_env("TRIPCLICK_PRODUCER_NETWORK", "host"),
        producer_source_dir=_env("TRIPCLICK_PRODUCER_SOURCE_DIR", "/data/logs"),
        producer_mounts=tuple(_list("TRIPCLICK_PRODUCER_MOUNTS")),
        producer_synthetic=_flag("TRIPCLICK_PRODUCER_SYNTHETIC"),
        spark_host=_required("TRIPCLICK_SPARK_SSH_HOST", "the Spark master's SSH address"),
        spark_port=_env_int("TRIPCLICK_SPARK_SSH_PORT", 22),
        spark_user=_required("TRIPCLICK_SPARK_SSH_USER", "the SSH login on the Spark master"),
        spark_known_hosts=_env("TRIPCLICK_SPARK_KNOWN_HOSTS", "~/.ssh/known_hosts"),
        spark_submit_template=custom_submit or DEFAULT_SPARK_SUBMIT,
        spark_kill_template=_env("TRIPCLICK_SPARK_KILL_TEMPLATE", None if custom_submit else DEFAULT_SPARK_KILL),
        spark_remote_dir=_env("TRIPCLICK_SPARK_REMOTE_DIR", "/opt/tripclick"),
        spark_submit_dir=_env("TRIPCLICK_SPARK_SUBMIT_DIR"),
        spark_env=dict(_pairs("TRIPCLICK_SPARK_ENV", "PYSPARK_PYTHON=/usr/bin/python3")),
        lake_root=_env("TRIPCLICK_LAKE_ROOT", "s3a://tripclick-lake"),
        lake_s3_endpoint=_env("TRIPCLICK_LAKE_S3_ENDPOINT"),
        lake_s3_region=_env("TRIPCLICK_LAKE_S3_REGION"),
        kafka_bootstrap_servers=_required("KAFKA_BOOTSTRAP_SERVERS", "host:port[,host:port...] of the Kafka cluster"),
        kafka_security_protocol=_env("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
        kafka_sasl_mechanism=_env("KAFKA_SASL_MECHANISM"),
        kafka_sasl_username=_env("KAFKA_SASL_USERNAME"),
        kafka_ssl_ca_location=_env("KAFKA_SSL_CA_LOCATION"),
        kafka_password_env_var="KAFKA_SASL_PASSWORD" if _env("KAFKA_SASL_PASSWORD") is not None else None,
        kafka_ssl_certificate_location=_env("KAFKA_SSL_CERTIFICATE_LOCATION"),
        kafka_ssl_key_location=_env("KAFKA_SSL_KEY_LOCATION"),
        kafka_key_password_env_var="KAFKA_SSL_KEY_PASSWORD" if _env("KAFKA_SSL_KEY_PASSWORD") is not None else None,
    )


def build_resources() -> dict:
    """The resources for the current environment (heavy imports stay inside)."""
    if environment() == "prod":
        from tripclick_assets.resources.environments import prod_resources

        return prod_resources(alert_settings())
    from tripclick_assets.resources.environments import local_resources

    return local_resources(local_settings(), alert_settings())
