"""The project as the dg CLI sees it: `dg list defs` and `dg dev` show the graph `dagster dev` serves."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT = REPO / "tripclick_assets_tests" / "unit" / "snapshots" / "asset_graph.json"
BIN = Path(sys.executable).parent
QUERY = "{ assetNodes { assetKey { path } groupName assetChecksOrError { ... on AssetChecks { checks { name } } } } }"


def snapshot_graph() -> tuple[dict[str, str], set[str]]:
    """Asset key -> group, and asset:check names, from the committed graph snapshot."""
    snapshot = json.loads(SNAPSHOT.read_text())
    return ({key: asset["group_name"] for key, asset in snapshot["assets"].items()}, set(snapshot["asset_checks"]))


def project_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIPCLICK_", "DAGSTER_"))}
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nnux:\n  enabled: false\n")
    # dg wants the project's venv active; nothing may be written into the repository
    return {**env, "VIRTUAL_ENV": str(BIN.parent), "PATH": f"{BIN}:{env.get('PATH', '')}",
            "DAGSTER_HOME": str(home), "TRIPCLICK_HOME": str(tmp_path / "tripclick")}


def test_dg_list_defs_shows_the_snapshot_graph(tmp_path):
    result = subprocess.run([str(BIN / "dg"), "list", "defs", "--json"], cwd=REPO, env=project_env(tmp_path),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    listed = json.loads(result.stdout)
    groups, checks = snapshot_graph()
    assert {a["asset_key"]: a["group_name"] for a in listed["assets"]} == groups
    assert {c["key"] for c in listed["asset_checks"]} == checks
    assert sorted(s["name"] for s in listed["schedules"]) == ["daily_lineage_schedule", "lake_maintenance_schedule"]
    assert [s["name"] for s in listed["sensors"]] == ["tripclick_run_failure_alert"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def served_graph(port: int, deadline: float) -> tuple[dict[str, str], set[str]]:
    """The asset nodes the webserver on ``port`` serves, once its code location has loaded."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": QUERY}).encode(),
                                     headers={"Content-Type": "application/json"})
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                nodes = json.loads(response.read())["data"]["assetNodes"]
            if nodes:
                groups = {"/".join(n["assetKey"]["path"]): n["groupName"] for n in nodes}
                checks = {f"{'/'.join(n['assetKey']['path'])}:{c['name']}"
                          for n in nodes for c in n["assetChecksOrError"].get("checks", [])}
                return groups, checks
        except (OSError, KeyError, ValueError) as exc:
            last = exc
        time.sleep(1)
    raise AssertionError(f"no asset graph served on port {port}: {last}")


def stop(process: subprocess.Popen) -> None:
    """Ends the server's process group: dagster dev handles SIGINT, its children follow."""
    for sig, wait in ((signal.SIGINT, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.mark.slow
@pytest.mark.parametrize("command", [
    ["dg", "dev"],
    ["dagster", "dev", "-w", "workspace.yaml"],
], ids=["dg-dev", "dagster-dev"])
def test_the_dev_servers_serve_the_snapshot_graph(tmp_path, command):
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen([str(BIN / command[0]), *command[1:], "-h", "127.0.0.1", "-p", str(port)], cwd=REPO,
                               env=project_env(tmp_path), stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        served = served_graph(port, time.monotonic() + 240)
    finally:
        stop(process)
        log.close()
    assert served == snapshot_graph(), (tmp_path / "server.log").read_text()[-3000:]
