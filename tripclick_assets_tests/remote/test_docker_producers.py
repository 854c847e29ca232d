"""DockerProducersResource on a real dockerd (mutual TLS on 127.0.0.1) running the real producer image."""

import json
import os
import signal
import subprocess
import sys
import time

import dagster as dg
import pytest

from tripclick_assets.defs.ingestion.assets import tripclick_raw_logs
from tripclick_assets.resources.docker_producers import DockerProducersResource
from tripclick_assets.resources.kafka import KafkaResource
from tripclick_assets.resources.producers import LocalProducersResource, SyntheticSource
from tripclick_assets_tests.remote.probes import replay_probe
from tripclick_assets_tests.remote.servers import REPO, wait_for
from tripclick_assets_tests.remote.support import PRODUCER_IMAGE, PRODUCER_TAG, containers_of, docker_server

pytestmark = pytest.mark.slow

DAY = "2016-03-01"
SYNTHETIC = SyntheticSource(volume=1500, duplicate_rate=0.03, malformed_rate=0.01, bot_sessions=1)


def kafka_for(broker, topic: str) -> KafkaResource:
    return KafkaResource(bootstrap_servers=broker.bootstrap_servers, topic=topic, dlq_topic=f"{topic}_dlq")


def step_failure(result) -> str:
    event = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    return str(event.event_specific_data.error)


def per_server(result) -> dict:
    """Counts (total and per server) from tripclick_raw_logs' partition metadata."""
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    return {
        "acknowledged_by_server": metadata["acknowledged_by_server"].value,
        "acknowledged": metadata["acknowledged"].value,
        "quarantined": metadata["quarantined"].value,
        "log_lines": metadata["log_lines"].value,
    }


def test_every_server_runs_the_producer_image_and_matches_the_local_producers(
    dockerd, producer_image, broker, tmp_path, monkeypatch
):
    # server1 gets its client key as PEM text through an EnvVar; server0 reads files.
    monkeypatch.setenv("RX_DOCKER_CLIENT_KEY", dockerd.tls["client_key"].read_text())
    docker = DockerProducersResource(
        servers=[docker_server(dockerd, "server0"),
                 docker_server(dockerd, "server1", tls_key=dg.EnvVar("RX_DOCKER_CLIENT_KEY"))],
        image=PRODUCER_IMAGE, tag=PRODUCER_TAG, synthetic=SYNTHETIC,
    )
    local = LocalProducersResource(logs_dir=str(tmp_path / "logs"), synthetic=SYNTHETIC)
    outcomes, run_ids = {}, {}
    with dg.instance_for_test() as instance:
        for name, producers in (("docker", docker), ("local", local)):
            result = dg.materialize([tripclick_raw_logs], instance=instance, partition_key=DAY, resources={
                "kafka": kafka_for(broker, f"rx_docker_{name}"), "producers": producers})
            assert result.success
            outcomes[name], run_ids[name] = per_server(result), result.run_id
        logs = [e.message for e in instance.all_logs(run_ids["docker"]) if e.message]

    assert outcomes["docker"] == outcomes["local"]
    assert set(outcomes["docker"]["acknowledged_by_server"]) == {"server0", "server1"}
    assert all(n > 0 for n in outcomes["docker"]["acknowledged_by_server"].values())
    assert outcomes["docker"]["quarantined"] > 0  # malformed lines went to the dead-letter topic
    # the containers' own output is in the run log (raw lines at DEBUG, Pipes log messages at their level)
    assert any(m.startswith("[server0 stderr] ") for m in logs) and any(m.startswith("[server1 stderr] ") for m in logs)
    assert any("producer container tripclick-producer-server1-" in m for m in logs)
    assert containers_of(dockerd) == []  # removed after success


def test_a_container_exiting_1_fails_the_asset_with_its_log_tail(dockerd, failing_image, broker):
    producers = DockerProducersResource(servers=[docker_server(dockerd, "server0")], image=PRODUCER_IMAGE,
                                        tag="failing", log_tail_lines=20)
    result = dg.materialize([replay_probe], partition_key=DAY, raise_on_error=False, resources={
        "kafka": kafka_for(broker, "rx_docker_failing"), "producers": producers})
    assert not result.success
    message = step_failure(result)
    assert "producer container on server0 exited with status 1" in message
    assert "fatal: broker rejected the batch" in message and "replaying line 59" in message
    assert "replaying line 10\n" not in message  # only the tail
    assert containers_of(dockerd) == []


def test_the_tls_port_refuses_a_client_without_a_certificate(dockerd, producer_image, broker):
    """insecure=true warns, and the daemon's mutual TLS keeps a plain client out: nothing runs."""
    producers = DockerProducersResource(
        servers=[docker_server(dockerd, "server0", tls_ca=None, tls_cert=None, tls_key=None, insecure=True)],
        image=PRODUCER_IMAGE, tag=PRODUCER_TAG,
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize([replay_probe], partition_key=DAY, raise_on_error=False, instance=instance,
                                resources={"kafka": kafka_for(broker, "rx_docker_insecure"), "producers": producers})
        logs = [e.message for e in instance.all_logs(result.run_id) if e.message]
    assert not result.success
    assert any("plain TCP to tcp://127.0.0.1" in m and "insecure=true" in m for m in logs)
    assert containers_of(dockerd) == []


def start_realtime_producers(dockerd, broker, topic: str, day: str, log) -> subprocess.Popen:
    """A run worker of its own replaying ``day`` in real time on both servers, once both containers run."""
    servers = [docker_server(dockerd, name).model_dump() for name in ("server0", "server1")]
    spec = {
        "kind": "docker", "bootstrap_servers": broker.bootstrap_servers, "topic": topic,
        "partition": day, "mode": "realtime", "speedup": 1.0,  # real time: a day would take a day
        "producers": {"servers": servers, "image": PRODUCER_IMAGE, "tag": PRODUCER_TAG,
                      "synthetic": SYNTHETIC.model_dump()},
    }
    with open(log, "wb") as out:
        child = subprocess.Popen([sys.executable, "-m", "tripclick_assets_tests.remote.probes", json.dumps(spec)],
                                 cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: len([c for c in containers_of(dockerd) if c["State"] == "running"]) == 2, 120,
                 "both producer containers running")
    except AssertionError as exc:
        child.kill()
        child.wait()
        raise AssertionError(f"{exc}; the run's log:\n{log.read_text()[-4000:]}") from None
    return child


def test_terminating_the_run_stops_and_removes_the_containers(dockerd, producer_image, broker, tmp_path):
    log = tmp_path / "child.log"
    child = start_realtime_producers(dockerd, broker, "rx_docker_terminated", DAY, log)
    try:
        time.sleep(2)  # well into the replay
        os.kill(child.pid, signal.SIGINT)  # what Dagster sends a step when the run is terminated
        child.wait(timeout=90)
    finally:
        if child.poll() is None:  # the test failed before the run was terminated: leave no containers behind
            child.kill()
            child.wait()
            for container in containers_of(dockerd):
                dockerd.client().api.remove_container(container["Id"], force=True)
    assert child.returncode != 0
    assert containers_of(dockerd) == [], log.read_text()[-3000:]
    assert "stopping producer container tripclick-producer-server0-" in log.read_text()


def test_containers_left_by_a_sigkilled_run_worker_are_fenced_at_the_next_step_start(
    dockerd, producer_image, broker, tmp_path
):
    """The run worker dies without a word (SIGKILL): its producer containers keep sending into the day's
    offsets until the next producer step of that day stops them, before it produces."""
    day, topic = "2016-03-02", "rx_docker_fenced"
    log = tmp_path / "worker.log"
    worker = start_realtime_producers(dockerd, broker, topic, day, log)
    try:
        leftovers = {c["Id"] for c in containers_of(dockerd)}
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        time.sleep(2)
        assert {c["Id"] for c in containers_of(dockerd) if c["State"] == "running"} == leftovers  # still sending

        producers = DockerProducersResource(servers=[docker_server(dockerd, n) for n in ("server0", "server1")],
                                            image=PRODUCER_IMAGE, tag=PRODUCER_TAG, synthetic=SYNTHETIC)
        with dg.instance_for_test() as instance:
            result = dg.materialize([tripclick_raw_logs], instance=instance, partition_key=day,
                                    resources={"kafka": kafka_for(broker, topic), "producers": producers})
            logs = [e.message for e in instance.all_logs(result.run_id) if e.message]
        assert result.success
        fenced = [m for m in logs if m.startswith("fencing producer container ")]
        assert len(fenced) == 2 and all("is gone" in m for m in fenced), fenced
        assert not leftovers & {c["Id"] for c in containers_of(dockerd)}  # stopped and removed
        counts = per_server(result)
        assert counts["acknowledged"] + counts["quarantined"] > 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        for container in containers_of(dockerd):
            dockerd.client().api.remove_container(container["Id"], force=True)
    assert containers_of(dockerd) == []
