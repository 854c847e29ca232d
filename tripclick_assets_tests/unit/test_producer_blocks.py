"""The producer's encode stage: blocks -> keys and payloads, in this process or in a process pool."""

from datetime import date

import pytest

from tripclick_assets.lib.events import build_event, encode_event, shard_of
from tripclick_assets.lib.synthetic import generate_day
from tripclick_assets.lib.tripclick_logs import MalformedRecord, iter_lines, parse_record
from tripclick_assets.producer.blocks import BlockEncoder, DayShare, encode_block
from tripclick_assets.producer.replay import ReplayConfig

DAY = date(2016, 1, 1)
DAY_START_MS = 1451606400000


def share(path, index=0, count=1, keep_times=False) -> DayShare:
    return DayShare(day_start_ms=DAY_START_MS, day_end_ms=DAY_START_MS + 86_400_000, server=f"server{index}",
                    server_index=index, server_count=count, source_file=path.name, owns_unattributed=True,
                    keep_times=keep_times)


@pytest.fixture(scope="module")
def day_file(tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs")
    return generate_day(logs, DAY, volume=4000, duplicate_rate=0.03, malformed_rate=0.02).path


def flatten(blocks) -> dict:
    out = {"keys": [], "values": [], "times": [], "quarantined": [], "lines": 0, "other_shards": 0}
    for block in blocks:
        out["keys"] += block.keys
        out["values"] += block.values
        out["times"] += block.times_ms
        out["quarantined"] += block.quarantined
        out["lines"] += block.lines
        out["other_shards"] += block.other_shards
    return out


def test_in_process_blocks_give_the_reference_events_in_file_order(day_file):
    with BlockEncoder(0, block_bytes=4096) as encoder:
        got = flatten(encoder.blocks(day_file, share(day_file, keep_times=True)))
    expected_values, expected_keys, expected_times, bad = [], [], [], []
    for line_no, line in iter_lines(day_file):
        try:
            record = parse_record(line)
        except MalformedRecord as error:
            bad.append((line_no, line, error.reason))
            continue
        expected_keys.append(record.session_id.encode())
        expected_times.append(record.epoch_ms)
        expected_values.append(encode_event(build_event(record, server="server0", source_file=day_file.name,
                                                        source_line=line_no)))
    assert got["values"] == expected_values and got["keys"] == expected_keys and got["times"] == expected_times
    assert got["quarantined"] == bad and len(bad) > 40
    assert got["lines"] == len(expected_values) + len(bad)


def test_the_pool_gives_exactly_what_this_process_gives(day_file):
    with BlockEncoder(0, block_bytes=4096) as encoder:
        local = flatten(encoder.blocks(day_file, share(day_file)))
    # Small blocks and no size floor, so the pool and this process's own encoding share the file.
    with BlockEncoder(2, block_bytes=4096, pool_min_bytes=0) as encoder:
        pooled = flatten(encoder.blocks(day_file, share(day_file)))
        again = flatten(encoder.blocks(day_file, share(day_file)))  # the pool serves a second day
        assert encoder.blocks_by_pool > 100
    assert pooled == local == again


def test_servers_split_sessions_and_bad_lines_without_overlap(day_file):
    blocks = [(1, day_file.read_bytes())]
    shares = [flatten(encode_block(share(day_file, i, 3), *b) for b in blocks) for i in range(3)]
    alone = flatten(encode_block(share(day_file), *b) for b in blocks)
    assert sorted(v for s in shares for v in s["values"]) != []
    assert sum(len(s["values"]) for s in shares) == len(alone["values"])
    assert sorted(q for s in shares for q in s["quarantined"]) == sorted(alone["quarantined"])
    for index, s in enumerate(shares):
        assert {shard_of(k.decode(), 3) for k in s["keys"]} == {index}
        assert s["other_shards"] == len(alone["values"]) - len(s["values"])


def test_small_files_are_encoded_here_without_starting_the_pool(day_file):
    with BlockEncoder(2) as encoder:  # default floor: two 4 MiB blocks
        assert len(flatten(encoder.blocks(day_file, share(day_file)))["values"]) > 3000
        assert encoder._pool is None and encoder.blocks_by_pool == 0 and encoder.blocks_here == 1


def test_worker_counts_are_checked():
    with pytest.raises(ValueError, match="workers"):
        BlockEncoder(-1)
    with pytest.raises(ValueError, match="workers"):
        ReplayConfig(logs_dir=".", bootstrap_servers="x", workers=-2)
    assert ReplayConfig(logs_dir=".", bootstrap_servers="x", mode="realtime", workers=3).encoder_workers == 0


def test_a_dead_worker_costs_no_block(day_file):
    with BlockEncoder(0, block_bytes=4096) as encoder:
        local = flatten(encoder.blocks(day_file, share(day_file)))
    with BlockEncoder(1, block_bytes=4096, pool_min_bytes=0) as encoder:
        blocks = encoder.blocks(day_file, share(day_file))
        first = [next(blocks) for _ in range(3)]
        for process in encoder._pool._processes.values():  # what an OOM kill does to a worker
            process.kill()
        pooled = flatten(first + list(blocks))
        assert encoder.pool_broke
        assert len(flatten(encoder.blocks(day_file, share(day_file)))["values"]) == len(local["values"])
    assert pooled == local
