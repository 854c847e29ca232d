#!/usr/bin/env python3
"""Import the TripClick dashboard bundle (deploy/superset/bundle) into Superset.

The bundle is the YAML of a Superset export: the Gold database, a dataset per mart, six
charts and the "TripClick traffic" dashboard. This script zips it and posts it to the
REST API three times, each with overwrite=true: datasets, charts, then the dashboard (a
dashboard import alone never overwrites existing charts or datasets), so rerunning it
updates everything in place (same UUIDs). The database itself is created on the first
run and then kept, with its stored password. Standard library only: it runs on any host
that reaches Superset, or inside the Superset container (load_dashboards.sh).

Settings (environment; nothing secret on the command line):
  SUPERSET_URL              default http://localhost:8088
  SUPERSET_ADMIN_USERNAME   default admin
  SUPERSET_ADMIN_PASSWORD   required (except with --zip-only)
  GOLD_READONLY_PASSWORD    the marts' SELECT-only role; needed on the first import (the
                            database's stored password is kept on later imports) and with
                            --update-db-password
  GOLD_SUPERSET_DB_URI      optional: the Gold database as Superset reaches it, WITHOUT the
                            password (default from the bundle:
                            postgresql+psycopg2://superset_ro@gold-postgres:5432/tripclick_gold)

  load_dashboards.py                       import (create or update)
  load_dashboards.py --update-db-password  also store GOLD_READONLY_PASSWORD on the existing
                                           database (after rotating the role's password)
  load_dashboards.py --zip-only OUT.zip    just write the dashboard ZIP (for the UI's import or
                                           `superset import-dashboards`, which create but never
                                           update existing charts)
"""

from __future__ import annotations

import argparse
import http.cookiejar
import io
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from pathlib import Path

BUNDLE = Path(__file__).resolve().parent / "bundle"
ROOT = "tripclick_dashboards"
MASK = "XXXXXXXXXX"  # Superset's PASSWORD_MASK


class LoadError(RuntimeError):
    pass


def database_files(bundle: Path = BUNDLE) -> list[Path]:
    return sorted((bundle / "databases").glob("*.yaml"))


def _with_password(uri: str, password: str) -> str:
    """``uri`` (no password, or a masked one) with ``password`` in it, URL-quoted."""
    parts = urllib.parse.urlsplit(uri)
    if not parts.username:
        raise LoadError(f"the database URI needs a user name: {uri.split('@')[-1]}")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username}:{urllib.parse.quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _replace_uri(text: str, uri: str) -> str:
    """Swap the ``sqlalchemy_uri:`` line of a database YAML (password masked)."""
    lines = []
    for line in text.splitlines(keepends=True):
        if line.startswith("sqlalchemy_uri:"):
            line = f"sqlalchemy_uri: {_with_password(uri, MASK)}\n"
        lines.append(line)
    return "".join(lines)


# Import endpoint -> (metadata type, folders it needs), in the order they must run.
IMPORTS = {
    "dataset": ("SqlaTable", ("databases", "datasets")),
    "chart": ("Slice", ("databases", "datasets", "charts")),
    "dashboard": ("Dashboard", ("databases", "datasets", "charts", "dashboards")),
}


def build_zip(bundle: Path = BUNDLE, database_uri: str | None = None, kind: str = "dashboard") -> bytes:
    """The bundle as an export ZIP of ``kind`` (every file under one root folder, as Superset writes it)."""
    if not (bundle / "metadata.yaml").is_file():
        raise LoadError(f"{bundle} is not a Superset export bundle (no metadata.yaml)")
    model_type, folders = IMPORTS[kind]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        metadata = (bundle / "metadata.yaml").read_text(encoding="utf-8")
        metadata = "".join(
            f"type: {model_type}\n" if line.startswith("type:") else line
            for line in metadata.splitlines(keepends=True)
        )
        archive.writestr(f"{ROOT}/metadata.yaml", metadata)
        for path in sorted(p for p in bundle.rglob("*.yaml") if p.is_file()):
            relative = path.relative_to(bundle).as_posix()
            if relative.split("/", 1)[0] not in folders:
                continue
            text = path.read_text(encoding="utf-8")
            if database_uri and relative.startswith("databases/"):
                text = _replace_uri(text, database_uri)
            archive.writestr(f"{ROOT}/{relative}", text)
    return buffer.getvalue()


class Superset:
    """A logged-in REST API session (JWT + CSRF token + session cookie)."""

    def __init__(self, url: str, timeout: float = 60):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.token: str | None = None
        self.csrf: str | None = None

    def request(self, method: str, path: str, *, body: bytes | None = None, content_type: str | None = None) -> dict:
        req = urllib.request.Request(f"{self.url}{path}", data=body, method=method)
        req.add_header("Accept", "application/json")
        req.add_header("Referer", self.url)
        if content_type:
            req.add_header("Content-Type", content_type)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        if self.csrf:
            req.add_header("X-CSRFToken", self.csrf)
        try:
            with self.opener.open(req, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:2000]
            raise LoadError(f"{method} {path}: HTTP {exc.code}: {detail}") from None
        except urllib.error.URLError as exc:
            raise LoadError(f"{method} {path}: cannot reach {self.url}: {exc.reason}") from None
        return json.loads(raw) if raw else {}

    def json(self, method: str, path: str, payload: dict) -> dict:
        return self.request(method, path, body=json.dumps(payload).encode(), content_type="application/json")

    def login(self, username: str, password: str) -> None:
        answer = self.json("POST", "/api/v1/security/login",
                           {"username": username, "password": password, "provider": "db", "refresh": False})
        self.token = answer.get("access_token")
        if not self.token:
            raise LoadError("login answered without an access token")
        self.csrf = self.request("GET", "/api/v1/security/csrf_token/").get("result")

    def import_bundle(self, kind: str, archive: bytes, passwords: dict[str, str]) -> dict:
        boundary = uuid.uuid4().hex
        fields = [("overwrite", "true"), ("passwords", json.dumps(passwords))]
        chunks = []
        for name, value in fields:
            chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="formData"; filename="{ROOT}.zip"\r\n'
            "Content-Type: application/zip\r\n\r\n".encode()
        )
        chunks.append(archive)
        chunks.append(f"\r\n--{boundary}--\r\n".encode())
        return self.request("POST", f"/api/v1/{kind}/import/", body=b"".join(chunks),
                            content_type=f"multipart/form-data; boundary={boundary}")

    def database_id(self, name: str) -> int | None:
        query = urllib.parse.quote(f"(filters:!((col:database_name,opr:eq,value:'{name}')))")
        result = self.request("GET", f"/api/v1/database/?q={query}").get("result") or []
        return result[0]["id"] if result else None

    def update_database_uri(self, database_id: int, uri: str) -> None:
        self.json("PUT", f"/api/v1/database/{database_id}", {"sqlalchemy_uri": uri})

    def dashboard(self, slug: str) -> dict:
        return self.request("GET", f"/api/v1/dashboard/{slug}").get("result") or {}


def _yaml_value(path: Path, key: str) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{key}:"):
            return line.split(":", 1)[1].strip().strip("'\"")
    raise LoadError(f"{path} has no {key}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    parser.add_argument("--zip-only", type=Path, metavar="OUT.zip", help="write the ZIP and exit")
    parser.add_argument("--update-db-password", action="store_true",
                        help="store GOLD_READONLY_PASSWORD on the existing database too")
    args = parser.parse_args(argv)
    env = os.environ
    database_uri = env.get("GOLD_SUPERSET_DB_URI") or None
    try:
        if args.zip_only:
            args.zip_only.write_bytes(build_zip(args.bundle, database_uri))
            print(f"wrote {args.zip_only}")
            return 0
        admin_password = env.get("SUPERSET_ADMIN_PASSWORD")
        if not admin_password:
            raise LoadError("SUPERSET_ADMIN_PASSWORD is not set")
        db_password = env.get("GOLD_READONLY_PASSWORD") or ""
        client = Superset(env.get("SUPERSET_URL", "http://localhost:8088"))
        client.login(env.get("SUPERSET_ADMIN_USERNAME", "admin"), admin_password)
        db_files = database_files(args.bundle)
        passwords = {f"databases/{p.name}": db_password for p in db_files} if db_password else {}
        for kind in IMPORTS:
            client.import_bundle(kind, build_zip(args.bundle, database_uri, kind), passwords)
            print(f"imported the {kind}s of {args.bundle} into {client.url}")
        if args.update_db_password:
            if not db_password:
                raise LoadError("--update-db-password needs GOLD_READONLY_PASSWORD")
            for path in db_files:
                name = _yaml_value(path, "database_name")
                uri = database_uri or _yaml_value(path, "sqlalchemy_uri")
                database_id = client.database_id(name)
                if database_id is None:
                    raise LoadError(f"database {name!r} not found after the import")
                client.update_database_uri(database_id, _with_password(uri, db_password))
                print(f"updated the stored password of database {name!r}")
        for path in sorted((args.bundle / "dashboards").glob("*.yaml")):
            slug = _yaml_value(path, "slug")
            board = client.dashboard(slug)
            print(f"dashboard {board.get('dashboard_title', slug)!r}: {client.url}/superset/dashboard/{slug}/")
    except LoadError as exc:
        print(f"load_dashboards: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
