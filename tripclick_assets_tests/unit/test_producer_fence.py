"""The fence: producers a dead orchestrator left running are stopped when the producer step starts again.

Local producers: real processes registered by lease files. Docker producers: the selection over a
fake Engine API (labels, states, stop/remove calls); a real dockerd is in tripclick_assets_tests/remote/.
"""

import json
import logging
import os
import socket
import subprocess
import sys
from datetime import date

import pytest

from tripclick_assets.resources.docker_producers import fence_leftover_containers, orchestrator_token
from tripclick_assets.resources.producers import _process, fence_leftover_producers
from tripclick_assets.services._process import is_alive, start_ticks

LOG = logging.getLogger("fence-test")
DAYS = [date(2016, 1, 2), date(2016, 1, 3)]


@pytest.fixture
def sleeper():
    """A stand-in producer: its own process group, as the local resource starts producers."""
    started = []

    def start() -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def gone_process() -> dict:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    token = _process(proc.pid)
    proc.wait()
    return token


def lease(tmp_path, name: str, producer: dict, owner: dict, *, topic="t", days=("2016-01-01", "2016-01-02")):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"run_id": f"run-{name}", "server": "server0", "topic": topic,
                                "bootstrap_servers": "127.0.0.1:1", "days": list(days),
                                "producer": producer, "owner": owner}))
    return path


def test_a_producer_whose_orchestrator_is_gone_is_stopped_and_others_are_left_alone(tmp_path, sleeper, caplog):
    orphan, concurrent, other_topic, other_days = sleeper(), sleeper(), sleeper(), sleeper()
    dead_owner = gone_process()
    paths = {
        "orphan": lease(tmp_path, "orphan", _process(orphan.pid), dead_owner),
        "concurrent": lease(tmp_path, "concurrent", _process(concurrent.pid), _process(os.getpid())),
        "other_topic": lease(tmp_path, "other_topic", _process(other_topic.pid), dead_owner, topic="u"),
        "other_days": lease(tmp_path, "other_days", _process(other_days.pid), dead_owner, days=("2016-01-05",) * 2),
        "ended": lease(tmp_path, "ended", gone_process(), dead_owner),
    }
    (tmp_path / "half-written.json").write_text("{")
    with caplog.at_level(logging.WARNING):
        stopped = fence_leftover_producers(tmp_path, topic="t", bootstrap_servers="127.0.0.1:1", days=DAYS, log=LOG)
    assert [s["run_id"] for s in stopped] == ["run-orphan"]
    assert orphan.wait(10) is not None and not paths["orphan"].exists()
    assert all(p.poll() is None for p in (concurrent, other_topic, other_days))
    assert paths["concurrent"].exists() and paths["other_topic"].exists() and paths["other_days"].exists()
    assert not paths["ended"].exists()  # the lease of a producer that ended is tidied away
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"fencing producer pid {orphan.pid} ") for m in messages)
    assert any(f"producer pid {concurrent.pid} " in m and "left alone" in m for m in messages)


def test_a_recycled_pid_is_not_the_registered_producer(tmp_path, sleeper):
    other = sleeper()
    token = _process(other.pid)
    token["started"] -= 1  # the same pid, started at another time: another process
    path = lease(tmp_path, "recycled", token, gone_process())
    assert fence_leftover_producers(tmp_path, topic="t", bootstrap_servers="127.0.0.1:1", days=DAYS, log=LOG) == []
    assert is_alive(other.pid) and not path.exists()


class FakeEngine:
    """What the fence uses of docker-py's low-level API."""

    def __init__(self, containers: list[dict]):
        self.entries, self.calls = containers, []
        self.api = self

    def containers(self, all, filters):  # noqa: A002 - docker-py's own keyword
        (wanted,) = filters["label"]
        key, value = wanted.split("=", 1)
        return [c for c in self.entries if (c["Labels"] or {}).get(key) == value]

    def stop(self, container_id, timeout):
        self.calls.append(("stop", container_id))

    def remove_container(self, container_id, force):
        self.calls.append(("remove", container_id))


def container(name: str, state: str, **labels) -> dict:
    base = {"tripclick.role": "producer", "tripclick.topic": "t", "tripclick.kafka": "k:9092",
            "tripclick.first_day": "2016-01-01", "tripclick.last_day": "2016-01-02",
            "tripclick.run_id": f"run-{name}", "tripclick.orchestrator": "elsewhere/1/1"}
    return {"Id": f"id-{name}", "Names": [f"/{name}"], "State": state, "Labels": {**base, **labels}}


def test_docker_containers_of_the_same_days_whose_orchestrator_is_gone_are_stopped_and_removed():
    mine = {"tripclick.topic": "t", "tripclick.kafka": "k:9092", "tripclick.first_day": "2016-01-02",
            "tripclick.last_day": "2016-01-03", "tripclick.orchestrator": orchestrator_token()}
    host = socket.gethostname()
    dead_here = f"{host}/{gone_process()['pid']}/1"
    alive_here = f"{host}/{os.getppid()}/{start_ticks(os.getppid())}"  # another live process on this host
    engine = FakeEngine([
        container("orphan", "running", **{"tripclick.orchestrator": dead_here}),
        container("other-host", "running"),                                    # cannot be seen: the queue says gone
        container("exited", "exited"),                                         # tidied away, nothing to stop
        container("earlier-attempt", "running", **{"tripclick.orchestrator": mine["tripclick.orchestrator"]}),
        container("concurrent", "running", **{"tripclick.orchestrator": alive_here}),
        container("other-days", "running", **{"tripclick.first_day": "2016-01-04", "tripclick.last_day": "2016-01-05"}),
        container("other-kafka", "running", **{"tripclick.kafka": "other:9092"}),
        container("other-topic", "running", **{"tripclick.topic": "u"}),
        {"Id": "id-unlabelled", "Names": ["/unlabelled"], "State": "running", "Labels": {}},
    ])
    removed = fence_leftover_containers(engine, "server0", mine, log=LOG)
    assert removed == ["orphan", "other-host", "exited", "earlier-attempt"]
    assert engine.calls == [("stop", "id-orphan"), ("remove", "id-orphan"), ("stop", "id-other-host"),
                            ("remove", "id-other-host"), ("remove", "id-exited"), ("stop", "id-earlier-attempt"),
                            ("remove", "id-earlier-attempt")]
