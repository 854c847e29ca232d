"""The Parquet lake: a local directory by default, ``s3a://bucket/prefix`` in production."""

import dagster as dg
from pydantic import Field, field_validator

from tripclick_assets.resources._validation import unless_env_var

from tripclick_assets.lib.lake.store import Lake, LakeLocation


class LakeResource(dg.ConfigurableResource):
    """Root of the bronze/silver lake; partitions are replaced atomically through a pointer file."""

    root: str = Field(description="local directory or s3a://bucket/prefix")
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO, moto)")
    s3_region: str | None = None

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

    def location(self) -> LakeLocation:
        return LakeLocation(self.root, self.s3_endpoint_url, self.s3_region)

    def lake(self) -> Lake:
        return Lake(self.location())
