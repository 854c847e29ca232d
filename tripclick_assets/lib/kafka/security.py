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


def kafka_security_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    return {setting: environ[name] for name, setting in SECURITY_ENV.items() if environ.get(name)}
