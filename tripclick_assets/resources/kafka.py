"""Kafka: the cluster's client and security settings, and topic management (the bronze job reads the ranges)."""

from __future__ import annotations

import dagster as dg
from pydantic import Field, field_validator

from tripclick_assets.resources._validation import unless_env_var

from tripclick_assets.lib.kafka.topics import DLQ_TOPIC, TOPIC
from tripclick_assets.lib.kafka.topics import ensure_topics

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


class KafkaResource(dg.ConfigurableResource):
    """The Kafka cluster holding tripclick_raw_logs and its dead-letter topic."""

    bootstrap_servers: str = Field(description="host:port[,host:port...]")
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = Field(default=None, description="set through an EnvVar")
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = Field(default=None, description="client certificate (mutual TLS)")
    ssl_key_location: str | None = Field(default=None, description="client key (mutual TLS)")
    ssl_key_password: str | None = Field(default=None, description="set through an EnvVar")
    topic: str = TOPIC
    dlq_topic: str = DLQ_TOPIC
    partitions: int = Field(default=3, ge=1)
    replication_factor: int = Field(default=1, ge=1)

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    @unless_env_var
    def _bootstrap_not_blank(cls, value: str) -> str:
        if not value or not value.strip():
            raise ValueError("kafka.bootstrap_servers must not be empty")
        return value.strip()

    @field_validator("security_protocol", mode="before")
    @classmethod
    @unless_env_var
    def _known_protocol(cls, value: str) -> str:
        if value.upper() not in SECURITY_PROTOCOLS:
            raise ValueError(f"kafka.security_protocol must be one of {SECURITY_PROTOCOLS}, got {value!r}")
        return value.upper()

    def security_config(self) -> dict[str, str]:
        config = {"security.protocol": self.security_protocol}
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": self.ssl_key_password,
        }
        config.update({k: v for k, v in optional.items() if v})
        return config

    def security_env(self) -> dict[str, str]:
        """The same settings as environment variables for a producer process (secrets stay out of argv)."""
        from tripclick_assets.lib.kafka.security import SECURITY_ENV

        by_setting = {setting: name for name, setting in SECURITY_ENV.items()}
        return {by_setting[k]: v for k, v in self.security_config().items() if k in by_setting}

    def client_config(self) -> dict[str, str]:
        return {"bootstrap.servers": self.bootstrap_servers, **self.security_config()}

    def ensure_topics(self, timeout: float = 10.0) -> list[str]:
        return ensure_topics(
            self.client_config(), (self.topic, self.dlq_topic), partitions=self.partitions,
            replication_factor=self.replication_factor, timeout=timeout,
        )

    def topic_id(self, timeout: float = 10.0) -> str | None:
        """The main topic's id (``lib.kafka.topics.topic_id``): what its offset ranges are bound to."""
        from tripclick_assets.lib.kafka.topics import topic_id

        return topic_id(self.client_config(), self.topic, timeout=timeout)
