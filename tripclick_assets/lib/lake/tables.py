"""The bronze and silver Iceberg tables, their schemas taken from the contract (lib/lake/schema.py).

Each table is partitioned by ``event_date`` (identity) and lives at ``<lake root>/<layer>``.
``load_table`` creates a missing table and, for a writer, evolves an existing one: a column the contract
adds becomes a schema update (no data file is rewritten; older files read it as null).
"""

from __future__ import annotations

from tripclick_assets.lib.lake.catalog import CatalogConfig, identifier, load_catalog, warehouse
from tripclick_assets.lib.lake.schema import BRONZE_COLUMNS, SILVER_COLUMNS, arrow_schema
from tripclick_assets.lib.lake.store import LakeLocation

LAYERS: dict[str, tuple[tuple[str, str], ...]] = {"bronze": BRONZE_COLUMNS, "silver": SILVER_COLUMNS}
PARTITION_COLUMN = "event_date"
NAME_MAPPING = "schema.name-mapping.default"


def contract_schema(columns: tuple[tuple[str, str], ...]):
    """The contract as an Iceberg schema (every field optional: Spark writes nullable columns)."""
    from pyiceberg.io.pyarrow import pyarrow_to_schema
    from pyiceberg.table.name_mapping import MappedField, NameMapping

    arrow = arrow_schema(columns)
    mapping, next_id = [], 1
    for field in arrow:
        field_id, next_id = next_id, next_id + 1
        nested = []
        if hasattr(field.type, "value_type"):
            nested, next_id = [MappedField(field_id=next_id, names=["element"])], next_id + 1
        mapping.append(MappedField(field_id=field_id, names=[field.name], fields=nested))
    return pyarrow_to_schema(arrow, name_mapping=NameMapping(mapping))


def table_location(location: LakeLocation, layer: str) -> str:
    return f"{warehouse(location)}/{layer}"


def load_table(location: LakeLocation, config: CatalogConfig, layer: str, evolve: bool = False):
    """The layer's table, created from the contract when missing; ``evolve``: with the contract's new columns.

    Writers evolve (before they publish); readers do not, so the schema check sees the table as it is.
    """
    from pyiceberg.exceptions import NoSuchTableError

    catalog = load_catalog(location, config)
    try:
        table = catalog.load_table(identifier(layer))
    except NoSuchTableError:
        return create_table(location, config, layer)
    return evolve_to_contract(table, LAYERS[layer]) if evolve else table


def create_table(location: LakeLocation, config: CatalogConfig, layer: str):
    from pyiceberg.exceptions import TableAlreadyExistsError
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import IdentityTransform

    schema = contract_schema(LAYERS[layer])
    source = schema.find_field(PARTITION_COLUMN).field_id
    spec = PartitionSpec(PartitionField(source_id=source, field_id=1000, transform=IdentityTransform(),
                                        name=PARTITION_COLUMN))
    catalog = load_catalog(location, config)
    try:
        table = catalog.create_table(
            identifier(layer), schema=schema, partition_spec=spec, location=table_location(location, layer),
            properties={"write.parquet.compression-codec": "zstd"},
        )
    except TableAlreadyExistsError:  # another writer created it a moment ago
        return catalog.load_table(identifier(layer))
    return set_name_mapping(table)


def set_name_mapping(table):
    """Map column names to the table's field ids: Spark's and pyarrow's files carry no ids."""
    with table.transaction() as tx:
        tx.set_properties(**{NAME_MAPPING: table.schema().name_mapping.model_dump_json()})
    return table


def missing_columns(table, columns: tuple[tuple[str, str], ...]) -> list[str]:
    names = {f.name for f in table.schema().fields}
    return [name for name, _ in columns if name not in names]


def evolve_to_contract(table, columns: tuple[tuple[str, str], ...]):
    """Add the contract's columns the table lacks (a metadata-only schema update)."""
    if not missing_columns(table, columns):
        return table
    contract = contract_schema(columns)
    with table.update_schema() as update:
        update.union_by_name(contract)
    return set_name_mapping(table)


def table_arrow_schema(table):
    """The table's current schema as pyarrow (what the schema check compares with the contract)."""
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    return schema_to_pyarrow(table.schema(), include_field_ids=False)
