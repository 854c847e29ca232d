"""Fixtures of the deploy/ tests: a fresh database (and role names) on the session's test PostgreSQL."""

import uuid

import psycopg
import pytest
from psycopg import sql

from tripclick_assets_tests.deploy.support import pg_url


@pytest.fixture
def fresh_database(postgres):
    """A new database on the test server; dropped afterwards with the roles the initdb scripts create."""
    suffix = uuid.uuid4().hex[:10]
    names = {"db": f"gold_{suffix}", "superset_db": f"superset_{suffix}",
             "superset_user": f"superset_{suffix}", "ro_user": f"ro_{suffix}",
             "superset_password": uuid.uuid4().hex, "ro_password": uuid.uuid4().hex,
             "loader_user": f"loader_{suffix}", "loader_password": uuid.uuid4().hex}
    admin = pg_url(postgres, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(names["db"])))
    yield names
    with psycopg.connect(admin, autocommit=True) as conn:
        for db in (names["db"], names["superset_db"]):
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))
        for role in (names["superset_user"], names["ro_user"], names["loader_user"]):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
