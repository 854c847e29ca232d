"""Local embedded services stay on loopback unless explicitly allowed (then with a warning)."""

import logging

import pytest

from tripclick_assets import settings


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_hosts_are_accepted(monkeypatch, host):
    monkeypatch.setenv("TRIPCLICK_HOST", host)
    assert settings.local_settings().host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.1.5", "kafka.internal", "::"])
def test_other_hosts_need_the_explicit_setting(monkeypatch, host):
    monkeypatch.setenv("TRIPCLICK_HOST", host)
    monkeypatch.delenv("TRIPCLICK_ALLOW_NON_LOOPBACK", raising=False)
    with pytest.raises(settings.SettingsError, match="TRIPCLICK_ALLOW_NON_LOOPBACK=true"):
        settings.local_settings()


def test_the_explicit_setting_binds_outside_loopback_with_a_warning(monkeypatch, caplog):
    monkeypatch.setenv("TRIPCLICK_HOST", "0.0.0.0")
    monkeypatch.setenv("TRIPCLICK_ALLOW_NON_LOOPBACK", "true")
    with caplog.at_level(logging.WARNING, logger="tripclick_assets.settings"):
        assert settings.local_settings().host == "0.0.0.0"
    assert any("outside loopback" in r.getMessage() for r in caplog.records)


def test_tls_parameters_reach_postgres_urls_only_and_never_override_the_url():
    from tripclick_assets.resources.postgres import with_ssl

    assert with_ssl("postgresql://u:p@gold:5432/db", "verify-full", "/ca.pem") == \
        "postgresql://u:p@gold:5432/db?sslmode=verify-full&sslrootcert=/ca.pem"
    assert with_ssl("postgresql://u:p@gold/db?sslmode=require", "verify-full", None) == \
        "postgresql://u:p@gold/db?sslmode=require"
    assert with_ssl("sqlite:////tmp/lake/catalog.db", "verify-full", None) == "sqlite:////tmp/lake/catalog.db"
    assert with_ssl("postgresql://u:p@gold/db", None, None) == "postgresql://u:p@gold/db"
