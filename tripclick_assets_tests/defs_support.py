"""The project's definitions as tests load them: the whole graph, or one layer's checks."""

import dagster as dg


def load_defs() -> dg.Definitions:
    """What Dagster loads from ``tripclick_assets.definitions`` (resources of the current environment)."""
    from tripclick_assets.definitions import defs

    return defs()


def lake_checks() -> list:
    import tripclick_assets.defs.lake.checks as module

    return list(dg.load_asset_checks_from_modules([module]))


def mart_checks() -> list:
    import tripclick_assets.defs.marts.checks as module

    return list(dg.load_asset_checks_from_modules([module]))


def ingestion_checks() -> list:
    import tripclick_assets.defs.ingestion.checks as module

    return list(dg.load_asset_checks_from_modules([module]))
