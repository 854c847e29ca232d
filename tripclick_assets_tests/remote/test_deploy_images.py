"""The deploy/ images built on the session's dockerd, on a debootstrap Debian 12 base (no Docker Hub).

Debian packages and PyPI are fetched during the build as in production. Maven Central does
not resolve from this machine, so the Spark image is built without its s3a jars
(INSTALL_S3A_JARS=false; its Dockerfile still checks PySpark's Hadoop client version, and its s3a
step is run against a local file:// repository in tripclick_assets_tests/deploy/test_dockerfiles.py).
The producer image is built by the ``producer_image`` fixture; the Spark cluster tests run the Spark
image for real (test_spark_cluster.py). Superset, Kafka and PostgreSQL images derive from Docker Hub
images that cannot be made here, so those Dockerfiles are parse-checked only.
"""

import pytest

from tripclick_assets_tests.remote.servers import REPO, build

# image -> (build args, environment, a command the built image must run successfully)
IMAGES = {
    "dagster": ({}, {"TRIPCLICK_ENV": "local"}, ["/opt/venv/bin/python", "-c",
                     "import dagster, dagster_postgres, dagster_webserver, tripclick_assets.definitions; "
                     "print(dagster.__version__)"]),
    "spark": ({"INSTALL_S3A_JARS": "false"}, {"PYTHONPATH": "/opt/tripclick-lib"}, [
        "/opt/venv/bin/python", "-c",
        "import subprocess; subprocess.run(['java', '-version'], check=True); "
        "import pyspark, tripclick_assets.spark_jobs.bronze, tripclick_assets.spark_jobs.marts; "
        "print(pyspark.__version__)"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(IMAGES))
def test_deploy_image_builds_and_runs(name, dockerd, base_image):
    buildargs, environment, command = IMAGES[name]
    client = dockerd.client()
    tag = build(client, REPO, f"tripclick-ci/{name}:test", dockerfile=f"deploy/{name}/Dockerfile",
                buildargs={**buildargs, "BASE_IMAGE": base_image})
    output = client.containers.run(tag, command, entrypoint=[], remove=True, stderr=True, network_mode="none",
                                   environment=environment)
    assert output.strip(), output
