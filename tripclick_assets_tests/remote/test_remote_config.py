"""Production settings and the remote resources' configuration (no servers needed)."""

import shlex
import zipfile
import io

import dagster as dg
import pytest

from tripclick_assets import settings
from tripclick_assets_tests.defs_support import load_defs
from tripclick_assets.resources.docker_producers import DockerProducersResource, DockerServer
from tripclick_assets.resources.spark_code import code_bundle
from tripclick_assets.resources.ssh_spark import SSHSparkResource

BASE_ENV = {
    "TRIPCLICK_ENV": "prod",
    "KAFKA_BOOTSTRAP_SERVERS": "kafka-1:9092,kafka-2:9093",
    "TRIPCLICK_PRODUCER_SERVERS": "server0=tcp://10.0.1.11:2376,server1=tcp://10.0.1.12:2376",
    "TRIPCLICK_DOCKER_TLS_DIR": "/secure/docker-tls/client",
    "TRIPCLICK_SPARK_SSH_HOST": "10.0.2.20",
    "TRIPCLICK_SPARK_SSH_USER": "ubuntu",
    "TRIPCLICK_SPARK_SSH_KEY": "/secure/spark_key.pem",
    "TRIPCLICK_PRODUCER_IMAGE": "registry.example.internal/tripclick-producer@sha256:" + "ab" * 32,
    "TRIPCLICK_POSTGRES_URL": "postgresql://gold:secret@10.0.2.30:5432/tripclick_gold",
}


@pytest.fixture
def prod_env(monkeypatch):
    for name in list(__import__("os").environ):
        if name.startswith(("TRIPCLICK_", "KAFKA_")):
            monkeypatch.delenv(name)
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_prod_settings_read_the_topology(prod_env):
    prod = settings.prod_settings()
    servers = prod["producers"]["servers"]
    assert [s["name"] for s in servers] == ["server0", "server1"]
    assert {f: servers[0][f] for f in settings.TLS_FILES} == {
        "tls_ca": "/secure/docker-tls/client/ca.pem", "tls_cert": "/secure/docker-tls/client/cert.pem",
        "tls_key": "/secure/docker-tls/client/key.pem"}
    assert prod["spark"]["command_template"] == settings.DEFAULT_SPARK_SUBMIT
    assert prod["spark"]["kill_template"] == settings.DEFAULT_SPARK_KILL  # the driver runs in the spark-master container
    assert prod["lake"]["root"] == "s3a://tripclick-lake" and prod["spark"]["port"] == 22


@pytest.mark.parametrize("change, message", [
    ({"TRIPCLICK_PRODUCER_SERVERS": None}, "TRIPCLICK_PRODUCER_SERVERS is required"),
    ({"TRIPCLICK_PRODUCER_SERVERS": "server0"}, "TRIPCLICK_PRODUCER_SERVERS must be a comma-separated list"),
    ({"TRIPCLICK_PRODUCER_SERVERS": "a=tcp://h:1,a=tcp://h:2"}, "names each server once"),
    ({"TRIPCLICK_DOCKER_TLS_DIR": None}, "server0 (tcp://10.0.1.11:2376) needs TLS"),
    ({"TRIPCLICK_DOCKER_TLS_DIR": None, "TRIPCLICK_DOCKER_TLS_CA": "/ca.pem"},
     "set TRIPCLICK_DOCKER_TLS_CERT, TRIPCLICK_DOCKER_TLS_KEY as well"),
    ({"TRIPCLICK_DOCKER_INSECURE": "server9"}, "TRIPCLICK_DOCKER_INSECURE names unknown servers ['server9']"),
    ({"TRIPCLICK_SPARK_SSH_HOST": None}, "TRIPCLICK_SPARK_SSH_HOST is required"),
    ({"TRIPCLICK_SPARK_SSH_PORT": "ssh"}, "TRIPCLICK_SPARK_SSH_PORT must be an integer"),
    ({"KAFKA_BOOTSTRAP_SERVERS": None}, "KAFKA_BOOTSTRAP_SERVERS is required"),
    ({"TRIPCLICK_PRODUCER_SYNTHETIC": "maybe"}, "TRIPCLICK_PRODUCER_SYNTHETIC must be true or false"),
    ({"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}, "set TRIPCLICK_KAFKA_ALLOW_PLAINTEXT=true to allow it"),
    ({"KAFKA_SECURITY_PROTOCOL": "sasl_plaintext"}, "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT sends records"),
    ({"TRIPCLICK_PRODUCER_IMAGE": None}, "TRIPCLICK_PRODUCER_IMAGE is required"),
    # production names the producer image by digest: a tag, latest or no tag can be moved to other content
    ({"TRIPCLICK_PRODUCER_IMAGE": "tripclick-producer:0.1.0"}, "TRIPCLICK_PRODUCER_IMAGE must name the image by digest"),
    ({"TRIPCLICK_PRODUCER_IMAGE": "tripclick-producer:latest"}, "TRIPCLICK_PRODUCER_IMAGE must name the image by digest"),
    ({"TRIPCLICK_PRODUCER_IMAGE": "tripclick-producer"}, "TRIPCLICK_PRODUCER_IMAGE must name the image by digest"),
    ({"TRIPCLICK_PRODUCER_IMAGE": "tripclick-producer@sha256:abc"}, "TRIPCLICK_PRODUCER_IMAGE must name the image by digest"),
    ({"TRIPCLICK_PRODUCER_IMAGE": "tripclick-producer@sha256:" + "0" * 64}, "TRIPCLICK_PRODUCER_IMAGE still holds the placeholder"),
])
def test_bad_prod_settings_name_the_variable(prod_env, change, message):
    for name, value in change.items():
        if value is None:
            prod_env.delenv(name)
        else:
            prod_env.setenv(name, value)
    with pytest.raises(settings.SettingsError) as error:
        settings.prod_settings()
    assert message in str(error.value)


def test_tls_from_variables_per_server_and_plain_tcp_only_when_listed(prod_env):
    prod_env.delenv("TRIPCLICK_DOCKER_TLS_DIR")
    for suffix in ("CA", "CERT", "KEY"):
        prod_env.setenv(f"TRIPCLICK_DOCKER_TLS_{suffix}", f"/shared/{suffix}")
    prod_env.setenv("TRIPCLICK_DOCKER_TLS_KEY_SERVER1", "-----BEGIN PRIVATE KEY-----...")
    prod_env.setenv("TRIPCLICK_PRODUCER_SERVERS", "server0=tcp://h0:2376,server1=tcp://h1:2376,lab=tcp://h2:2375")
    prod_env.setenv("TRIPCLICK_DOCKER_INSECURE", "lab")
    servers = {s["name"]: s for s in settings.producer_servers()}
    assert servers["server0"]["tls_key"] == settings.Secret("TRIPCLICK_DOCKER_TLS_KEY")
    assert servers["server1"]["tls_key"] == settings.Secret("TRIPCLICK_DOCKER_TLS_KEY_SERVER1")
    assert servers["lab"]["insecure"] and isinstance(servers["lab"]["tls_ca"], settings.Secret)
    assert servers["lab"]["tls_ca"] == "TRIPCLICK_DOCKER_TLS_CA"


def test_kafka_is_sasl_ssl_by_default_and_plaintext_only_when_allowed(prod_env):
    assert settings.kafka()["security_protocol"] == "SASL_SSL"
    prod_env.setenv("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    prod_env.setenv("TRIPCLICK_KAFKA_ALLOW_PLAINTEXT", "true")
    assert settings.kafka()["security_protocol"] == "PLAINTEXT"


def test_postgres_is_verify_full_by_default(prod_env):
    from tripclick_assets.defs.resources import prod_resources

    prod_env.setenv("TRIPCLICK_POSTGRES_SSLROOTCERT", "/etc/tripclick/gold/ca.pem")
    postgres = prod_resources()["postgres"]
    assert (postgres.sslmode, postgres.sslrootcert) == ("verify-full", "/etc/tripclick/gold/ca.pem")
    with postgres.process_config_and_initialize_cm() as resolved:  # as a run resolves the EnvVar
        assert resolved.url == ("postgresql://gold:secret@10.0.2.30:5432/tripclick_gold"
                                "?sslmode=verify-full&sslrootcert=/etc/tripclick/gold/ca.pem")
    prod_env.setenv("TRIPCLICK_POSTGRES_SSLMODE", "sometimes")
    with pytest.raises(Exception, match="TRIPCLICK_POSTGRES_SSLMODE"):
        prod_resources()


def test_the_code_locations_resources_take_no_run_config(prod_env):
    """Every resource of the loaded definitions has an empty config schema (the launchpad cannot change them)."""
    for key, definition in load_defs().resources.items():
        assert isinstance(definition, dg.ResourceDefinition), key
        fields = definition.config_schema.as_field().config_type.fields
        assert fields == {}, (key, sorted(fields))


def test_prod_resources_keep_secrets_as_env_vars(prod_env):
    from tripclick_assets.defs.resources import prod_resources

    prod_env.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    prod_env.setenv("KAFKA_SASL_PASSWORD", "kafka-secret")
    resources = prod_resources()
    producers, spark = resources["producers"], resources["spark"]
    assert isinstance(producers, DockerProducersResource) and isinstance(spark, SSHSparkResource)
    assert isinstance(spark.private_key, dg.EnvVar) and spark.private_key == "TRIPCLICK_SPARK_SSH_KEY"
    assert isinstance(resources["postgres"].url, dg.EnvVar)
    assert isinstance(resources["kafka"].sasl_password, dg.EnvVar)
    assert resources["kafka"].security_protocol == "SASL_SSL"
    assert resources["lake"].root == "s3a://tripclick-lake"
    assert not producers.synthetic.enabled  # real web servers hold the logs


def test_a_docker_server_needs_tls_or_the_explicit_insecure_flag():
    with pytest.raises(Exception, match="needs tls_ca, tls_cert and tls_key"):
        DockerServer(name="server0", base_url="tcp://h:2375")
    with pytest.raises(Exception, match="set all of tls_ca, tls_cert and tls_key"):
        DockerServer(name="server0", base_url="tcp://h:2376", tls_ca="/ca.pem", tls_cert="/cert.pem")
    assert DockerServer(name="server0", base_url="tcp://h:2375", insecure=True).insecure
    assert not DockerServer(name="local", base_url="unix:///var/run/docker.sock").uses_tls


def test_the_container_gets_the_producer_arguments_and_the_synthetic_options():
    from datetime import date

    from tripclick_assets.resources.kafka import KafkaResource
    from tripclick_assets.resources.producers import SyntheticSource

    producers = DockerProducersResource(
        servers=[DockerServer(name=n, base_url="unix:///x") for n in ("server0", "server1")],
        synthetic=SyntheticSource(volume=10, seed=3), tag="0.1.0",
    )
    args = producers.producer_args([date(2016, 1, 1)], 1, KafkaResource(bootstrap_servers="k:9092"), "batch", 24.0)
    assert args[:2] == ["--event-date", "2016-01-01"]
    assert args[args.index("--server-name") + 1] == "server1" and args[args.index("--server-count") + 1] == "2"
    assert args[args.index("--source") + 1] == "/data/logs"
    assert "--synthetic" in args and args[args.index("--volume") + 1] == "10" and args[args.index("--seed") + 1] == "3"


def test_a_submit_template_is_checked_for_its_placeholders():
    base = {"host": "h", "user": "u", "private_key": "/k"}
    with pytest.raises(Exception, match="unknown placeholder"):
        SSHSparkResource(**base, command_template="spark-submit {job_script} --params-file {params_file} {oops}")
    with pytest.raises(Exception, match="must contain {job_script} and {params_file}"):
        SSHSparkResource(**base, command_template="spark-submit {job_script}")


def test_the_submit_command_checks_the_code_version_then_execs_the_template():
    spark = SSHSparkResource(host="h", user="u", private_key="/k", remote_dir="/opt/tripclick",
                             submit_dir="/mnt/tripclick", env={"PYSPARK_PYTHON": "/usr/bin/python3"},
                             command_template=settings.DEFAULT_SPARK_SUBMIT)
    bundle = code_bundle()
    command = spark.submit_command(bundle, "silver", "/opt/tripclick/runs/silver-1.json", {"DAGSTER_PIPES_CONTEXT": "x y"})
    assert "export DAGSTER_PIPES_CONTEXT='x y';" in command and "export PYSPARK_PYTHON=/usr/bin/python3;" in command
    assert f"/opt/tripclick/code/{bundle.version}/tripclick_assets.zip" in command  # checked on the host...
    inner = shlex.split(command.rsplit("exec sh -c ", 1)[1])[0]  # ...submitted from the container's mount
    assert inner.startswith("docker exec -e PYSPARK_PYTHON -e DAGSTER_PIPES_CONTEXT spark-master spark-submit")
    assert f"/mnt/tripclick/code/{bundle.version}/jobs/silver.py --params-file /mnt/tripclick/runs/silver-1.json" in inner


def test_the_shipped_code_is_reproducible_and_holds_the_package_and_the_jobs():
    first = code_bundle()
    code_bundle.cache_clear()
    second = code_bundle()
    assert first == second and len(first.version) == 16
    names = zipfile.ZipFile(io.BytesIO(first.files["tripclick_assets.zip"])).namelist()
    assert "tripclick_assets/spark_jobs/_job.py" in names and "tripclick_assets/lib/lake/store.py" in names
    assert sorted(p for p in first.files if p.startswith("jobs/")) == ["jobs/bronze.py", "jobs/marts.py", "jobs/silver.py"]


def test_kafka_secrets_reach_the_container_as_files_not_environment(tmp_path):
    import tarfile

    from tripclick_assets.lib.kafka.security import kafka_security_from_env

    producers = DockerProducersResource(servers=[DockerServer(name="server0", base_url="unix:///x")], tag="0.1.0")
    env, archive = producers.secret_files({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "tripclick",
                                           "KAFKA_SASL_PASSWORD": "S3CR3T-pw"})
    assert env == {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "tripclick",
                   "KAFKA_SASL_PASSWORD_FILE": "/run/tripclick-secrets/kafka_sasl_password"}
    assert "S3CR3T-pw" not in str(env)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        secret = members["run/tripclick-secrets/kafka_sasl_password"]
        assert (secret.mode, secret.uid) == (0o400, 10001) and members["run/tripclick-secrets"].mode == 0o500
        (tmp_path / "pw").write_bytes(tar.extractfile(secret).read())
    # what the producer in the container does with NAME_FILE
    config = kafka_security_from_env({**env, "KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "pw")})
    assert config["sasl.password"] == "S3CR3T-pw" and config["sasl.username"] == "tripclick"


@pytest.mark.parametrize("reference, image", [
    ("registry.example.internal/tripclick-producer@sha256:" + "ab" * 32, "registry.example.internal/tripclick-producer"),
    ("registry.example.internal:5000/team/tripclick-producer:0.1.0@sha256:" + "ab" * 32,
     "registry.example.internal:5000/team/tripclick-producer"),  # a tag beside the digest: the digest decides
    ("tripclick-producer@sha256:" + "ab" * 32, "tripclick-producer"),
])
def test_prod_names_the_producer_image_by_digest(prod_env, reference, image):
    prod_env.setenv("TRIPCLICK_PRODUCER_IMAGE", reference)
    producers = settings.prod_settings()["producers"]
    assert (producers["image"], producers["tag"]) == (image, "sha256:" + "ab" * 32)
    assert DockerProducersResource(**producers).image_ref == f"{image}@sha256:{'ab' * 32}"


def test_the_producer_image_is_pinned_and_a_digest_is_referenced_by_content():
    server = [DockerServer(name="server0", base_url="unix:///x")]
    digest = "sha256:" + "ab" * 32
    assert DockerProducersResource(servers=server, tag=digest).image_ref == f"tripclick-producer@{digest}"
    assert DockerProducersResource(servers=server, tag="0.1.0").image_ref == "tripclick-producer:0.1.0"
    with pytest.raises(Exception, match="TRIPCLICK_PRODUCER_IMAGE"):
        DockerProducersResource(servers=server, tag="sha256:short")
