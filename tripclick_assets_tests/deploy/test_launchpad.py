"""No door from the UI to the servers: the production job refuses infrastructure in its run config.

A real ``dagster-webserver`` serves the production definitions with the settings the deploy
bundle gives the code location (deploy/.env.example, dummy secrets; nothing is contacted),
and runs are launched through its GraphQL API as the launchpad does. Every resource override
(a submit command, host-key policy, an image, host mounts, container environment, an
``{env: VAR}`` source) is refused as invalid config; the documented run config (the producer
step's mode and speedup) is valid.
"""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tripclick_assets_tests.deploy.support import REPO
from tripclick_assets_tests.deploy.test_prod_definitions import code_location_env

pytestmark = pytest.mark.slow

JOB = "tripclick_daily_lineage"
DOCUMENTED = {"ops": {"tripclick_raw_logs": {"config": {"mode": "realtime", "speedup": 48}}}}
OVERRIDES = {
    "spark.command_template": {"spark": {"config": {"command_template": "touch /tmp/pwned {job_script} {params_file}"}}},
    "spark.verify_host_key": {"spark": {"config": {"verify_host_key": False}}},
    "spark.known_hosts": {"spark": {"config": {"known_hosts": "/dev/null"}}},
    "spark.private_key from env": {"spark": {"config": {"private_key": {"env": "HOME"}}}},
    "spark.env": {"spark": {"config": {"env": {"LD_PRELOAD": "/tmp/evil.so"}}}},
    "producers.image": {"producers": {"config": {"image": "attacker/image"}}},
    "producers.mounts": {"producers": {"config": {"mounts": ["/:/host"]}}},
    "producers.environment": {"producers": {"config": {"environment": {"X": "y"}}}},
    "producers.network_mode": {"producers": {"config": {"network_mode": "container:other"}}},
    "kafka.bootstrap_servers": {"kafka": {"config": {"bootstrap_servers": "evil:9092"}}},
    "postgres.url": {"postgres": {"config": {"url": "postgresql://x:y@evil/db"}}},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GraphQL:
    def __init__(self, url: str):
        self.url = url

    def __call__(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.loads(response.read())
        assert "errors" not in payload, payload["errors"]
        return payload["data"]


@pytest.fixture(scope="module")
def graphql(tmp_path_factory):
    home = tmp_path_factory.mktemp("launchpad")
    env = {**code_location_env(), "DAGSTER_HOME": str(home)}
    (Path(home) / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = free_port()
    log = open(home / "webserver.log", "w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
         "-m", "tripclick_assets.definitions"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    client = GraphQL(f"http://127.0.0.1:{port}/graphql")
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                data = client("{ repositoriesOrError { __typename ... on RepositoryConnection "
                              "{ nodes { name location { name } } } } }")
                nodes = data["repositoriesOrError"].get("nodes") or []
                if nodes:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"dagster-webserver did not serve the definitions:\n{(home / 'webserver.log').read_text()[-4000:]}")
            time.sleep(1)
        (repo,) = nodes
        client.selector = {"repositoryLocationName": repo["location"]["name"], "repositoryName": repo["name"]}
        yield client
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message }
    ... on LaunchRunSuccess { run { runId } }
  }
}"""

VALID = """
query($selector: PipelineSelector!, $config: RunConfigData) {
  isPipelineConfigValid(pipeline: $selector, runConfigData: $config, mode: "default") {
    __typename
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""


def test_the_documented_run_config_is_valid(graphql):
    selector = {**graphql.selector, "pipelineName": JOB}
    result = graphql(VALID, {"selector": selector, "config": DOCUMENTED})["isPipelineConfigValid"]
    assert result["__typename"] == "PipelineConfigValidationValid", result


@pytest.mark.parametrize("name", sorted(OVERRIDES))
def test_a_run_overriding_infrastructure_is_refused(graphql, name):
    config = {**DOCUMENTED, "resources": OVERRIDES[name]}
    params = {"selector": {**graphql.selector, "jobName": JOB}, "runConfigData": config, "mode": "default",
              "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "2016-01-01"}]}}
    result = graphql(LAUNCH, {"params": params})["launchRun"]
    assert result["__typename"] == "RunConfigValidationInvalid", result
    assert any("unexpected config entry" in e["message"] for e in result["errors"]), result["errors"]
    runs = graphql("{ runsOrError { ... on Runs { results { runId } } } }")["runsOrError"]["results"]
    assert runs == []  # nothing was launched
