"""The one module that reads the environment and decides local versus production.

Everything else receives plain values (or resources built here); nothing else looks at
``TRIPCLICK_ENV``. A bad value fails at load time with a message naming the variable.
"""

from __future__ import annotations

import os
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


def build_resources() -> dict:
    """The resources for the current environment (heavy imports stay inside)."""
    if environment() == "prod":
        from tripclick_assets.resources.environments import prod_resources

        return prod_resources(alert_settings())
    from tripclick_assets.resources.environments import local_resources

    return local_resources(local_settings(), alert_settings())
