"""The producer against the real embedded broker: payloads, keys, offsets, quarantine, faults."""

import json
import subprocess
import sys
import time
from datetime import date

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from tripclick_assets.lib.kafka.ranges import OffsetRange, consumer_config, read_range
from tripclick_assets.producer.config import ReplayConfig
from tripclick_assets.producer.replay import replay_days
from tripclick_assets_tests.conftest import free_port

DAY = date(2016, 1, 1)
DAY_START_MS = 1451606400000


def record(i: int, *, session: str | None = None, ms: int | None = None) -> dict:
    return {
        "DateCreated": f"/Date({ms if ms is not None else DAY_START_MS + i * 1000})/",
        "SessionId": session or f"s{i % 97:023d}",
        "DocumentId": 1000 + i, "Url": f"http://example.org/{i}", "Title": f"Title {i}", "DOI": "",
        "ClinicalAreas": ",Cardiology", "Keywords": "heart", "Documents": [],
    }


def write_day(tmp_path, lines: list[bytes]):
    path = tmp_path / f"{DAY:%Y-%m-%d}.json"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return tmp_path


def read_all(broker, topic, partitions: dict) -> list:
    config = consumer_config(broker.bootstrap_servers)
    messages = []
    for p, entry in partitions.items():
        for batch in read_range(config, OffsetRange(topic, int(p), entry["first"], entry["last"])):
            messages.extend(batch)
    return messages


def test_every_line_becomes_one_message_with_key_and_payload(tmp_path, broker, topic_names):
    topic, dlq = topic_names
    logs = write_day(tmp_path, [json.dumps(record(i)).encode() for i in range(500)])
    summary = replay_days(ReplayConfig(logs_dir=logs, bootstrap_servers=broker.bootstrap_servers,
                                       topic=topic, dlq_topic=dlq), [DAY])
    day = summary["days"][0]
    assert (day["lines"], day["sent"], day["failed"], day["quarantined"]) == (500, 500, 0, 0)
    assert sum(p["count"] for p in day["partitions"].values()) == 500
    assert len(day["partitions"]) == 3  # keyed by session over 3 partitions
    messages = read_all(broker, topic, day["partitions"])
    assert len(messages) == 500
    by_line = {}
    for m in messages:
        event = orjson.loads(m.value())
        assert m.key().decode() == event["SessionId"]
        by_line[event["source_line"]] = event
    assert sorted(by_line) == list(range(1, 501))
    first = by_line[1]
    assert first["event_ts"] == "2016-01-01T00:00:00.000Z" and first["event_date"] == "2016-01-01"
    assert first["DocumentId"] == 1000 and first["server"] == "server0"
    assert first["source_file"] == "2016-01-01.json" and len(first["dedup_key"]) == 16
    # Same session -> same partition (key = session_id).
    partition_of = {}
    for m in messages:
        partition_of.setdefault(m.key(), set()).add(m.partition())
    assert all(len(parts) == 1 for parts in partition_of.values())


def test_malformed_lines_go_to_the_dlq_with_reason_and_the_rest_is_produced(tmp_path, broker, topic_names):
    topic, dlq = topic_names
    good = [json.dumps(record(i)).encode() for i in range(50)]
    bad = [
        b'{"DateCreated": "/Date(1451606400000)/", "SessionId": ',                       # invalid JSON
        json.dumps({k: v for k, v in record(1).items() if k != "SessionId"}).encode(),  # missing SessionId
        json.dumps({k: v for k, v in record(2).items() if k != "DocumentId"}).encode(),
        json.dumps({k: v for k, v in record(3).items() if k != "DateCreated"}).encode(),
        json.dumps(record(4) | {"DateCreated": "/Date(abc)/"}).encode(),
        json.dumps(record(5) | {"DocumentId": "12ab"}).encode(),
        json.dumps(record(6)).encode().replace(b"Title 6", b"Title \xff\xfe"),
        b'{"Title": "' + b"z" * 1_048_576 + b'"}',                                        # a 1 MB line
    ]
    logs = write_day(tmp_path, good[:25] + bad + good[25:])
    summary = replay_days(ReplayConfig(logs_dir=logs, bootstrap_servers=broker.bootstrap_servers,
                                       topic=topic, dlq_topic=dlq), [DAY])
    day = summary["days"][0]
    assert (day["sent"], day["quarantined"], day["quarantine_delivered"], day["failed"]) == (50, 8, 8, 0)
    assert sum(day["quarantine_reasons"].values()) == 8
    consumer = Consumer(consumer_config(broker.bootstrap_servers))
    consumer.assign([TopicPartition(dlq, p, 0) for p in range(3)])
    dead = []
    deadline = time.monotonic() + 20
    while len(dead) < 8 and time.monotonic() < deadline:
        dead += [m for m in consumer.consume(100, timeout=1) if m.error() is None]
    consumer.close()
    assert len(dead) == 8
    headers = [dict(m.headers()) for m in dead]
    lines = sorted(int(h["source_line"]) for h in headers)
    assert lines == list(range(26, 34))
    reasons = {h["reason"].decode() for h in headers}
    for expected in ("invalid JSON", "missing SessionId", "missing DocumentId", "missing DateCreated",
                     "DateCreated is not a /Date", "DocumentId is not an integer", "not UTF-8", "byte limit"):
        assert any(expected in r for r in reasons), (expected, reasons)
    big = next(m for m, h in zip(dead, headers) if int(h["original_bytes"]) > 1_000_000)
    assert len(big.value()) < 20_000  # kept, but cut to fit a Kafka message


def test_servers_share_sessions_without_overlap(tmp_path, broker, topic_names):
    topic, dlq = topic_names
    logs = write_day(tmp_path, [json.dumps(record(i, session=f"s{i % 40:023d}")).encode() for i in range(400)])
    sent_sessions = []
    for index in range(2):
        summary = replay_days(ReplayConfig(logs_dir=logs, bootstrap_servers=broker.bootstrap_servers,
                                           topic=topic, dlq_topic=dlq, server_index=index, server_count=2), [DAY])
        day = summary["days"][0]
        assert day["sent"] + day["skipped_other_servers"] == 400
        events = [orjson.loads(m.value()) for m in read_all(broker, topic, day["partitions"])]
        assert {e["server"] for e in events} == {f"server{index}"}
        sent_sessions.append({e["SessionId"] for e in events})
    assert sent_sessions[0].isdisjoint(sent_sessions[1])
    assert len(sent_sessions[0] | sent_sessions[1]) == 40


def run_cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "tripclick_assets.producer", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_missing_source_file_is_a_clear_error(tmp_path, broker):
    result = run_cli("--event-date", "2016-02-03", "--source", str(tmp_path),
                     "--bootstrap-servers", broker.bootstrap_servers)
    assert result.returncode == 2
    assert "2016-02-03.json" in result.stderr and "2016-02.json" in result.stderr
    assert result.stdout == ""


def test_unreachable_broker_fails_fast_and_reports_nothing_sent(tmp_path):
    write_day(tmp_path, [json.dumps(record(i)).encode() for i in range(10)])
    started = time.monotonic()
    result = run_cli("--event-date", "2016-01-01", "--source", str(tmp_path),
                     "--bootstrap-servers", f"127.0.0.1:{free_port()}", "--delivery-timeout", "5")
    assert time.monotonic() - started < 30
    assert result.returncode == 3
    assert "did not answer" in result.stderr
    assert result.stdout == ""  # no summary: nothing claimed as sent


def test_cli_prints_one_json_summary_line(tmp_path, broker, topic_names):
    topic, dlq = topic_names
    write_day(tmp_path, [json.dumps(record(i)).encode() for i in range(20)])
    result = run_cli("--event-date", "2016-01-01", "--source", str(tmp_path), "--topic", topic,
                     "--dlq-topic", dlq, "--bootstrap-servers", broker.bootstrap_servers)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["sent"] == 20 and summary["failed"] == 0
    assert summary["days"][0]["partitions"]
    assert "done" in result.stderr


@pytest.mark.slow
def test_broker_restart_mid_batch_every_line_acknowledged_or_failed_then_rerun_completes(tmp_path):
    from tripclick_assets.services import BrokerService

    home = tmp_path / "home"
    own_broker = BrokerService(home, port=free_port())
    own_broker.start()
    try:
        n = 300_000
        write_day(tmp_path, [json.dumps(record(i, ms=DAY_START_MS + i * 250)).encode() for i in range(n)])
        args = ("--event-date", "2016-01-01", "--source", str(tmp_path),
                "--bootstrap-servers", own_broker.bootstrap_servers, "--delivery-timeout", "8")
        # Paced so the restart lands mid-batch: 300k events over ~21 h of event time in ~7.5 s.
        paced = (*args, "--mode", "realtime", "--speedup", "10000")
        proc = subprocess.Popen([sys.executable, "-m", "tripclick_assets.producer", *paced],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2.5)
        own_broker.stop()
        time.sleep(1.0)
        own_broker.start()
        out, err = proc.communicate(timeout=180)
        ours = "\n".join(line for line in err.splitlines() if not line.startswith("%"))  # drop librdkafka chatter
        assert out.strip(), f"no summary; exit {proc.returncode}; stderr: {ours[-3000:]}"
        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["sent"] + summary["failed"] == n, summary  # nothing unaccounted for
        assert proc.returncode == (1 if summary["failed"] else 0), (summary, err[-2000:])
        rerun = run_cli(*args, timeout=180)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        again = json.loads(rerun.stdout.strip().splitlines()[-1])
        assert (again["sent"], again["failed"]) == (n, 0)
    finally:
        own_broker.stop()


def test_month_file_replays_only_the_day_and_quarantines_bad_lines_once(tmp_path, broker, topic_names):
    topic, dlq = topic_names
    day_ms = 86_400_000
    lines = [json.dumps(record(i, ms=DAY_START_MS + (i % 2) * day_ms + i)).encode() for i in range(100)]
    lines.insert(50, b"{not json")
    (tmp_path / "2016-01.json").write_bytes(b"\n".join(lines) + b"\n")
    config = ReplayConfig(logs_dir=tmp_path, bootstrap_servers=broker.bootstrap_servers, topic=topic, dlq_topic=dlq)
    second = replay_days(config, [date(2016, 1, 2)])["days"][0]
    # 50 clicks of Jan 1 and the bad line (the month's first day quarantines it) are left to another day
    assert (second["sent"], second["skipped_other_dates"], second["quarantined"]) == (50, 51, 0)
    assert second["lines"] == second["sent"] + second["quarantined"] + second["skipped_other_dates"]
    first = replay_days(config, [date(2016, 1, 1)])["days"][0]
    assert (first["sent"], first["quarantined"]) == (50, 1)
    events = [orjson.loads(m.value()) for m in read_all(broker, topic, second["partitions"])]
    assert {e["event_date"] for e in events} == {"2016-01-02"} and {e["source_file"] for e in events} == {"2016-01.json"}


def replay_in_processes(monkeypatch, logs, topic, dlq, broker, workers=2):
    from tripclick_assets.producer import local_shards

    monkeypatch.setattr(local_shards, "MIN_SOURCE_BYTES", 0)  # a small file is split over processes too
    return replay_days(ReplayConfig(logs_dir=logs, bootstrap_servers=broker.bootstrap_servers,
                                    topic=topic, dlq_topic=dlq, workers=workers), [DAY])


def sessions_in_file_order(messages) -> dict:
    lines_by_session = {}
    for m in sorted(messages, key=lambda m: (m.partition(), m.offset())):
        lines_by_session.setdefault(m.key(), []).append(orjson.loads(m.value())["source_line"])
    assert all(seq == sorted(seq) for seq in lines_by_session.values())
    return lines_by_session


def test_local_processes_send_every_line_once_with_each_sessions_clicks_in_file_order(
        tmp_path, broker, topic_names, monkeypatch):
    topic, dlq = topic_names
    n = 6000
    lines = [json.dumps(record(i, session=f"s{i % 50:023d}")).encode() for i in range(n)]
    lines[777] = b"{broken"
    logs = write_day(tmp_path, lines)
    summary = replay_in_processes(monkeypatch, logs, topic, dlq, broker)
    assert summary["processes"]["count"] == 3 and summary["processes"]["replayed_again_here"] == []
    assert len(summary["processes"]["seconds"]) == 3
    day = summary["days"][0]
    assert (day["lines"], day["sent"], day["quarantined"], day["failed"]) == (n, n - 1, 1, 0)
    assert sum(r["count"] for r in day["partitions"].values()) == n - 1
    messages = read_all(broker, topic, day["partitions"])
    assert sorted(orjson.loads(m.value())["source_line"] for m in messages) == [i for i in range(1, n + 1) if i != 778]
    assert len(sessions_in_file_order(messages)) == 50


def test_a_producer_process_that_dies_has_its_sessions_replayed_by_the_parent(
        tmp_path, broker, topic_names, monkeypatch):
    import threading

    import psutil

    topic, dlq = topic_names
    n = 3000
    logs = write_day(tmp_path, [json.dumps(record(i, session=f"s{i % 40:023d}")).encode() for i in range(n)])
    me, killed = psutil.Process(), []

    def kill_the_first_child():  # while it is still starting: it sends nothing
        deadline = time.monotonic() + 30
        while not killed and time.monotonic() < deadline:
            for child in me.children():
                if "spawn_main" in " ".join(child.cmdline()):
                    child.kill()
                    killed.append(child.pid)
                    return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_the_first_child)
    killer.start()
    summary = replay_in_processes(monkeypatch, logs, topic, dlq, broker, workers=1)
    killer.join()
    assert killed and (summary["processes"]["count"], summary["processes"]["replayed_again_here"]) == (2, [1])
    day = summary["days"][0]
    assert (day["sent"], day["failed"], day["quarantined"]) == (n, 0, 0)
    messages = read_all(broker, topic, day["partitions"])
    assert sorted(orjson.loads(m.value())["source_line"] for m in messages) == list(range(1, n + 1))
    assert len(sessions_in_file_order(messages)) == 40


def test_a_message_the_client_refuses_counts_as_failed_and_the_rest_is_sent(tmp_path, broker, topic_names):
    topic, dlq = topic_names
    lines = [json.dumps(record(i)).encode() for i in range(40)]
    lines[10] = json.dumps(record(10) | {"Title": "t" * 5000}).encode()  # valid, but over the client's limit
    logs = write_day(tmp_path, lines)
    summary = replay_days(ReplayConfig(logs_dir=logs, bootstrap_servers=broker.bootstrap_servers, topic=topic,
                                       dlq_topic=dlq, kafka_config={"message.max.bytes": "4000"}), [DAY])
    day = summary["days"][0]
    assert (day["sent"], day["failed"], day["quarantined"]) == (39, 1, 0)
    assert any("rejected by the client" in reason for reason in day["errors"])
    events = [orjson.loads(m.value()) for m in read_all(broker, topic, day["partitions"])]
    assert sorted(e["source_line"] for e in events) == [i for i in range(1, 41) if i != 11]


def test_a_killed_producer_leaves_no_producer_processes_behind(tmp_path, broker, topic_names):
    import psutil

    topic, dlq = topic_names
    write_day(tmp_path, [json.dumps(record(i)).encode() for i in range(40_000)])  # ~10 MB: processes start
    proc = subprocess.Popen([sys.executable, "-m", "tripclick_assets.producer", "--event-date", "2016-01-01",
                             "--source", str(tmp_path), "--topic", topic, "--dlq-topic", dlq, "--workers", "2",
                             "--bootstrap-servers", broker.bootstrap_servers],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        children = []
        while time.monotonic() < deadline and proc.poll() is None:
            children = psutil.Process(proc.pid).children(recursive=True)
            if len([c for c in children if "spawn_main" in " ".join(c.cmdline())]) >= 2:
                break
            time.sleep(0.05)
        assert len(children) >= 2, "the producer processes never started"
        proc.kill()  # no cleanup of any kind runs in the producer
        proc.wait(10)
        gone, alive = psutil.wait_procs(children, timeout=10)
        assert alive == [], [c.pid for c in alive]
    finally:
        proc.kill()


def test_a_click_of_another_day_in_a_day_file_goes_to_the_dlq_with_the_day_it_belongs_to(tmp_path, broker, topic_names):
    topic, dlq = topic_names
    day_ms = 86_400_000
    lines = [json.dumps(record(i)).encode() for i in range(30)]
    lines.insert(10, json.dumps(record(98, ms=DAY_START_MS + day_ms + 7)).encode())  # 2016-01-02
    lines.insert(20, json.dumps(record(99, ms=DAY_START_MS - 1)).encode())           # 2015-12-31
    logs = write_day(tmp_path, lines)
    days = []
    for index in range(2):  # each line is produced, quarantined or left to the other server: none is lost
        summary = replay_days(ReplayConfig(logs_dir=logs, bootstrap_servers=broker.bootstrap_servers, topic=topic,
                                           dlq_topic=dlq, server_index=index, server_count=2), [DAY])
        day = summary["days"][0]
        assert day["lines"] == 32 == (day["produced"] + day["quarantined"] + day["skipped_other_servers"]
                                      + day["skipped_other_dates"])
        days.append(day)
    assert sum(d["sent"] for d in days) == 30 and sum(d["quarantined"] for d in days) == 2
    assert sum(d["quarantine_reasons"].get("other_event_date", 0) for d in days) == 2
    consumer = Consumer(consumer_config(broker.bootstrap_servers))
    consumer.assign([TopicPartition(dlq, p, 0) for p in range(3)])
    dead, deadline = [], time.monotonic() + 20
    while len(dead) < 2 and time.monotonic() < deadline:
        dead += [m for m in consumer.consume(100, timeout=1) if m.error() is None]
    consumer.close()
    headers = sorted((int(h["source_line"]), h["line_event_date"].decode(), h["event_date"].decode(),
                      h["reason"].decode().split(":")[0]) for h in (dict(m.headers()) for m in dead))
    assert headers == [(11, "2016-01-02", "2016-01-01", "other_event_date"),
                       (21, "2015-12-31", "2016-01-01", "other_event_date")]


def test_the_cli_says_which_days_it_generated_synthetically(tmp_path, broker, topic_names):
    topic, dlq = topic_names
    args = ("--event-date", "2016-01-01", "--source", str(tmp_path), "--topic", topic, "--dlq-topic", dlq,
            "--bootstrap-servers", broker.bootstrap_servers, "--synthetic", "--volume", "200", "--seed", "5")
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["synthetic_days"]["2016-01-01"]["seed"] == 5
    assert summary["synthetic_days"]["2016-01-01"]["volume"] >= 200
    again = json.loads(run_cli(*args).stdout.strip().splitlines()[-1])
    assert "synthetic_days" not in again  # the file already existed: nothing generated
