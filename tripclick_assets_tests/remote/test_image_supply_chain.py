"""Supply chain of the deploy/ images, on the session's dockerd (slow: the images are built).

* Each built image holds exactly its hash-checked locks: every distribution in its venv is a
  lock entry at the locked version (plus the project itself where it is installed), and every
  lock entry is there. So nothing unlocked entered the image, and the lock was complete.
* The producer image is run by digest and never pulled: a digest the server does not hold
  fails the step before any container exists; the built image's ID (what ``docker load`` keeps)
  is found and is what the container is created from.

The producer image comes from the ``producer_image`` fixture, the Spark image from
``spark_image``; the dagster image is built as test_deploy_images.py builds it (the same
arguments: the second build of a session comes from the layer cache).
"""

import json
from datetime import date

import dagster as dg
import pytest

from tripclick_assets.resources.docker_producers import DockerProducersResource
from tripclick_assets.resources.kafka import KafkaResource
from tripclick_assets_tests.deploy.test_image_locks import BUILD_TOOLS, LOCKS, parse_lock
from tripclick_assets_tests.remote.probes import replay_probe
from tripclick_assets_tests.remote.servers import REPO, build
from tripclick_assets_tests.remote.support import PRODUCER_IMAGE, PRODUCER_TAG, containers_of, docker_server

pytestmark = pytest.mark.slow

INSTALLED = ("import importlib.metadata as m, json, re; print(json.dumps(sorted("
             "[re.sub(r'[-_.]+', '-', d.metadata['Name']).lower(), d.version] for d in m.distributions())))")
# image -> (the venv's python, whether the project itself is installed on top of the lock)
VENVS = {"producer": ("/opt/tripclick/bin/python", True), "spark": ("/opt/venv/bin/python", False),
         "dagster": ("/opt/venv/bin/python", True)}


@pytest.fixture(scope="module")
def dagster_image(dockerd, base_image) -> str:
    return build(dockerd.client(), REPO, "tripclick-ci/dagster:test", dockerfile="deploy/dagster/Dockerfile",
                 buildargs={"BASE_IMAGE": base_image})


@pytest.mark.parametrize("name", sorted(VENVS))
def test_each_image_holds_exactly_its_locks(name, request, dockerd):
    image = request.getfixturevalue(f"{name}_image")
    python, with_project = VENVS[name]
    output = dockerd.client().containers.run(image, [python, "-c", INSTALLED], entrypoint=[], remove=True,
                                             network_mode="none")
    installed = dict(json.loads(output))
    wanted = {**parse_lock(BUILD_TOOLS.lock), **parse_lock(LOCKS[name].lock)}
    wanted = {n: entry.version for n, entry in wanted.items()}
    if with_project:
        wanted["tripclick-assets"] = installed.get("tripclick-assets", "missing")
        assert "tripclick-assets" in installed, f"{name}: the project is not installed"
    unlocked = {n: v for n, v in installed.items() if wanted.get(n) != v}
    absent = {n: v for n, v in wanted.items() if n not in installed}
    assert not unlocked, f"{name} image holds distributions its locks do not pin (at that version): {unlocked}"
    assert not absent, f"{name} image lacks locked distributions: {absent}"


def test_the_producer_image_is_found_by_its_image_id_and_not_under_a_name_it_lacks(dockerd, producer_image):
    client = dockerd.client()
    built = client.images.get(producer_image)
    server = docker_server(dockerd, "server0")
    by_id = DockerProducersResource(servers=[server], image=PRODUCER_IMAGE, tag=built.id)
    assert by_id.image_ref == f"{PRODUCER_IMAGE}@{built.id}"
    assert by_id.present_image(client, server) == built.id  # docker load keeps the ID, not a repository digest
    tagged = DockerProducersResource(servers=[server], image=PRODUCER_IMAGE, tag=PRODUCER_TAG)
    assert tagged.present_image(client, server) == f"{PRODUCER_IMAGE}:{PRODUCER_TAG}"
    # the same content under a name it does not carry is refused: the name in the setting means something
    other = DockerProducersResource(servers=[server], image="registry.example.internal/other", tag=built.id)
    with pytest.raises(dg.Failure, match="is not registry.example.internal/other"):
        other.present_image(client, server)


def test_a_producer_digest_that_is_not_on_the_server_is_refused_not_pulled(dockerd, producer_image, broker):
    client = dockerd.client()
    images_before = sorted(image.id for image in client.images.list(all=True))
    missing = "sha256:" + "e" * 64
    producers = DockerProducersResource(servers=[docker_server(dockerd, "server0")], image=PRODUCER_IMAGE, tag=missing)
    kafka = KafkaResource(bootstrap_servers=broker.bootstrap_servers, topic="rx_digest", dlq_topic="rx_digest_dlq")
    result = dg.materialize([replay_probe], partition_key=date(2016, 3, 3).isoformat(), raise_on_error=False,
                            resources={"kafka": kafka, "producers": producers})
    assert not result.success
    error = next(str(e.event_specific_data.error) for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert f"{PRODUCER_IMAGE}@{missing} is not on server0" in error and "never pulled" in error
    assert containers_of(dockerd) == []  # refused before any container was created
    assert sorted(image.id for image in client.images.list(all=True)) == images_before  # and nothing was pulled
