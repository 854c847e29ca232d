"""The Gold PostgreSQL server holding the mart_* tables."""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dagster as dg
from pydantic import Field, field_validator, model_validator

from tripclick_assets.resources._validation import unless_env_var

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def with_ssl(url: str, sslmode: str | None, sslrootcert: str | None) -> str:
    """``url`` with ``sslmode``/``sslrootcert`` query parameters added (those already in the URL win)."""
    parts = urlsplit(url)
    if not parts.scheme.startswith(("postgresql", "postgres")):
        return url  # e.g. a sqlite:// catalog in tests: no TLS to add
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    added = {key: value for key, value in (("sslmode", sslmode), ("sslrootcert", sslrootcert))
             if value and key not in query}
    if not added:
        return url
    return urlunsplit(parts._replace(query=urlencode({**query, **added}, safe="/")))


class PostgresResource(dg.ConfigurableResource):
    """PostgreSQL for the marts; the URL carries the password, so set it through an EnvVar in production.

    ``sslmode``/``sslrootcert`` are added to the URL (unless it sets them), so every client of
    ``url`` (this process and the Spark marts job) connects the same way; prod: verify-full.
    """

    url: str = Field(description="postgresql://user:password@host:port/database")
    sslmode: str | None = Field(default=None, description="libpq sslmode added to the URL; prod: verify-full")
    sslrootcert: str | None = Field(default=None, description="CA file that signs the server's certificate")
    connect_timeout_s: int = Field(default=10, ge=1)

    @field_validator("url", mode="before")
    @classmethod
    @unless_env_var
    def _postgres_url(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://")):
            shown = value.split("@")[-1] if "@" in value else value
            raise ValueError(f"postgres.url must start with postgresql://, got ...{shown!r}")
        return value

    @field_validator("sslmode")
    @classmethod
    def _known_sslmode(cls, value: str | None) -> str | None:
        if value is not None and value not in SSLMODES:
            raise ValueError(f"postgres.sslmode (TRIPCLICK_POSTGRES_SSLMODE) must be one of {SSLMODES}, got {value!r}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _ssl_into_url(cls, data):
        if isinstance(data, dict) and isinstance(data.get("url"), str) and not isinstance(data["url"], dg.EnvVar):
            if str(data["url"]).startswith(("postgresql://", "postgres://")):
                data = {**data, "url": with_ssl(data["url"], data.get("sslmode"), data.get("sslrootcert"))}
        return data

    def connect(self):
        import psycopg

        return psycopg.connect(self.url, connect_timeout=self.connect_timeout_s)
