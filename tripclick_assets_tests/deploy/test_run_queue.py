"""The run queue of the repository's dagster.yaml, as a real dagster-daemon applies it: runs of the same
partition one after the other, runs of other partitions side by side."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tripclick_assets.services._process import stop_pid

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

CODE = '''
import json, os, time
import dagster as dg

days = dg.DailyPartitionsDefinition(start_date="2016-01-01")


@dg.asset(partitions_def=days)
def day_writer(context: dg.AssetExecutionContext):
    start = time.time()
    time.sleep(6)
    with open(os.environ["QUEUE_TEST_SPANS"], "a") as f:
        f.write(json.dumps({"partition": context.partition_key, "start": start, "end": time.time()}) + "\\n")


defs = dg.Definitions(assets=[day_writer], jobs=[dg.define_asset_job("day_job", selection=[day_writer])])
'''


def test_both_instances_limit_runs_per_partition():
    local = yaml.safe_load((REPO / "dagster.yaml").read_text())["run_coordinator"]["config"]
    deployed = yaml.safe_load((REPO / "deploy" / "dagster" / "dagster.yaml").read_text())["run_coordinator"]["config"]
    assert local["tag_concurrency_limits"] == deployed["tag_concurrency_limits"]
    assert {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} \
        in local["tag_concurrency_limits"]


@pytest.mark.slow
def test_the_daemon_serialises_runs_of_one_partition(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")  # its storage paths are relative to the cwd
    (tmp_path / "defs.py").write_text(CODE)
    (tmp_path / "workspace.yaml").write_text("load_from:\n  - python_file: defs.py\n")
    spans = tmp_path / "spans.jsonl"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")},
           "DAGSTER_HOME": str(home), "QUEUE_TEST_SPANS": str(spans)}
    for day in ("2016-01-02", "2016-01-02", "2016-01-03"):  # queued: no daemon yet
        subprocess.run([str(BIN / "dagster"), "job", "launch", "-w", "workspace.yaml", "-j", "day_job",
                        "--tags", json.dumps({"dagster/partition": day})],
                       cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120)
    daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], cwd=tmp_path, env=env,
                              stdout=open(tmp_path / "daemon.log", "wb"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and (not spans.exists() or len(spans.read_text().splitlines()) < 3):
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
            time.sleep(1)
        records = [json.loads(line) for line in spans.read_text().splitlines()] if spans.exists() else []
        assert len(records) == 3, (tmp_path / "daemon.log").read_text()[-3000:]
    finally:
        stop_pid(daemon.pid, timeout=20)

    def overlap(a, b) -> bool:
        return a["start"] < b["end"] and b["start"] < a["end"]

    same = [r for r in records if r["partition"] == "2016-01-02"]
    other = next(r for r in records if r["partition"] == "2016-01-03")
    assert not overlap(*same), same  # the second run of the day waited for the first
    assert any(overlap(other, r) for r in same), records  # another day did not wait (the limit is per key)
