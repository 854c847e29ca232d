"""Secret-holding files on the Spark host: 0600 from creation, swept when an orchestrator left them; and the
producer image is never pulled."""

import logging
import os
import stat
import subprocess
import sys
import time
from datetime import date

import dagster as dg
import pytest

from tripclick_assets.resources.docker_producers import DockerProducersResource
from tripclick_assets.resources.kafka import KafkaResource
from tripclick_assets.resources.ssh_spark import PARAMS_PREFIX
from tripclick_assets_tests.remote.probes import replay_probe
from tripclick_assets_tests.remote.support import PRODUCER_IMAGE, containers_of, docker_server, ssh_spark

log = logging.getLogger("test")


def test_params_files_are_private_from_creation_and_stale_ones_are_swept(sshd, tmp_path):
    remote = tmp_path / "remote"
    spark = ssh_spark(sshd, remote)
    client = spark.connect(log)
    try:
        # the shell that creates the file runs under umask 077: 0600 before a byte is written
        path = spark._write_params(client, "bronze", {"secret": "S3CR3T-params"})
        runs = remote / "runs"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(runs.stat().st_mode) == 0o700
        assert os.path.basename(path).startswith(PARAMS_PREFIX)
        old = time.time() - 3600
        stale, fresh, other = runs / f"{PARAMS_PREFIX}silver-dead.json", runs / f"{PARAMS_PREFIX}marts-new.json", runs / "keep.json"
        for file in (stale, fresh, other):
            file.write_text("{}")
        for file in (stale, other):
            os.utime(file, (old, old))
        os.utime(path, (old, old))
        holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", path])  # a running job
        try:
            spark.sweep_params(client, log)
        finally:
            holder.kill()
            holder.wait()
        assert not stale.exists()  # old and used by no process: left by a dead orchestrator
        assert fresh.exists() and other.exists() and os.path.exists(path)  # recent, not ours, or in use
    finally:
        client.close()


@pytest.mark.slow
def test_an_image_that_is_not_on_the_server_is_refused_not_pulled(dockerd, producer_image, broker):
    producers = DockerProducersResource(servers=[docker_server(dockerd, "server0")], image=PRODUCER_IMAGE,
                                        tag="not-built-here")
    kafka = KafkaResource(bootstrap_servers=broker.bootstrap_servers, topic="rx_absent", dlq_topic="rx_absent_dlq")
    result = dg.materialize([replay_probe], partition_key=date(2016, 3, 2).isoformat(), raise_on_error=False,
                            resources={"kafka": kafka, "producers": producers})
    assert not result.success
    error = next(str(e.event_specific_data.error) for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "is not on server0" in error and "never pulled" in error
    assert containers_of(dockerd) == []
