"""The compose files of deploy/ and deploy/.env.example agree, and every stack is wired as the runbook says.

No docker binary is needed: the files are parsed as YAML and interpolated the way Compose does
(tripclick_assets_tests/deploy/support.py).
"""

import re
from pathlib import Path

import pytest
import yaml

from tripclick_assets_tests.deploy.support import (
    COMPOSE_FILES,
    DEPLOY,
    ENV_EXAMPLE,
    REPO,
    SECRET_NAME,
    InterpolationError,
    dummy_env,
    load_compose,
    parse_env_file,
    service_environment,
)

STACKS = {"dagster", "gold", "kafka", "spark"}
# Read by the project's settings but not production settings (local runs, local PySpark).
LOCAL_ONLY = {
    "TRIPCLICK_HOME", "TRIPCLICK_HOST", "TRIPCLICK_ALLOW_NON_LOOPBACK", "TRIPCLICK_KAFKA_PORT", "TRIPCLICK_POSTGRES_PORT",
    "TRIPCLICK_SPARK_MASTER", "TRIPCLICK_SPARK_WORKER_PYTHON", "TRIPCLICK_SAMPLE_START",
    "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON", "SPARK_LOCAL_IP",
}


def compose_id(path: Path) -> str:
    return path.parent.name


@pytest.fixture(scope="module")
def example() -> dict[str, str]:
    return parse_env_file(ENV_EXAMPLE)


def test_every_stack_has_a_compose_file():
    assert {compose_id(p) for p in COMPOSE_FILES} >= STACKS


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=compose_id)
def test_compose_file_is_yaml_with_services(path):
    config, _ = load_compose(path, dummy_env())
    assert isinstance(config, dict), f"{path} is not a YAML mapping"
    assert config.get("name", "").startswith("tripclick-"), f"{path}: set a project name"
    services = config.get("services")
    assert isinstance(services, dict) and services, f"{path} has no services mapping"
    for name, service in services.items():
        assert isinstance(service, dict), f"{path}: service {name} is not a mapping"
        assert "image" in service or "build" in service, f"{path}: service {name} has neither image nor build"
        for key in ("depends_on",):
            for dependency in service.get(key) or {}:
                assert dependency in services, f"{path}: {name} depends on unknown service {dependency}"
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith(("/", ".", "$")):
                assert source in (config.get("volumes") or {}), f"{path}: {name} uses undeclared volume {source}"
        for network in service.get("networks") or []:
            assert network in (config.get("networks") or {}), f"{path}: {name} uses undeclared network {network}"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=compose_id)
def test_compose_variables_are_in_env_example(path, example):
    _, refs = load_compose(path, dummy_env(example))
    missing = sorted({r.name for r in refs if not r.has_default and r.name not in example})
    assert not missing, f"{path} references {missing} without a default; add them to {ENV_EXAMPLE}"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=compose_id)
def test_compose_interpolates_with_the_example_settings(path, example):
    """Filled-in .env.example satisfies every ${VAR:?...}; the empty template names what is missing."""
    _, refs = load_compose(path, dummy_env(example))
    required = {r.name for r in refs if r.required}
    empty_secrets = {k for k, v in example.items() if not v}
    if required & empty_secrets:
        with pytest.raises(InterpolationError):
            load_compose(path, example)


def test_env_example_lists_only_used_variables(example):
    used = set()
    for path in COMPOSE_FILES:
        used |= {r.name for r in load_compose(path, dummy_env(example))[1]}
    used |= project_prod_variables()
    unused = sorted(set(example) - used)
    assert not unused, f"{ENV_EXAMPLE} lists variables nothing reads: {unused}"


def test_env_example_holds_no_secret(example):
    for key, value in example.items():
        if SECRET_NAME.search(key):
            assert value == "", f"{ENV_EXAMPLE}: {key} must stay empty (secrets never live in files)"
        assert "@" not in value or "://" not in value, f"{ENV_EXAMPLE}: {key} looks like a URL with credentials"


def test_no_secret_is_written_in_a_compose_file():
    """Every secret-looking environment value is an interpolation, never a literal."""
    for path in COMPOSE_FILES:
        text = path.read_text()
        raw = yaml.safe_load(text)
        for name, service in raw["services"].items():
            for key in service.get("environment") or {}:
                if SECRET_NAME.search(key) and "JAAS" not in key:
                    line = next(ln for ln in text.splitlines() if ln.strip().startswith(f"{key}:"))
                    assert "${" in line, f"{path}: {name}.{key} must come from the environment"
        assert not re.search(r"postgres(ql)?(\+\w+)?://[^$\s:]+:[^$\s@{]+@", text), f"{path}: a URL with a literal password"


# --- the project's production settings --------------------------------------------------

def project_prod_variables() -> set[str]:
    """Variable names the project reads (string literals in settings.py and the resources)."""
    sources = [REPO / "tripclick_assets" / "settings.py", REPO / "tripclick_assets" / "lib" / "kafka" / "security.py",
               *sorted((REPO / "tripclick_assets" / "resources").glob("*.py"))]
    names = set()
    for source in sources:
        names |= set(re.findall(r"[\"']((?:TRIPCLICK|KAFKA|AWS|DAGSTER)_[A-Z0-9_]+)[\"']", source.read_text()))
    return names - LOCAL_ONLY


def test_project_prod_variables_are_all_provided(example):
    """Every variable the production settings read is in .env.example or set by the code location's compose."""
    config, _ = load_compose(DEPLOY / "dagster" / "compose.yaml", dummy_env(example))
    code_env = service_environment(config["services"]["dagster-code"])
    missing = sorted(name for name in project_prod_variables() if name not in example and name not in code_env)
    assert not missing, f"production settings read {missing}: list them in {ENV_EXAMPLE}"


def test_code_location_gets_every_prod_setting(example):
    """dagster-code forwards every production setting in .env.example (runs launch in it)."""
    config, _ = load_compose(DEPLOY / "dagster" / "compose.yaml", dummy_env(example))
    code_env = service_environment(config["services"]["dagster-code"])
    wanted = {n for n in project_prod_variables() if n in example} - {"KAFKA_SSL_CERTIFICATE_LOCATION", "KAFKA_SSL_KEY_LOCATION"}
    assert not sorted(wanted - set(code_env)), f"dagster-code does not forward {sorted(wanted - set(code_env))}"
    assert code_env["TRIPCLICK_ENV"] == "prod"
    assert code_env["TRIPCLICK_POSTGRES_URL"].startswith("postgresql://")
    assert code_env["DAGSTER_POSTGRES_URL"].startswith("postgresql+psycopg2://")


def test_only_the_code_location_sees_pipeline_secrets(example):
    config, _ = load_compose(DEPLOY / "dagster" / "compose.yaml", dummy_env(example))
    for name in ("dagster-webserver", "dagster-daemon"):
        env = service_environment(config["services"][name])
        assert set(env) == {"DAGSTER_HOME", "DAGSTER_POSTGRES_URL", "DAGSTER_MAX_CONCURRENT_RUNS"}, name
        assert "/etc/tripclick" not in str(config["services"][name].get("volumes"))


def test_keys_are_mounted_read_only(example):
    for path in COMPOSE_FILES:
        config, _ = load_compose(path, dummy_env(example))
        for name, service in config["services"].items():
            for volume in service.get("volumes") or []:
                target = volume.split(":")[1]
                if "/etc/tripclick" in target or "/etc/kafka/secrets" in target or target.startswith("/opt/tripclick"):
                    assert volume.endswith(":ro"), f"{path}: {name} mounts {volume} writable"


# --- images by digest --------------------------------------------------------------------

DIGEST_REFERENCE = re.compile(r"[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}")


def image_variables() -> dict[str, set[str]]:
    """Each compose file -> the variables its services' ``image:`` come from (each exactly one ``${VAR:?...}``)."""
    found = {}
    for path in COMPOSE_FILES:
        raw = yaml.safe_load(path.read_text())
        anchors = [v for k, v in raw.items() if k.startswith("x-") and isinstance(v, dict)]
        names = set()
        for where, service in [*raw["services"].items(), *(("anchor", a) for a in anchors)]:
            assert "build" not in service, f"{path}: {where} builds on the host; images arrive pushed and pinned by digest"
            if "image" not in service:
                continue
            match = re.fullmatch(r"\$\{(\w+):\?[^}]+\}", service["image"])
            assert match, f"{path}: {where}'s image {service['image']!r} must be one required variable (no tag default)"
            names.add(match.group(1))
        found[path.parent.name] = names
    return found


def test_images_are_referenced_by_digest(example):
    """Every image a stack runs is `${VAR:?...}` and .env.example shows VAR as name@sha256:<64 hex>."""
    variables = image_variables()
    assert variables["dagster"] == {"DAGSTER_IMAGE", "DAGSTER_POSTGRES_IMAGE"}
    assert variables["spark"] == {"SPARK_IMAGE"} and variables["kafka"] == {"KAFKA_IMAGE"}
    assert variables["gold"] == {"SUPERSET_IMAGE", "GOLD_POSTGRES_IMAGE"}
    for name in set().union(*variables.values()) | {"TRIPCLICK_PRODUCER_IMAGE"}:
        assert DIGEST_REFERENCE.fullmatch(example[name]), f"{ENV_EXAMPLE}: {name}={example[name]!r} is not name@sha256:<64 hex>"
        # a placeholder until the operator fills it in (deploy/README.md section 0), never a real-looking digest
        assert example[name].endswith("@sha256:" + "0" * 64), f"{ENV_EXAMPLE}: {name} must show the placeholder digest"
    assert not [k for k in example if k.endswith("_TAG")], "images are pinned by digest, not by tag variables"
    for path in COMPOSE_FILES:
        assert "latest" not in path.read_text(), f"{path} mentions latest"


def test_an_unfilled_image_stops_the_stack(example):
    for path in COMPOSE_FILES:
        for name in image_variables()[path.parent.name]:
            with pytest.raises(InterpolationError, match=name):
                load_compose(path, {**dummy_env(example), name: ""})


# --- stack specifics ---------------------------------------------------------------------

def test_kafka_cluster_layout(example):
    config, _ = load_compose(DEPLOY / "kafka" / "compose.yaml", dummy_env(example))
    services = config["services"]
    brokers = {n: s for n, s in services.items() if re.fullmatch(r"kafka-\d", n)}
    assert len(brokers) == 3
    envs = {n: service_environment(s) for n, s in brokers.items()}
    assert sorted(e["KAFKA_NODE_ID"] for e in envs.values()) == ["1", "2", "3"]
    ports = sorted(s["ports"][0].rsplit(":", 2)[1] for s in brokers.values())
    assert ports == ["9092", "9093", "9094"]
    for name, env in envs.items():
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka-1:29093,2@kafka-2:29093,3@kafka-3:29093"
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "2"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "2"
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        protocol_map = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        assert protocol_map["EXTERNAL"] == example["KAFKA_SECURITY_PROTOCOL"]  # one setting end to end
        assert protocol_map["INTERNAL"] == "PLAINTEXT"
        advertised = env["KAFKA_ADVERTISED_LISTENERS"]
        assert f"INTERNAL://{name}:29092" in advertised
        assert f"EXTERNAL://{example['KAFKA_ADVERTISED_HOST']}:" in advertised
        # client credentials never reach a broker (apache/kafka would write them into server.properties)
        assert not {"KAFKA_SASL_PASSWORD", "KAFKA_SASL_USERNAME", "KAFKA_SECURITY_PROTOCOL"} & set(env)
        assert "SCRAM" in env["KAFKA_SASL_ENABLED_MECHANISMS"]
    bootstrap = example["KAFKA_BOOTSTRAP_SERVERS"].split(",")
    assert bootstrap == [f"{example['KAFKA_ADVERTISED_HOST']}:{p}" for p in ("9092", "9093", "9094")]
    init = service_environment(services["kafka-init"])
    assert init["INIT_TOPICS"].split(",") == ["tripclick_raw_logs", "tripclick_raw_logs_dlq"]
    assert (init["INIT_PARTITIONS"], init["INIT_REPLICATION_FACTOR"]) == ("3", "2")
    assert all(services["kafka-init"]["depends_on"][b]["condition"] == "service_healthy" for b in brokers)


def test_kafka_protocol_switch_reaches_the_brokers(example):
    for protocol in ("PLAINTEXT", "SASL_SSL"):
        config, _ = load_compose(DEPLOY / "kafka" / "compose.yaml", {**dummy_env(example), "KAFKA_SECURITY_PROTOCOL": protocol})
        env = service_environment(config["services"]["kafka-1"])
        assert env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].endswith(f"EXTERNAL:{protocol}")
        assert service_environment(config["services"]["kafka-init"])["INIT_SECURITY_PROTOCOL"] == protocol


def test_spark_cluster_layout(example):
    config, _ = load_compose(DEPLOY / "spark" / "compose.yaml", dummy_env(example))
    services = config["services"]
    assert set(services) == {"spark-master", "spark-worker-1", "spark-worker-2"}
    master = services["spark-master"]
    assert master["container_name"] == "spark-master"  # the submit template's `docker exec spark-master`
    remote = example["TRIPCLICK_SPARK_REMOTE_DIR"]
    assert f"{remote}:{remote}:ro" in master["volumes"]  # params/code paths are the same inside
    assert master["user"].startswith(example["SPARK_MASTER_UID"])
    for worker in ("spark-worker-1", "spark-worker-2"):
        assert services[worker]["command"] == ["worker"]
        assert "spark-master" in services[worker]["depends_on"]


def test_spark_submit_template_targets_this_cluster():
    from tripclick_assets.settings import DEFAULT_SPARK_KILL, DEFAULT_SPARK_SUBMIT

    assert "spark-master" in DEFAULT_SPARK_SUBMIT and "spark://spark-master:7077" in DEFAULT_SPARK_SUBMIT
    assert "pkill" not in DEFAULT_SPARK_KILL or "procps" in (DEPLOY / "spark" / "Dockerfile").read_text()


def test_gold_stack_layout(example):
    config, _ = load_compose(DEPLOY / "gold" / "compose.yaml", dummy_env(example))
    services = config["services"]
    pg = services["gold-postgres"]
    assert pg["image"].startswith("postgres:15")
    assert "./initdb:/docker-entrypoint-initdb.d:ro" in pg["volumes"]
    env = service_environment(services["superset"])
    assert env["SUPERSET_METADATA_DB_URI"].startswith("postgresql+psycopg2://")
    loader = service_environment(services["superset-dashboards"])
    assert loader["GOLD_SUPERSET_DB_URI"] == (
        f"postgresql+psycopg2://{example['GOLD_READONLY_USER']}@gold-postgres:5432/{example['GOLD_PG_DB']}")
    assert services["superset"]["depends_on"]["superset-init"]["condition"] == "service_completed_successfully"
    initdb = sorted(p.name for p in (DEPLOY / "gold" / "initdb").iterdir())
    assert initdb == ["00_superset_db.sh", "01_marts.sql", "02_readonly_role.sh", "03_loader_role.sh"]


def test_dagster_stack_layout(example):
    config, _ = load_compose(DEPLOY / "dagster" / "compose.yaml", dummy_env(example))
    services = config["services"]
    assert {"dagster-postgres", "dagster-code", "dagster-webserver", "dagster-daemon"} <= set(services)
    workspace = (DEPLOY / "dagster" / "workspace.yaml").read_text()
    assert "host: dagster-code" in workspace and "port: 4000" in workspace
    assert "-p" in services["dagster-code"]["command"] and "4000" in services["dagster-code"]["command"]
    for name in ("dagster-code", "dagster-webserver", "dagster-daemon"):
        assert services[name]["user"].startswith(example["DAGSTER_UID"])
        assert "dagster-storage:/opt/dagster/storage" in services[name]["volumes"]


# --- the interpolation helper itself ------------------------------------------------------

def test_interpolation_follows_compose_rules():
    from tripclick_assets_tests.deploy.support import interpolate

    env = {"A": "a", "EMPTY": ""}
    refs = []
    assert interpolate("$$A ${A} $A ${B:-x} ${EMPTY:-d} ${EMPTY-d} ${B:-${A}}", env, refs) == "$A a a x d  a"
    assert [r.name for r in refs] == ["A", "A", "B", "EMPTY", "EMPTY", "B", "A"]
    assert interpolate("${A:+set}${B:+set}", env) == "set"
    with pytest.raises(InterpolationError, match="B: say why"):
        interpolate("${B:?say why}", env)
    with pytest.raises(InterpolationError):
        interpolate("${EMPTY:?}", env)
    assert interpolate("${EMPTY?}", env) == ""
    with pytest.raises(InterpolationError):
        interpolate("${A", env)
