"""The production definitions load with the settings the deploy bundle gives the code location.

A subprocess imports tripclick_assets.definitions with TRIPCLICK_ENV=prod and exactly the
environment deploy/dagster/compose.yaml gives dagster-code, resolved from .env.example with a
dummy value for every empty setting (secrets), plus the remaining .env.example variables.
Nothing is contacted: resources are only built and validated.
"""

import json
import os
import subprocess
import sys

from tripclick_assets_tests.deploy.support import DEPLOY, REPO, dummy_env, load_compose, service_environment

PROBE = """
import json
import tripclick_assets.definitions as d
from tripclick_assets import settings
from tripclick_assets.defs.resources import RESOURCES
loaded = d.defs().resources or {}
built = RESOURCES[settings.environment()]()
print(json.dumps({"env": settings.environment(),
                  "resources": {k: type(v).__name__ for k, v in sorted(built.items())},
                  "config_fields": {k: sorted(v.config_schema.as_field().config_type.fields) for k, v in loaded.items()}}))
"""


def code_location_env() -> dict[str, str]:
    example = dummy_env()
    config, _ = load_compose(DEPLOY / "dagster" / "compose.yaml", example)
    env = {**example, **service_environment(config["services"]["dagster-code"])}
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    return {**base, **env}


def test_prod_definitions_load_with_the_bundle_settings(tmp_path):
    env = code_location_env()
    assert env["TRIPCLICK_ENV"] == "prod"
    env["DAGSTER_HOME"] = str(tmp_path)  # the compose value is the image's path
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, f"prod definitions failed to load:\n{result.stderr[-4000:]}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["env"] == "prod"
    assert {"kafka", "producers", "spark", "lake", "postgres", "alerts"} <= set(report["resources"]), report
    assert report["resources"]["producers"] == "DockerProducersResource"
    assert report["resources"]["spark"] == "SSHSparkResource"
    assert set(report["config_fields"]) == set(report["resources"])
    assert all(fields == [] for fields in report["config_fields"].values()), report["config_fields"]  # no run config


def probe_json(code: str, env: dict[str, str]) -> dict:
    """Run ``code`` in a fresh interpreter with ``env`` and return the JSON of its last stdout line."""
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_prod_settings_match_the_bundle():
    """The values the settings derive from the bundle's environment point at the deploy/ topology."""
    code = (
        "import json; from tripclick_assets.settings import prod_settings; s = prod_settings(); "
        "tls = ('tls_ca', 'tls_cert', 'tls_key'); "
        "print(json.dumps({'servers': [[p['name'], p['base_url'], {f: p[f] for f in tls}] for p in s['producers']['servers']], "
        "'protocol': s['kafka']['security_protocol'], 'ca': s['kafka']['ssl_ca_location'], 'lake': s['lake']['root'], "
        "'known_hosts': s['spark']['known_hosts'], 'remote': s['spark']['remote_dir'], "
        "'submit': s['spark']['command_template'], 'password_var': s['kafka']['sasl_password']}))"
    )
    s = probe_json(code, code_location_env())
    assert [name for name, _, _ in s["servers"]] == ["server0", "server1"]
    for _, url, tls in s["servers"]:
        assert url.startswith("tcp://") and url.endswith(":2376")
        assert tls == {"tls_ca": "/etc/tripclick/docker-tls/ca.pem", "tls_cert": "/etc/tripclick/docker-tls/cert.pem",
                       "tls_key": "/etc/tripclick/docker-tls/key.pem"}  # what make-docker-certs.sh writes in client/
    assert s["protocol"] == "SASL_SSL" and s["ca"] == "/etc/tripclick/kafka/ca.pem"
    assert s["password_var"] == "KAFKA_SASL_PASSWORD"
    assert s["lake"] == "s3a://tripclick-lake"
    assert s["known_hosts"].startswith("/etc/tripclick/ssh/")
    assert "docker exec" in s["submit"] and "spark-master" in s["submit"]


def test_kafka_client_certificates_reach_the_kafka_resource():
    """Mutual TLS: certificate and key paths as plain values, the key's passphrase as an EnvVar."""
    env = {**code_location_env(), "KAFKA_SECURITY_PROTOCOL": "SSL",
           "KAFKA_SSL_CERTIFICATE_LOCATION": "/etc/tripclick/kafka/client.pem",
           "KAFKA_SSL_KEY_LOCATION": "/etc/tripclick/kafka/client.key", "KAFKA_SSL_KEY_PASSWORD": "s3cret"}
    code = (
        "import json; from tripclick_assets.defs.resources import prod_resources; k = prod_resources()['kafka']; "
        "print(json.dumps({'cert': k.ssl_certificate_location, 'key': k.ssl_key_location, "
        "'password': repr(k.ssl_key_password), 'protocol': k.security_protocol}))"
    )
    k = probe_json(code, env)
    assert (k["cert"], k["key"], k["protocol"]) == ("/etc/tripclick/kafka/client.pem", "/etc/tripclick/kafka/client.key",
                                                     "SSL")
    assert "KAFKA_SSL_KEY_PASSWORD" in k["password"] and "s3cret" not in k["password"]
