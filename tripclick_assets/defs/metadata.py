"""Helpers that put per-partition figures where the UI plots them."""

import dagster as dg


def add_per_partition(context: dg.AssetExecutionContext, by_date: dict[str, dict], asset_key=None) -> None:
    """Attach each day's metadata to that partition's materialization (range runs included)."""
    for day, metadata in by_date.items():
        context.add_asset_metadata(metadata, asset_key=asset_key, partition_key=day)


def latest_partition_metadata(instance: dg.DagsterInstance, asset_key: dg.AssetKey, day: str) -> dict | None:
    """The metadata of the newest materialization of ``asset_key`` for ``day`` (None if never)."""
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[day]), limit=1
    )
    if not result.records:
        return None
    return {k: v.value for k, v in result.records[0].asset_materialization.metadata.items()}
