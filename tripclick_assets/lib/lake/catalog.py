"""The Iceberg catalog of the lake: pyiceberg's SQL catalog in PostgreSQL (or AWS Glue).

The SQL catalog needs no server of its own: its two tables live in the project's
PostgreSQL (locally the embedded one, in production the Gold server), and the lake root (a
local directory or ``s3://``) is the warehouse. ``catalog_uri`` is the PostgresResource URL;
the scheme is swapped for SQLAlchemy's psycopg2 driver here, so no second secret exists.

Pure logic: no Dagster import; pyiceberg is imported only when a catalog is built.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from tripclick_assets.lib.lake.store import LakeLocation

CATALOG_KINDS = ("sql", "glue")
NAMESPACE = "tripclick"
_CACHE: dict[tuple, object] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class CatalogConfig:
    """Which catalog holds the lake's tables: ``kind`` sql (``uri`` a PostgreSQL URL) or glue."""

    kind: str = "sql"
    uri: str | None = None
    name: str = "tripclick"
    glue_region: str | None = None

    def __post_init__(self):
        if self.kind not in CATALOG_KINDS:
            raise ValueError(f"TRIPCLICK_LAKE_CATALOG must be one of {', '.join(CATALOG_KINDS)}, got {self.kind!r}")
        if self.kind == "sql" and not self.uri:
            raise ValueError("the sql lake catalog needs a database URL (the PostgresResource URL, "
                             "TRIPCLICK_POSTGRES_URL in production)")


def sqlalchemy_url(url: str) -> str:
    """A PostgreSQL URL as SQLAlchemy's psycopg2 dialect names it (``sqlite:`` URLs pass through)."""
    for scheme in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url[len(scheme):]
    if url.startswith("sqlite:"):
        return url
    raise ValueError(f"the lake catalog URL must be postgresql://... (or sqlite:///...), got {url.split('://')[0]}://...")


def warehouse(location: LakeLocation) -> str:
    """The lake root as pyiceberg names it (``s3://`` for S3, an absolute path locally)."""
    import os

    root = location.root.rstrip("/")
    if location.is_s3:
        return "s3://" + root.split("://", 1)[1]
    return os.path.abspath(root)


def io_properties(location: LakeLocation) -> dict[str, str]:
    props: dict[str, str] = {"py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO"}
    if location.s3_endpoint_url:
        props["s3.endpoint"] = location.s3_endpoint_url
    if location.s3_region:
        props["s3.region"] = location.s3_region
    return props


def load_catalog(location: LakeLocation, config: CatalogConfig):
    """The catalog (built once per process and configuration); creates the namespace if missing."""
    key = (location, config)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = _build(location, config)
        return _CACHE[key]


def _build(location: LakeLocation, config: CatalogConfig):
    props = {"warehouse": warehouse(location), **io_properties(location)}
    if config.kind == "glue":
        from pyiceberg.catalog.glue import GlueCatalog

        if config.glue_region or location.s3_region:
            props["glue.region"] = config.glue_region or location.s3_region
        catalog = GlueCatalog(config.name, **props)
    else:
        from pyiceberg.catalog.sql import SqlCatalog

        props["uri"] = sqlalchemy_url(config.uri)
        if props["uri"].startswith("postgresql"):
            props["pool_pre_ping"] = "true"
        catalog = _with_retry(lambda: SqlCatalog(config.name, **props))
    _with_retry(lambda: catalog.create_namespace_if_not_exists(NAMESPACE))
    return catalog


def _with_retry(build, attempts: int = 3):
    """Two processes creating the catalog tables at once can collide once; the second try sees them."""
    import time

    for attempt in range(attempts):
        try:
            return build()
        except Exception as exc:  # sqlalchemy IntegrityError / ProgrammingError on the CREATE race
            if attempt == attempts - 1 or "already exists" not in str(exc) and "duplicate key" not in str(exc):
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def identifier(layer: str) -> tuple[str, str]:
    return (NAMESPACE, layer)
