"""Session servers for the remote-execution tests: a TLS dockerd with the producer image, and an sshd.

A machine that cannot run one of them (not root, package missing, daemon refuses to start,
no Debian mirror for debootstrap) skips the tests that need it, with the reason; with
``TRIPCLICK_REQUIRE_REMOTE_TESTS=1`` (CI) such a machine fails them instead.
"""

import os
from pathlib import Path

import pytest

from tripclick_assets_tests.remote.servers import (
    REPO,
    Dockerd,
    Sshd,
    Unavailable,
    bookworm_rootfs_tarball,
    build,
    import_base_image,
    producer_build_context,
)
from tripclick_assets_tests.remote.support import PRODUCER_IMAGE, PRODUCER_TAG


def unavailable(reason: str):
    if os.environ.get("TRIPCLICK_REQUIRE_REMOTE_TESTS") == "1":
        pytest.fail(f"{reason} (TRIPCLICK_REQUIRE_REMOTE_TESTS=1 turns this skip into a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def remote_home(tmp_path_factory) -> Path:
    # Short: the dockerd socket path must stay under the 108-byte limit of unix sockets.
    return tmp_path_factory.mktemp("rx")


def serve(server):
    """Start a session server (or skip/fail with its reason), hand it to the tests, stop it by PID."""
    try:
        server.start()
    except Unavailable as exc:
        unavailable(str(exc))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dockerd(remote_home):
    server = Dockerd(remote_home / "dockerd")
    server.dir.mkdir()
    yield from serve(server)


@pytest.fixture(scope="session")
def base_image(dockerd) -> str:
    """A debootstrap Debian 12 image on the session's dockerd (cached rootfs; no Docker Hub here)."""
    try:
        tarball = bookworm_rootfs_tarball()
    except Unavailable as exc:
        unavailable(str(exc))
    return import_base_image(dockerd.client(), tarball)


@pytest.fixture(scope="session")
def producer_image(dockerd, base_image, remote_home) -> str:
    """deploy/producer/Dockerfile built on the debootstrap base."""
    context = producer_build_context(remote_home / "producer-context")
    return build(dockerd.client(), context, f"{PRODUCER_IMAGE}:{PRODUCER_TAG}", buildargs={"BASE_IMAGE": base_image})


@pytest.fixture(scope="session")
def failing_image(dockerd, producer_image, remote_home) -> str:
    """The producer image with an entrypoint that writes a few lines and exits 1."""
    context = remote_home / "failing-context"
    context.mkdir()
    script = ("import sys\nfor i in range(60): print(f'replaying line {i}', file=sys.stderr)\n"
              "print('fatal: broker rejected the batch', file=sys.stderr)\nsys.exit(1)\n")
    (context / "fail.py").write_text(script)
    (context / "Dockerfile").write_text(f"FROM {producer_image}\nCOPY fail.py /fail.py\n"
                                        'ENTRYPOINT ["python", "/fail.py"]\n')
    return build(dockerd.client(), context, f"{PRODUCER_IMAGE}:failing")


@pytest.fixture(scope="session")
def spark_image(dockerd, base_image) -> str:
    """deploy/spark/Dockerfile built on the debootstrap base (no s3a jars: Maven Central is out of reach)."""
    return build(dockerd.client(), REPO, "tripclick-ci/spark:test", dockerfile="deploy/spark/Dockerfile",
                 buildargs={"INSTALL_S3A_JARS": "false", "BASE_IMAGE": base_image})


@pytest.fixture(scope="session")
def cluster_dir(remote_home) -> Path:
    """Mounted at the same path in every cluster container: lakes and the SSH remote dirs go below it."""
    path = remote_home / "cluster"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def spark_cluster(dockerd, spark_image, cluster_dir):
    """spark-master and two 1-core, 1 GiB workers from the deploy image, as deploy/spark/compose.yaml runs them."""
    from tripclick_assets_tests.remote.cluster import SparkCluster

    cluster = SparkCluster(dockerd.client(), spark_image, [cluster_dir])
    try:
        cluster.start()
    except Exception:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def sshd(remote_home):
    yield from serve(Sshd(remote_home / "sshd"))


def pytest_collection_modifyitems(config, items):
    """Image builds keep the session's dockerd busy for minutes: run them after the tests that time containers."""
    items.sort(key=lambda item: item.path.name == "test_deploy_images.py")
