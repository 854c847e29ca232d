"""Read one partition of the lake with pyarrow (independently of the Spark jobs it checks)."""

from tripclick_assets.lib.lake.store import Lake


class PartitionMissing(LookupError):
    pass


def partition_files(lake: Lake, layer: str, day: str) -> list[str]:
    current = lake.current_dir(layer, day)
    if current is None:
        raise PartitionMissing(f"{layer} partition event_date={day} has not been materialized")
    return lake.data_files(current)


def read_partition(lake: Lake, layer: str, day: str, columns: list[str] | None = None):
    import pyarrow.dataset as ds

    files = partition_files(lake, layer, day)
    return ds.dataset(files, format="parquet", filesystem=lake.fs).to_table(columns=columns)


def partition_schema(lake: Lake, layer: str, day: str):
    import pyarrow.parquet as pq

    files = partition_files(lake, layer, day)
    with lake.fs.open_input_file(files[0]) as handle:
        return pq.read_schema(handle)
