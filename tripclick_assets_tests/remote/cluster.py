"""A Spark standalone cluster from the deploy image: spark-master and two workers, as deploy/spark/compose.yaml
runs them, on the session's dockerd.

The engine here has no bridge network, so the containers share the host's network: every port
comes from the environment the entrypoint reads (free loopback ports instead of 7077/8080/8081),
``spark-master`` resolves to 127.0.0.1 in every container, and the lake is one directory mounted
at the same path everywhere (s3a needs jars that cannot be downloaded here).
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tripclick_assets.settings import DEFAULT_SPARK_KILL, DEFAULT_SPARK_SUBMIT
from tripclick_assets_tests.remote.servers import REPO, free_port

COMPOSE = REPO / "deploy" / "spark" / "compose.yaml"
WORKERS = ("spark-worker-1", "spark-worker-2")
LABEL = "tripclick.test-cluster"


def compose_services() -> dict[str, dict]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def _resolved(value) -> str:
    """A compose value with its ``${VAR:-default}`` references at their defaults."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(value))


@dataclass
class SparkCluster:
    client: object
    image: str
    shared_dirs: list[Path]
    worker_memory: str = "1g"
    master_port: int = field(default_factory=free_port)
    master_ui_port: int = field(default_factory=free_port)
    containers: dict[str, object] = field(default_factory=dict)

    @property
    def master_url(self) -> str:
        return f"spark://spark-master:{self.master_port}"

    @property
    def ui(self) -> str:
        return f"http://127.0.0.1:{self.master_ui_port}"

    def submit_template(self, docker_host: str) -> str:
        """The production template (settings.DEFAULT_SPARK_SUBMIT) aimed at this cluster's master port."""
        template = DEFAULT_SPARK_SUBMIT.replace("spark://spark-master:7077", self.master_url)
        assert template != DEFAULT_SPARK_SUBMIT
        return f"docker -H {docker_host} " + template.removeprefix("docker ")

    @staticmethod
    def kill_template(docker_host: str) -> str:
        return f"docker -H {docker_host} " + DEFAULT_SPARK_KILL.removeprefix("docker ")

    def _environment(self, service: dict, extra: dict) -> dict[str, str]:
        env = {k: _resolved(v) for k, v in (service.get("environment") or {}).items()}
        env = {k: v for k, v in env.items() if v != ""}
        return {**env, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_PUBLIC_DNS": "127.0.0.1",
                # Executors must fit the 1 GiB workers (spark-defaults.conf asks 2g, sized for m5.large).
                # On the host's network both workers are "host 127.0.0.1", and Spark would read a
                # neighbour's shuffle files from its own disk, which is another container's: off.
                "SPARK_EXTRA_DEFAULTS": "spark.executor.memory 512m;spark.driver.memory 1g;"
                                        "spark.shuffle.readHostLocalDisk false", **extra}

    def start(self, timeout: float = 120) -> None:
        services = compose_services()
        volumes = {str(d): {"bind": str(d), "mode": "rw"} for d in self.shared_dirs}
        common = {"detach": True, "network_mode": "host", "extra_hosts": {"spark-master": "127.0.0.1"},
                  "labels": {LABEL: "1"}, "volumes": volumes, "init": False}
        master = services["spark-master"]
        assert master["command"] == ["master"] and master["container_name"] == "spark-master"
        self.containers["spark-master"] = self.client.containers.run(
            self.image, master["command"], name="spark-master", hostname="spark-master",
            user="0:0",  # compose: the SSH user's uid (root here), so the driver reads its 0600 params files
            environment=self._environment(master, {
                "SPARK_MASTER_HOST": "spark-master", "SPARK_MASTER_PORT": str(self.master_port),
                "SPARK_MASTER_WEBUI_PORT": str(self.master_ui_port)}),
            **common)
        self.wait_for_workers(0, timeout)
        for name in WORKERS:
            worker = services[name]
            assert worker["command"] == ["worker"]
            self.containers[name] = self.client.containers.run(
                self.image, worker["command"], name=name, hostname=name,
                user="0:0",  # the lake is a host directory here (S3 in production): written as its owner
                environment=self._environment(worker, {
                    "SPARK_WORKER_MEMORY": self.worker_memory,
                    "SPARK_MASTER_URL": self.master_url,
                    "SPARK_WORKER_WEBUI_PORT": str(free_port())}),
                **common)
        self.wait_for_workers(len(WORKERS), timeout)

    def state(self) -> dict:
        with urllib.request.urlopen(f"{self.ui}/json/", timeout=5) as response:
            return json.loads(response.read())

    def wait_for_workers(self, count: int, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.state()
                alive = [w for w in last.get("workers", []) if w.get("state") == "ALIVE"]
                if len(alive) >= count and last.get("status") == "ALIVE":
                    return last
            except OSError as exc:
                last = exc
            for name, container in self.containers.items():
                container.reload()
                if container.status == "exited":
                    raise RuntimeError(f"{name} exited: {container.logs(tail=40).decode(errors='replace')}")
            time.sleep(1)
        raise TimeoutError(f"the cluster did not report {count} live workers in {timeout} s: {last}")

    def restart_master(self, timeout: float = 120) -> None:
        self.containers["spark-master"].restart(timeout=10)
        self.wait_for_workers(len(WORKERS), timeout)  # the workers re-register by themselves

    def tasks_by_worker(self) -> dict[str, dict[str, int]]:
        """{worker: {application id: tasks its executors started}}, from the executors' logs in the work dir."""
        found = {}
        for name in WORKERS:
            container = self.containers[name]
            script = ("for f in /opt/spark/work/*/*/stderr; do [ -f \"$f\" ] || continue; "
                      "echo \"$f $(grep -c 'Running task' \"$f\")\"; done")
            output = container.exec_run(["sh", "-c", script]).output.decode()
            apps: dict[str, int] = {}
            for line in output.splitlines():
                path, count = line.rsplit(" ", 1)
                app = path.split("/")[4]
                apps[app] = apps.get(app, 0) + int(count)
            found[name] = apps
        return found

    def stop(self) -> None:
        for container in self.client.containers.list(all=True, filters={"label": LABEL}):
            try:
                container.remove(force=True)
            except Exception:  # already gone
                pass
        self.containers.clear()
