"""The Gold link with TLS: a PostgreSQL with ``ssl=on`` and a certificate from deploy/tls/make-postgres-certs.sh.

``sslmode=verify-full`` (the production default, TRIPCLICK_POSTGRES_SSLMODE) connects with the
CA the script writes for the clients, and refuses a server signed by another CA or reached
under a name its certificate does not carry. The PostgresResource adds the mode and the CA to
the URL, so the Spark marts job (which connects with that URL) checks the server the same way.
"""

import socket
import subprocess
from pathlib import Path

import psycopg
import pytest

from tripclick_assets.resources.postgres import PostgresResource
from tripclick_assets.services import PostgresService
from tripclick_assets.services.postgres import candidate_bin_dirs, supports_ssl
from tripclick_assets_tests.deploy.support import DEPLOY

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def certs(out: Path, sans: str) -> Path:
    result = subprocess.run(["sh", str(DEPLOY / "tls" / "make-postgres-certs.sh"), str(out), sans],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def tls_postgres(tmp_path_factory):
    with_ssl = [d for d in candidate_bin_dirs() if supports_ssl(d)]
    if not with_ssl:
        pytest.skip("no PostgreSQL binaries built with OpenSSL (Debian's postgresql package has them)")
    home = tmp_path_factory.mktemp("pgtls")
    pki = certs(home / "pki", "localhost")  # the certificate names localhost only, not 127.0.0.1
    service = PostgresService(home, port=free_port(), ssl_cert=pki / "server" / "server-cert.pem",
                              ssl_key=pki / "server" / "server-key.pem", bin_dir=with_ssl[0])
    try:
        service.start()
    except Exception as exc:  # noqa: BLE001 - no PostgreSQL binaries on this machine
        pytest.skip(f"cannot start a PostgreSQL: {exc}")
    yield service, pki
    service.stop()


def url(service: PostgresService, host: str) -> str:
    return f"postgresql://{service.user}:{service.password}@{host}:{service.port}/{service.database}"


def test_verify_full_connects_with_the_scripts_ca(tls_postgres):
    service, pki = tls_postgres
    resource = PostgresResource(url=url(service, "localhost"), sslmode="verify-full",
                                sslrootcert=str(pki / "client" / "ca.pem"))
    assert "sslmode=verify-full" in resource.url and "sslrootcert=" in resource.url
    with resource.connect() as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)
        version = conn.execute("SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0]
        assert version in ("TLSv1.2", "TLSv1.3")


def test_verify_full_refuses_another_ca(tls_postgres, tmp_path):
    service, _ = tls_postgres
    other = certs(tmp_path / "other", "localhost")
    resource = PostgresResource(url=url(service, "localhost"), sslmode="verify-full",
                                sslrootcert=str(other / "client" / "ca.pem"))
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        resource.connect()


def test_verify_full_refuses_a_name_the_certificate_does_not_carry(tls_postgres):
    service, pki = tls_postgres
    resource = PostgresResource(url=url(service, "127.0.0.1"), sslmode="verify-full",
                                sslrootcert=str(pki / "client" / "ca.pem"))
    with pytest.raises(psycopg.OperationalError, match="does not match host name|server certificate for"):
        resource.connect()


def test_the_server_key_is_private_and_the_socket_is_the_owners(tls_postgres):
    service, _ = tls_postgres
    key = service.dir / "tls" / "server-key.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    sockets = list(service.run_dir.glob(".s.PGSQL.*"))
    for path in sockets:
        if not path.name.endswith(".lock"):
            assert path.stat().st_mode & 0o777 == 0o700
    with psycopg.connect(url(service, "localhost"), sslmode="verify-full",
                         sslrootcert=str(tls_postgres[1] / "client" / "ca.pem")) as conn:
        hba = conn.execute("SELECT type, auth_method FROM pg_hba_file_rules WHERE type = 'local'").fetchall()
    assert hba and all(method != "trust" for _, method in hba), hba
