"""Resources pointed at the test servers (the fixtures are in conftest.py)."""

import sys
from pathlib import Path

from tripclick_assets.resources.docker_producers import DockerServer
from tripclick_assets.resources.ssh_spark import SSHSparkResource

VENV_BIN = Path(sys.executable).parent
PRODUCER_IMAGE = "tripclick-producer"
PRODUCER_TAG = "test"
# spark-submit from the virtualenv, as a Spark master's would run it (local master: no cluster here).
SPARK_SUBMIT = (
    f"{VENV_BIN}/spark-submit --master 'local[2]' --driver-memory 1g --conf spark.ui.enabled=false "
    "--conf spark.ui.showConsoleProgress=false --conf spark.sql.shuffle.partitions=4 "
    "--py-files {code_zip} {job_script} --params-file {params_file}"
)


def docker_server(dockerd, name: str, **overrides) -> DockerServer:
    tls = dockerd.tls
    config = {"name": name, "base_url": dockerd.tcp_url, "tls_ca": str(tls["ca"]),
              "tls_cert": str(tls["client_cert"]), "tls_key": str(tls["client_key"])}
    return DockerServer(**{**config, **overrides})


def containers_of(dockerd, label: str = "tripclick.server") -> list[dict]:
    """The labelled containers (Id, Names, State, ...) in one API call.

    containers.list() inspects each container after listing it, which raises NotFound when
    one is removed in between (as the resource does while these tests watch).
    """
    return dockerd.client().api.containers(all=True, filters={"label": label})


def ssh_spark(sshd, remote_dir: Path, port: int | None = None, **overrides) -> SSHSparkResource:
    config = {
        "host": "127.0.0.1", "port": port or sshd.port, "user": "root", "private_key": str(sshd.client_key),
        "known_hosts": str(sshd.known_hosts), "command_template": SPARK_SUBMIT,
        "remote_dir": str(remote_dir), "env": {"PYSPARK_PYTHON": sys.executable},
    }
    return SSHSparkResource(**{**config, **overrides})
