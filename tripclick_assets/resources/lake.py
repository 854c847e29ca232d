"""The lake: bronze and silver Iceberg tables under a local directory or ``s3a://bucket/prefix``."""

import dagster as dg
from pydantic import Field, field_validator

from tripclick_assets.resources._validation import unless_env_var

from tripclick_assets.lib.lake.catalog import CATALOG_KINDS, CatalogConfig
from tripclick_assets.lib.lake.reads import LakeTables
from tripclick_assets.lib.lake.store import Lake, LakeLocation
from tripclick_assets.resources.postgres import with_ssl


class LakeResource(dg.ConfigurableResource):
    """Root of the bronze/silver lake (the Iceberg warehouse) and the catalog that holds its tables."""

    root: str = Field(description="local directory or s3a://bucket/prefix: the Iceberg warehouse")
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO, moto)")
    s3_region: str | None = None
    catalog: str = Field(default="sql", description="sql (pyiceberg's SQL catalog in PostgreSQL) or glue")
    catalog_uri: str | None = Field(default=None, description="the sql catalog's database: the PostgresResource URL")
    catalog_name: str = Field(default="tripclick", description="the catalog's name (its rows in the catalog tables)")
    catalog_sslmode: str | None = Field(default=None, description="libpq sslmode for the sql catalog, as for postgres")
    catalog_sslrootcert: str | None = Field(default=None, description="CA file for the sql catalog, as for postgres")
    snapshot_retention_days: int = Field(default=7, ge=1, description="snapshots and orphan files older than this "
                                         "are removed by the lake maintenance schedule")

    @field_validator("root", mode="before")
    @classmethod
    @unless_env_var
    def _root_is_a_location(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("lake.root must not be empty")
        if "://" in value and not value.startswith(("s3://", "s3a://")):
            raise ValueError(f"lake.root must be a local directory or s3a://bucket/prefix, got {value!r}")
        return value

    @field_validator("catalog")
    @classmethod
    def _catalog_kind(cls, value: str) -> str:
        if value not in CATALOG_KINDS:
            raise ValueError(f"lake.catalog (TRIPCLICK_LAKE_CATALOG) must be one of {', '.join(CATALOG_KINDS)}, "
                             f"got {value!r}")
        return value

    def location(self) -> LakeLocation:
        return LakeLocation(self.root, self.s3_endpoint_url, self.s3_region)

    def catalog_config(self) -> CatalogConfig:
        uri = self.catalog_uri and with_ssl(self.catalog_uri, self.catalog_sslmode, self.catalog_sslrootcert)
        return CatalogConfig(self.catalog, uri, self.catalog_name, self.s3_region)

    def lake(self) -> Lake:
        return Lake(self.location())

    def tables(self) -> LakeTables:
        return LakeTables(self.location(), self.catalog_config())
