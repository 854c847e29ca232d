"""Bronze against the producer's acknowledged offset ranges: bound to their topic, repeats told apart.

Real broker, local Spark, producers as Pipes subprocesses. Every path that puts the same event
twice inside a day's ranges is exercised for real: a producing process SIGKILLed mid-produce and
replayed by its parent, a producer left running by a SIGKILLed run worker (fenced at the next
step start), two runs of the same day (one after the other, and overlapping), and a multi-day
bronze run after a single-day producer rerun. Repeats pass with a WARN and their count; a topic
recreated under the ranges is refused before anything is published.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import dagster as dg
import orjson
import psutil
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tripclick_assets.defs.ingestion.assets import tripclick_raw_logs
from tripclick_assets.defs.lake.assets import bronze_events, silver_events
from tripclick_assets.lib.kafka.events import session_digest
from tripclick_assets.lib.kafka.ranges import OffsetRange, consumer_config, read_range
from tripclick_assets.lib.lake.reads import read_partition
from tripclick_assets.lib.source.synthetic import generate_day
from tripclick_assets.producer.local_shards import default_workers
from tripclick_assets.resources.producers import SyntheticSource
from tripclick_assets.services import BrokerService
from tripclick_assets_tests.conftest import free_port
from tripclick_assets_tests.defs_support import lake_checks
from tripclick_assets_tests.integration.lineage_support import lineage_resources

pytestmark = pytest.mark.slow

LAKE = [tripclick_raw_logs, bronze_events, silver_events, *lake_checks()]
BRONZE_CHECK = "bronze_rows_match_acknowledged"
NO_DUPLICATES = {"duplicate_rate": 0.0, "malformed_rate": 0.0, "bot_sessions": 0}


def latest(instance, key: str, day: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), asset_partitions=[day]), limit=1).records
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()} if records else {}


def evaluation(result, day: str, name: str = BRONZE_CHECK):
    """The check's evaluation for ``day`` (a range run logs one per day; a one-day run returns it)."""
    found = [e for e in result.get_asset_check_evaluations() if e.check_name == name and e.partition == day]
    found = found or [e for e in result.get_asset_check_evaluations() if e.check_name == name and not e.partition]
    assert found, f"no {name} evaluation for {day}"
    return found[-1]


def step_failure(result, step: str = "bronze_events") -> str:
    event = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE" and e.step_key == step)
    return str(event.event_specific_data.error.message)


def kafka_events(broker, topic: str, ranges: dict[str, list[list[int]]], day: str) -> dict:
    """Read straight from Kafka (not through bronze): the day's records in ``ranges`` and their events.

    ``ranges``: ``{partition: [[first, last], ...]}``, read once each (overlaps merged). An event is
    (partition, source file, source line, dedup_key); every record beyond the first of an event is
    a repeated delivery.
    """
    config = consumer_config(broker.bootstrap_servers)
    records, events = 0, set()
    for partition, spans in ranges.items():
        offsets = sorted(spans)
        merged = []
        for first, last in offsets:
            if merged and first <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        for first, last in merged:
            for batch in read_range(config, OffsetRange(topic, int(partition), first, last)):
                for m in batch:
                    event = orjson.loads(m.value())
                    if event["event_date"] == day:
                        records += 1
                        events.add((m.partition(), event["source_file"], event["source_line"], event["dedup_key"]))
    return {"records": records, "events": len(events), "repeats": records - len(events)}


def ranges_of(*metadata: dict) -> dict[str, list[list[int]]]:
    spans: dict[str, list[list[int]]] = {}
    for m in metadata:
        for p, (first, last) in m["offset_ranges"].items():
            spans.setdefault(p, []).append([first, last])
    return spans


def bronze_rows(resources, day: str) -> int:
    table = read_partition(resources["lake"].tables(), "bronze", day, ["parse_error"])
    return table.column("parse_error").null_count


def silver_keys(resources, day: str) -> list[str]:
    return read_partition(resources["lake"].tables(), "silver", day, ["dedup_key"]).column("dedup_key").to_pylist()


# --- 4. the ranges are bound to their topic --------------------------------------------------------


@pytest.mark.parametrize("how", ["topic_recreated", "broker_restarted"])
def test_bronze_refuses_ranges_whose_topic_was_recreated_and_publishes_nothing(tmp_path, spark, how):
    day, other_day = "2016-06-01", "2016-06-02"
    broker = BrokerService(tmp_path / "home", port=free_port())  # its own: one variant restarts it
    broker.start()
    try:
        resources = lineage_resources(tmp_path, broker, topic="identity",
                                      synthetic=SyntheticSource(volume=600, **NO_DUPLICATES))
        generate_day(tmp_path / "logs", date.fromisoformat(other_day), volume=2000, **NO_DUPLICATES)
        with dg.instance_for_test() as instance:
            first = dg.materialize(LAKE[:2], resources=resources, instance=instance, partition_key=day)
            assert first.success
            produced = latest(instance, "tripclick_raw_logs", day)
            tables = resources["lake"].tables()
            snapshot, rows = tables.table("bronze").current_snapshot().snapshot_id, bronze_rows(resources, day)
            assert rows == produced["acknowledged"]

            if how == "topic_recreated":
                admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
                for future in admin.delete_topics(["identity", "identity_dlq"]).values():
                    future.result(10)
                time.sleep(0.5)
                for future in admin.create_topics([NewTopic("identity", 3, 1)]).values():
                    future.result(10)
            else:  # the embedded broker keeps its store in memory: a restart starts empty
                broker.stop()
                broker.start()
            # Other records at the same offsets: another day, more than the first one had.
            assert dg.materialize(LAKE[:1], resources=resources, instance=instance, partition_key=other_day).success
            other = latest(instance, "tripclick_raw_logs", other_day)

            again = dg.materialize(LAKE[1:2], resources=resources, instance=instance, partition_key=day,
                                   raise_on_error=False)
        assert not again.success
        message = step_failure(again)
        assert f"event_date {day}" in message, message
        assert f"Re-materialize the producer step (tripclick_raw_logs) for {day}" in message, message
        assert tables.table("bronze").current_snapshot().snapshot_id == snapshot  # nothing published
        assert bronze_rows(resources, day) == rows
        # what the refusal rests on: the producer recorded the topic, its id and each partition's count
        assert produced["topic"] == "identity" and produced["topic_id"] in message
        assert other["topic_id"] not in (None, produced["topic_id"])
        assert sum(produced["acknowledged_by_partition"].values()) == produced["acknowledged"]
    finally:
        broker.stop()


# --- 5a. a producing process SIGKILLed mid-produce, its share replayed by its parent ----------------


def _descendants_of_server(index: int) -> tuple[list, list]:
    """(producer processes of server ``index``, their spawned producing processes), under this pytest."""
    producers, spawned = [], []
    for proc in psutil.Process().children(recursive=True):
        try:
            argv = proc.cmdline()
        except psutil.Error:
            continue
        if "tripclick_assets.producer" in argv and argv[argv.index("--server-index") + 1] == str(index):
            producers.append(proc)
    for producer in producers:
        try:
            spawned += [c for c in producer.children() if "spawn_main" in " ".join(c.cmdline())]
        except psutil.Error:
            pass
    return producers, spawned


def kill_spawned_after_their_first_delivery(broker, topic: str, outcome: dict, processes: int) -> None:
    """Throttles server0's spawned producing processes (SIGSTOP/SIGCONT) until Kafka holds a record one of
    them sent, then SIGKILLs them: they die having delivered part of their share."""
    deadline = time.monotonic() + 180
    spawned = []
    while time.monotonic() < deadline and len(spawned) < processes - 1:
        spawned = _descendants_of_server(0)[1]
        for proc in spawned:
            try:
                proc.suspend()
            except psutil.Error:
                pass
        time.sleep(0.01)
    if len(spawned) < processes - 1:
        outcome["error"] = "server0 never spawned its producing processes"
        return
    consumer = Consumer(consumer_config(broker.bootstrap_servers))
    consumer.assign([TopicPartition(topic, p, 0) for p in range(3)])
    shards = 2 * processes  # two servers, each split over its processes; server0's own share is shard 0
    try:
        while time.monotonic() < deadline:
            for proc in spawned:
                proc.resume()
            time.sleep(0.03)
            for proc in spawned:
                proc.suspend()
            for m in consumer.consume(5000, timeout=0.2):
                if m.error() is not None:
                    continue
                event = orjson.loads(m.value())
                if event["server"] == "server0" and session_digest(event["SessionId"]) % shards != 0:
                    for proc in spawned:
                        if not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                            outcome["error"] = f"pid {proc.pid} finished before it could be killed"
                        proc.send_signal(signal.SIGKILL)
                    outcome["killed"] = [p.pid for p in spawned]
                    return
            if any(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in spawned):
                outcome["error"] = "a spawned producing process ended before it delivered anything"
                return
        outcome["error"] = "no record of a spawned producing process arrived"
    finally:
        for proc in spawned:
            try:
                proc.resume()
            except psutil.Error:
                pass
        consumer.close()


def test_a_producing_process_killed_mid_produce_is_replayed_and_bronze_warns_of_the_repeats(tmp_path, broker, spark):
    day = "2016-06-10"
    processes = 1 + default_workers()
    if processes < 2:
        pytest.skip("one core: the producer replays in one process, there is no child to kill")
    topic = "deliveries_killed_child"
    # 12 MB (over local_shards.MIN_SOURCE_BYTES): each server replays in ``processes`` processes
    generated = generate_day(tmp_path / "logs", date.fromisoformat(day), volume=30000, duplicate_rate=0.02,
                             malformed_rate=0.0, bot_sessions=0)
    resources = lineage_resources(tmp_path, broker, topic=topic, synthetic=SyntheticSource(volume=30000))
    outcome: dict = {}
    killer = threading.Thread(target=kill_spawned_after_their_first_delivery,
                              args=(broker, topic, outcome, processes), daemon=True)
    killer.start()
    with dg.instance_for_test() as instance:
        result = dg.materialize(LAKE, resources=resources, instance=instance, partition_key=day, raise_on_error=False)
        killer.join(timeout=60)
        assert "error" not in outcome and outcome.get("killed"), outcome
        logs = [e.message for e in instance.all_logs(result.run_id) if e.message]
        produced = latest(instance, "tripclick_raw_logs", day)
        bronze = latest(instance, "bronze_events", day)
        silver = latest(instance, "silver_events", day)
    assert any("before reporting; replaying its sessions here" in m for m in logs)  # the parent replayed it
    assert result.success, [step_failure(result, e.step_key) for e in result.all_events
                            if e.event_type_value == "STEP_FAILURE"]
    assert produced["acknowledged"] == generated.lines  # each line acknowledged once: the replay's
    truth = kafka_events(broker, topic, ranges_of(produced), day)
    assert truth["events"] == produced["acknowledged"] and truth["repeats"] > 0, truth  # the dead child's deliveries
    assert bronze["parsed_rows"] == truth["records"] and bronze["repeated_deliveries"] == truth["repeats"]
    check = evaluation(result, day)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN, check.description
    assert check.metadata["repeated_deliveries"].value == truth["repeats"]
    assert check.metadata["missing_events"].value == check.metadata["unexpected_events"].value == 0
    assert f"{truth['repeats']} repeated deliveries" in check.description
    # silver keeps one row per event: the repeats and the source's own duplicates go
    assert silver["dagster/row_count"] == len(set(silver_keys(resources, day))) == generated.lines - generated.duplicates
    assert silver["duplicates_removed"] == generated.duplicates + truth["repeats"]


# --- 5b. a producer left running by a SIGKILLed run worker, fenced at the next step start ------------

WORKER = """
import sys
import dagster as dg
from tripclick_assets.defs.ingestion.assets import tripclick_raw_logs
from tripclick_assets.resources.kafka import KafkaResource
from tripclick_assets.resources.producers import LocalProducersResource, SyntheticSource

home, logs, bootstrap, topic, day, speedup = sys.argv[1:]
with dg.instance_for_test(temp_dir=home) as instance:
    result = dg.materialize([tripclick_raw_logs], instance=instance, partition_key=day, resources={
        "kafka": KafkaResource(bootstrap_servers=bootstrap, topic=topic, dlq_topic=topic + "_dlq"),
        "producers": LocalProducersResource(logs_dir=logs, synthetic=SyntheticSource(enabled=False)),
    }, run_config={"ops": {"tripclick_raw_logs": {"config": {"mode": "realtime", "speedup": float(speedup)}}}})
    print("run", result.run_id, result.success, flush=True)
"""


def start_worker(tmp_path, broker, topic: str, day: str, speedup: float) -> subprocess.Popen:
    """A run worker of its own (a process that can be SIGKILLed): the producer step for ``day``, paced."""
    log = open(tmp_path / f"worker-{time.monotonic_ns()}.log", "wb")
    return subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path / "dagster_home"), str(tmp_path / "logs"),
                             broker.bootstrap_servers, topic, day, str(speedup)],
                            stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2])


def high_watermarks(broker, topic: str) -> int:
    consumer = Consumer(consumer_config(broker.bootstrap_servers))
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1] for p in range(3))
    finally:
        consumer.close()


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_producer_left_by_a_killed_run_worker_is_fenced_when_the_step_starts_again(tmp_path, broker, spark):
    day, topic = "2016-06-20", "deliveries_orphan"
    (tmp_path / "dagster_home").mkdir()
    generate_day(tmp_path / "logs", date.fromisoformat(day), volume=3000, **NO_DUPLICATES)
    resources = lineage_resources(tmp_path, broker, topic=topic, synthetic=SyntheticSource(enabled=False))
    worker = start_worker(tmp_path, broker, topic, day, speedup=86400 / 120)  # server0 alone takes ~2 min
    orphans = []
    try:
        wait_for(lambda: any("tripclick_assets.producer" in " ".join(c.cmdline())
                             for c in psutil.Process(worker.pid).children(recursive=True)), 90, "the producer")
        orphans = [c for c in psutil.Process(worker.pid).children(recursive=True)
                   if "tripclick_assets.producer" in " ".join(c.cmdline())]
        wait_for(lambda: high_watermarks(broker, topic) > 20, 60, "the producer's first records")
        worker.send_signal(signal.SIGKILL)  # the run worker dies; its producer is not told
        worker.wait(10)
        sent = high_watermarks(broker, topic)
        time.sleep(2)
        assert all(p.is_running() for p in orphans) and high_watermarks(broker, topic) > sent  # still sending

        with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
            result = dg.materialize(LAKE, resources=resources, instance=instance, partition_key=day)
            logs = [e.message for e in instance.all_logs(result.run_id) if e.message]
            produced = latest(instance, "tripclick_raw_logs", day)
            bronze = latest(instance, "bronze_events", day)
        assert any(m.startswith("fencing producer pid ") and "orchestrating process" in m for m in logs), logs
        gone, alive = psutil.wait_procs(orphans, timeout=5)
        assert not alive, [p.pid for p in alive]
        assert result.success
        truth = kafka_events(broker, topic, ranges_of(produced), day)
        # the new ranges hold this step's events only: the leftover was stopped before it produced
        assert truth == {"records": produced["acknowledged"], "events": produced["acknowledged"], "repeats": 0}
        assert bronze["repeated_deliveries"] == 0 and bronze["parsed_rows"] == produced["acknowledged"]
        check = evaluation(result, day)
        assert check.passed, check.description
    finally:
        for proc in [*orphans]:
            try:
                proc.kill()
            except psutil.Error:
                pass
        if worker.poll() is None:
            worker.kill()


# --- 5c. two runs of the same day: bronze reads the latest ranges --------------------------------------


def test_two_runs_of_a_day_have_repeats_in_the_latest_ranges_only_when_they_overlapped(tmp_path, broker, spark):
    day, topic = "2016-06-25", "deliveries_two_runs"
    (tmp_path / "dagster_home").mkdir()
    generate_day(tmp_path / "logs", date.fromisoformat(day), volume=1500, **NO_DUPLICATES)
    resources = lineage_resources(tmp_path, broker, topic=topic, synthetic=SyntheticSource(enabled=False))
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        # One after the other: Kafka holds the day twice, the latest ranges once.
        assert dg.materialize(LAKE[:1], resources=resources, instance=instance, partition_key=day).success
        earlier = latest(instance, "tripclick_raw_logs", day)
        sequential = dg.materialize(LAKE, resources=resources, instance=instance, partition_key=day)
        assert sequential.success
        later, bronze = latest(instance, "tripclick_raw_logs", day), latest(instance, "bronze_events", day)
        assert all(later["offset_ranges"][p][0] > earlier["offset_ranges"][p][1] for p in later["offset_ranges"])
        assert bronze["parsed_rows"] == later["acknowledged"] == earlier["acknowledged"]
        assert bronze.get("repeated_deliveries", 0) == 0
        assert evaluation(sequential, day).passed, evaluation(sequential, day).description

        # Overlapping: a paced run (its own run worker) and a batch run of the same day at once. The
        # fence leaves a producer whose orchestrator is alive alone; the paced run ends last, so its
        # ranges are the latest and hold the batch run's records too.
        worker = start_worker(tmp_path, broker, topic, day, speedup=86400 / 25)
        try:
            wait_for(lambda: any("tripclick_assets.producer" in " ".join(c.cmdline())
                                 for c in psutil.Process(worker.pid).children(recursive=True)), 90, "the producer")
            wait_for(lambda: high_watermarks(broker, topic) > 2 * later["acknowledged"] + 20, 60, "paced records")
            batch = dg.materialize(LAKE[:1], resources=resources, instance=instance, partition_key=day)
            assert batch.success
            batch_logs = [e.message for e in instance.all_logs(batch.run_id) if e.message]
            assert worker.wait(180) == 0
        finally:
            if worker.poll() is None:
                worker.kill()
        paced = latest(instance, "tripclick_raw_logs", day)
        overlapping = dg.materialize(LAKE[1:], resources=resources, instance=instance, partition_key=day)
        bronze = latest(instance, "bronze_events", day)
    assert overlapping.success  # a WARN blocks nothing
    truth = kafka_events(broker, topic, ranges_of(paced), day)
    assert truth["events"] == paced["acknowledged"] and truth["repeats"] > 0, truth
    assert bronze["repeated_deliveries"] == truth["repeats"] and bronze["parsed_rows"] == truth["records"]
    check = evaluation(overlapping, day)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN, check.description
    assert check.metadata["repeated_deliveries"].value == truth["repeats"]
    assert len(silver_keys(resources, day)) == len(set(silver_keys(resources, day))) == paced["acknowledged"]
    assert any("left alone" in m for m in batch_logs), batch_logs  # the fence saw the paced run was alive


# --- 5d. a multi-day bronze run after a single-day producer rerun ----------------------------------


def test_a_multi_day_bronze_run_after_a_one_day_producer_rerun_warns_of_the_older_copies(tmp_path, broker, spark):
    days, topic = ("2016-07-01", "2016-07-02"), "deliveries_multi_day"
    resources = lineage_resources(tmp_path, broker, topic=topic, synthetic=SyntheticSource(volume=1200, **NO_DUPLICATES))
    both = {"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[1]}
    with dg.instance_for_test() as instance:
        assert dg.materialize(LAKE, resources=resources, instance=instance, tags=both).success
        old = {day: latest(instance, "tripclick_raw_logs", day) for day in days}
        before = sorted(silver_keys(resources, days[0]))
        assert dg.materialize(LAKE[:1], resources=resources, instance=instance, partition_key=days[0]).success
        rerun = latest(instance, "tripclick_raw_logs", days[0])
        result = dg.materialize(LAKE[1:], resources=resources, instance=instance, tags=both)
        bronze = {day: latest(instance, "bronze_events", day) for day in days}
    assert result.success
    # The range run reads the first day's new ranges and the second day's old ones, which hold the
    # first day's older copies from server1 (each server replayed both days in turn).
    truth = kafka_events(broker, topic, ranges_of(rerun, old[days[1]]), days[0])
    assert truth["events"] == rerun["acknowledged"] and truth["repeats"] > 0, truth
    assert bronze[days[0]]["repeated_deliveries"] == truth["repeats"]
    first = evaluation(result, days[0])
    assert not first.passed and first.severity == dg.AssetCheckSeverity.WARN, first.description
    assert first.metadata["repeated_deliveries"].value == truth["repeats"]
    second = evaluation(result, days[1])
    assert second.passed and bronze[days[1]]["repeated_deliveries"] == 0, second.description
    assert sorted(silver_keys(resources, days[0])) == before  # silver: the same events, once each
