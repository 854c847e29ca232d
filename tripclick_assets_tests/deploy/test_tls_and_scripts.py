"""deploy/tls scripts make verifiable chains; the Docker daemon config is TLS-only; kafka-init does what it says."""

import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from tripclick_assets_tests.deploy.support import DEPLOY

TLS = DEPLOY / "tls"
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


def openssl(*args: str) -> str:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def sans(cert: Path) -> str:
    return openssl("x509", "-in", str(cert), "-noout", "-ext", "subjectAltName")


@pytest.fixture(scope="module")
def docker_certs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docker-tls")
    result = subprocess.run(
        [str(TLS / "make-docker-certs.sh"), str(out), "server0=127.0.0.1,web0.example.internal", "server1=10.0.1.12"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return out


def test_docker_chain_verifies(docker_certs):
    ca = str(docker_certs / "ca" / "ca.pem")
    for server in ("server0", "server1"):
        cert = docker_certs / server / "server-cert.pem"
        assert "OK" in openssl("verify", "-CAfile", ca, "-purpose", "sslserver", str(cert))
        assert (docker_certs / server / "ca.pem").read_text() == (docker_certs / "ca" / "ca.pem").read_text()
        bad = subprocess.run(["openssl", "verify", "-CAfile", ca, "-purpose", "sslclient", str(cert)], capture_output=True)
        assert bad.returncode != 0, "a server certificate must not authenticate a client"
    assert "OK" in openssl("verify", "-CAfile", ca, "-purpose", "sslclient", str(docker_certs / "client" / "cert.pem"))
    assert {p.name for p in (docker_certs / "client").iterdir()} == {"ca.pem", "cert.pem", "key.pem"}  # DOCKER_CERT_PATH


def test_docker_server_certs_carry_the_sans(docker_certs):
    text = sans(docker_certs / "server0" / "server-cert.pem")
    assert "DNS:server0" in text and "IP Address:127.0.0.1" in text and "DNS:web0.example.internal" in text
    text = sans(docker_certs / "server1" / "server-cert.pem")
    assert "IP Address:10.0.1.12" in text and "127.0.0.1" not in text


def test_private_keys_are_private(docker_certs):
    for key in [*docker_certs.rglob("*key*.pem")]:
        mode = stat.S_IMODE(key.stat().st_mode)
        assert mode & 0o077 == 0, f"{key} is readable by others ({oct(mode)})"


def test_mutual_tls_handshake(docker_certs):
    """A TLS server with server0's certificate accepts the client certificate and rejects no-certificate clients."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(docker_certs / "server0" / "ca.pem"))
    server_ctx.load_cert_chain(docker_certs / "server0" / "server-cert.pem", docker_certs / "server0" / "server-key.pem")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen = []

    def serve(count):
        for _ in range(count):
            conn, _ = listener.accept()
            try:
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    seen.append(tls.getpeercert()["subject"])
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError):
                seen.append(None)

    thread = threading.Thread(target=serve, args=(2,), daemon=True)
    thread.start()
    client_dir = docker_certs / "client"
    ctx = ssl.create_default_context(cafile=str(client_dir / "ca.pem"))
    ctx.load_cert_chain(client_dir / "cert.pem", client_dir / "key.pem")
    with socket.create_connection(("127.0.0.1", port)) as raw, ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        assert tls.recv(2) == b"ok"
    anonymous = ssl.create_default_context(cafile=str(client_dir / "ca.pem"))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        with socket.create_connection(("127.0.0.1", port)) as raw, anonymous.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.recv(2)
    thread.join(10)
    listener.close()
    assert seen[0] and ("commonName", "tripclick-dagster") in [pair for rdn in seen[0] for pair in rdn]


def test_rerun_keeps_the_ca_and_reissues_leaves(docker_certs, tmp_path):
    before_ca = (docker_certs / "ca" / "ca.pem").read_bytes()
    before_leaf = (docker_certs / "client" / "cert.pem").read_bytes()
    result = subprocess.run([str(TLS / "make-docker-certs.sh"), str(docker_certs), "server0=127.0.0.1"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (docker_certs / "ca" / "ca.pem").read_bytes() == before_ca
    assert (docker_certs / "client" / "cert.pem").read_bytes() != before_leaf
    bad = subprocess.run([str(TLS / "make-docker-certs.sh"), str(tmp_path), "noequals"], capture_output=True)
    assert bad.returncode != 0


def test_kafka_keystore_is_a_pem_chain(tmp_path):
    result = subprocess.run([str(TLS / "make-kafka-certs.sh"), str(tmp_path), "10.0.2.10,kafka.example.internal"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    keystore = (tmp_path / "broker" / "broker.pem").read_text()
    assert keystore.startswith("-----BEGIN PRIVATE KEY-----")  # unencrypted PKCS#8 first: ssl.keystore.type=PEM
    assert keystore.count("-----BEGIN CERTIFICATE-----") == 2
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(keystore[keystore.index("-----BEGIN CERTIFICATE-----"):])
    assert "OK" in openssl("verify", "-CAfile", str(tmp_path / "client" / "ca.pem"), "-purpose", "sslserver", str(leaf))
    text = sans(leaf)
    assert "IP Address:10.0.2.10" in text and "DNS:kafka.example.internal" in text and "DNS:kafka-1" in text
    assert not (tmp_path / "broker" / "broker-key.pem").exists()


def test_docker_daemon_config_is_tls_only():
    config = json.loads((TLS / "daemon.json.example").read_text())
    assert config["tlsverify"] is True and config["tls"] is True
    tcp = [h for h in config["hosts"] if h.startswith("tcp://")]
    assert tcp and all(h.endswith(":2376") for h in tcp), "the API listens on 2376 with TLS only (never 2375)"
    for key in ("tlscacert", "tlscert", "tlskey"):
        assert config[key].startswith("/etc/docker/tls/")
    assert "ExecStart=" in (TLS / "docker-override.conf.example").read_text()


# --- kafka-init against stub Kafka tools ------------------------------------------------

STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "$STUB_LOG"
while [ $# -gt 0 ]; do
  if [ "$1" = --add-config-file ]; then echo "file $(stat -c %a "$2"): $(cat "$2")" >> "$STUB_LOG"; fi
  shift
done
case "$*" in *--describe*) echo "Topic: t	TopicId: x	PartitionCount: ${STUB_PARTITIONS:-3}	ReplicationFactor: 2	Configs: ";; esac
"""


def run_init(tmp_path: Path, **env) -> tuple[subprocess.CompletedProcess, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("kafka-topics.sh", "kafka-configs.sh"):
        (bin_dir / tool).write_text(STUB)
        (bin_dir / tool).chmod(0o755)
    log = tmp_path / "calls.log"
    log.write_text("")
    base = {"PATH": os.environ["PATH"], "KAFKA_BIN": str(bin_dir), "STUB_LOG": str(log),
            "INIT_BOOTSTRAP_SERVERS": "kafka-1:29092", "INIT_TOPICS": "tripclick_raw_logs,tripclick_raw_logs_dlq",
            "INIT_PARTITIONS": "3", "INIT_REPLICATION_FACTOR": "2"}
    result = subprocess.run(["sh", str(DEPLOY / "kafka" / "init-kafka.sh")], env={**base, **env},
                            capture_output=True, text=True, timeout=30)
    return result, log.read_text().splitlines()


def test_kafka_init_creates_both_topics(tmp_path):
    result, calls = run_init(tmp_path, INIT_SECURITY_PROTOCOL="PLAINTEXT")
    assert result.returncode == 0, result.stdout + result.stderr
    creates = [c for c in calls if "--create" in c]
    assert len(creates) == 2
    for topic, call in zip(("tripclick_raw_logs", "tripclick_raw_logs_dlq"), creates):
        assert f"--topic {topic}" in call and "--partitions 3" in call and "--replication-factor 2" in call
        assert "--if-not-exists" in call
    assert not any("--entity-type users" in c for c in calls)


def test_kafka_init_creates_the_scram_user_with_sasl(tmp_path):
    result, calls = run_init(tmp_path, INIT_SECURITY_PROTOCOL="SASL_SSL", INIT_SASL_MECHANISM="SCRAM-SHA-512",
                             INIT_SASL_USERNAME="tripclick", INIT_SASL_PASSWORD="0123abcd")
    assert result.returncode == 0, result.stdout + result.stderr
    users = [c for c in calls if "--entity-type users" in c]
    assert users and "--entity-name tripclick" in users[0] and "--add-config-file" in users[0]
    assert "0123abcd" not in users[0]  # the password is on no command line...
    assert "file 600: SCRAM-SHA-512=password=0123abcd" in calls  # ...but in a private file the tool reads
    assert "0123abcd" not in result.stdout + result.stderr  # never echoed


@pytest.mark.parametrize("env", [
    {"INIT_SECURITY_PROTOCOL": "SASL_SSL", "INIT_SASL_USERNAME": "tripclick"},                      # no password
    {"INIT_SECURITY_PROTOCOL": "SASL_SSL", "INIT_SASL_USERNAME": "u", "INIT_SASL_PASSWORD": "a,b"},  # breaks the syntax
    {"INIT_SECURITY_PROTOCOL": "SASL_SSL", "INIT_SASL_MECHANISM": "PLAIN", "INIT_SASL_USERNAME": "u",
     "INIT_SASL_PASSWORD": "p"},
])
def test_kafka_init_refuses_bad_sasl_settings(tmp_path, env):
    result, calls = run_init(tmp_path, **env)
    assert result.returncode == 2 and not calls


def test_kafka_init_reports_a_partition_mismatch(tmp_path):
    result, _ = run_init(tmp_path, INIT_SECURITY_PROTOCOL="PLAINTEXT", STUB_PARTITIONS="6")
    assert result.returncode == 0 and "WARNING" in result.stdout
