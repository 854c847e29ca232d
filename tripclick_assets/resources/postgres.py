"""The Gold PostgreSQL server holding the mart_* tables."""

import dagster as dg
from pydantic import Field, field_validator

from tripclick_assets.resources._validation import unless_env_var


class PostgresResource(dg.ConfigurableResource):
    """PostgreSQL for the marts; the URL carries the password, so set it through an EnvVar in production."""

    url: str = Field(description="postgresql://user:password@host:port/database")
    connect_timeout_s: int = Field(default=10, ge=1)

    @field_validator("url", mode="before")
    @classmethod
    @unless_env_var
    def _postgres_url(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgres://")):
            shown = value.split("@")[-1] if "@" in value else value
            raise ValueError(f"postgres.url must start with postgresql://, got ...{shown!r}")
        return value

    def connect(self):
        import psycopg

        return psycopg.connect(self.url, connect_timeout=self.connect_timeout_s)
