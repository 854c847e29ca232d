"""Superset configuration for the Gold server (mounted read-only; SUPERSET_CONFIG_PATH points here).

Every secret comes from the environment (deploy/.env through deploy/gold/compose.yaml);
nothing secret is written in this file.
"""

import os


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise RuntimeError(f"{name} is not set (see deploy/.env.example)")
    return value


# Signs sessions and encrypts the stored database passwords: generate once
# (openssl rand -base64 42) and keep it; rotating it needs `superset re-encrypt-secrets`.
SECRET_KEY = _required("SUPERSET_SECRET_KEY")

# Superset's own metadata: a database of the Gold PostgreSQL server (psycopg2 driver).
SQLALCHEMY_DATABASE_URI = _required("SUPERSET_METADATA_DB_URI")

# The marts are read-only for Superset: SQL Lab cannot write (the database in the import
# bundle has allow_dml false and the role it logs in with only has SELECT).
PREVENT_UNSAFE_DB_CONNECTIONS = True
WTF_CSRF_ENABLED = True
# Secure cookies unless told otherwise (SUPERSET_COOKIE_SECURE=false: only for a plain-HTTP test).
SESSION_COOKIE_SECURE = os.environ.get("SUPERSET_COOKIE_SECURE", "true").lower() != "false"
REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
REMEMBER_COOKIE_HTTPONLY = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Talisman (CSP) is on in production builds; the UI is served behind the operator's proxy.
TALISMAN_ENABLED = os.environ.get("SUPERSET_TALISMAN_ENABLED", "true").lower() == "true"

ROW_LIMIT = 50_000
SQL_MAX_ROW = 100_000
SUPERSET_WEBSERVER_TIMEOUT = 120

# One Gold server (2 GiB in the seeds): an in-process cache, no Redis or Celery.
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 3600}
DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 3600}
RATELIMIT_STORAGE_URI = "memory://"

FEATURE_FLAGS = {
    "DASHBOARD_NATIVE_FILTERS": True,
}
