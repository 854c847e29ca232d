"""Kafka client security settings (SASL/SSL) from environment variables; secrets never live in files."""

from __future__ import annotations

from collections.abc import Mapping

# Environment variable -> librdkafka setting.
SECURITY_ENV = {
    "KAFKA_SECURITY_PROTOCOL": "security.protocol",
    "KAFKA_SASL_MECHANISM": "sasl.mechanism",
    "KAFKA_SASL_USERNAME": "sasl.username",
    "KAFKA_SASL_PASSWORD": "sasl.password",
    "KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
    "KAFKA_SSL_CERTIFICATE_LOCATION": "ssl.certificate.location",
    "KAFKA_SSL_KEY_LOCATION": "ssl.key.location",
    "KAFKA_SSL_KEY_PASSWORD": "ssl.key.password",
}


# The secrets among them: a container gets NAME_FILE (a file holding the value) instead of NAME.
SECRET_ENV = ("KAFKA_SASL_PASSWORD", "KAFKA_SSL_KEY_PASSWORD")
FILE_SUFFIX = "_FILE"


def secret_file_env(secrets: Mapping[str, str], secrets_dir: str) -> dict[str, str]:
    """``NAME_FILE`` variables pointing at ``secrets_dir/<name>`` for each secret ``NAME``."""
    return {f"{name}{FILE_SUFFIX}": f"{secrets_dir.rstrip('/')}/{name.lower()}" for name in secrets}


def kafka_security_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """librdkafka security settings from ``environ``; a secret may come as ``NAME_FILE`` (its file's content)."""
    config = {setting: environ[name] for name, setting in SECURITY_ENV.items() if environ.get(name)}
    for name in SECRET_ENV:
        path = environ.get(name + FILE_SUFFIX)
        if path and not environ.get(name):
            with open(path, encoding="utf-8") as handle:
                config[SECURITY_ENV[name]] = handle.read().rstrip("\r\n")
    return config
