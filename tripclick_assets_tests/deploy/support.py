"""Helpers for the deploy/ validation tests: .env parsing and Compose-style interpolation.

The interpolation follows the Compose specification (``$$`` escapes, ``${VAR}``, ``$VAR``,
``${VAR:-default}`` / ``${VAR-default}``, ``${VAR:?error}`` / ``${VAR?error}``,
``${VAR:+alt}`` / ``${VAR+alt}``, nested expressions in the default), so the tests can check
which variables each compose file needs and what a service's environment resolves to
without a ``docker compose`` binary.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
ENV_EXAMPLE = DEPLOY / ".env.example"
COMPOSE_FILES = sorted(DEPLOY.glob("*/compose.yaml"))
DOCKERFILES = sorted(DEPLOY.rglob("Dockerfile"))  # includes deploy/producer (parse checks only)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InterpolationError(ValueError):
    pass


@dataclass(frozen=True)
class Reference:
    name: str
    operator: str | None  # None, ":-", "-", ":?", "?", ":+", "+"

    @property
    def has_default(self) -> bool:
        return self.operator in (":-", "-", ":+", "+")

    @property
    def required(self) -> bool:
        return self.operator in (":?", "?")


def parse_env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """KEY=VALUE lines (full-line # comments, optional quotes), as docker compose reads --env-file."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        key = key.strip()
        if not sep or not _NAME.fullmatch(key):
            raise ValueError(f"{path}:{number}: not KEY=VALUE: {line!r}")
        if key in values:
            raise ValueError(f"{path}:{number}: {key} is listed twice")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def _closing_brace(text: str, start: int) -> int:
    depth = 0
    i = start
    while i < len(text):
        if text.startswith("$$", i):
            i += 2
            continue
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise InterpolationError(f"unclosed ${{ in {text!r}")


def interpolate(text: str, env: dict[str, str], refs: list[Reference] | None = None) -> str:
    """``text`` with every variable substituted from ``env`` (missing = unset); records references."""
    out = []
    i = 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            body = text[i + 2:end]
            match = _NAME.match(body)
            if not match:
                raise InterpolationError(f"invalid variable reference ${{{body}}}")
            name, rest = match.group(0), body[match.end():]
            operator = None
            argument = ""
            if rest:
                op = re.match(r":?[-?+]", rest)
                if not op:
                    raise InterpolationError(f"invalid variable reference ${{{body}}}")
                operator, argument = op.group(0), rest[op.end():]
            if refs is not None:
                refs.append(Reference(name, operator))
            value = env.get(name)
            is_set, non_empty = value is not None, bool(value)
            available = non_empty if (operator or "").startswith(":") else is_set
            if operator in (":-", "-"):
                out.append(value if available else interpolate(argument, env, refs))
            elif operator in (":?", "?"):
                if not available:
                    raise InterpolationError(f"{name}: {argument or 'required'}")
                out.append(value)
            elif operator in (":+", "+"):
                out.append(interpolate(argument, env, refs) if available else "")
            else:
                out.append(value or "")
            i = end + 1
        elif text[i] == "$" and i + 1 < len(text) and _NAME.match(text, i + 1):
            name = _NAME.match(text, i + 1).group(0)
            if refs is not None:
                refs.append(Reference(name, None))
            out.append(env.get(name) or "")
            i += 1 + len(name)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _walk(node, env: dict[str, str], refs: list[Reference]):
    if isinstance(node, str):
        return interpolate(node, env, refs)
    if isinstance(node, list):
        return [_walk(item, env, refs) for item in node]
    if isinstance(node, dict):
        return {key: _walk(value, env, refs) for key, value in node.items()}
    return node


def load_compose(path: Path, env: dict[str, str] | None = None) -> tuple[dict, list[Reference]]:
    """The compose file after YAML merge keys and interpolation, and every variable reference."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    refs: list[Reference] = []
    return _walk(raw, env or {}, refs), refs


def service_environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


SECRET_NAME = re.compile(r"(PASSWORD|SECRET(?!S_DIR)|TOKEN|WEBHOOK|PRIVATE)", re.I)
# Empty in .env.example because each site generates its own, but required.
GENERATED = {"KAFKA_CLUSTER_ID"}


# The digest .env.example shows for every image: a placeholder the operator replaces (settings refuse it).
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
DUMMY_DIGEST = "sha256:" + "d" * 64


def dummy_env(example: dict[str, str] | None = None) -> dict[str, str]:
    """.env.example as an operator fills it: every empty secret (and generated id) gets a URL-safe
    dummy, every placeholder image digest a dummy digest; other empty settings are optional and stay empty."""
    example = parse_env_file() if example is None else example
    return {
        key: value.replace(PLACEHOLDER_DIGEST, DUMMY_DIGEST)
        or (f"dummy-{key.lower().replace('_', '-')}" if SECRET_NAME.search(key) or key in GENERATED else "")
        for key, value in example.items()
    }


def dockerfile_instructions(path: Path) -> list[tuple[int, str, str]]:
    """(line, INSTRUCTION, arguments) with continuations joined and comments dropped."""
    result = []
    pending: list[str] = []
    start = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continuation are ignored by the builder
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        joined = " ".join(part.strip() for part in pending if part.strip())
        pending = []
        instruction, _, arguments = joined.partition(" ")
        result.append((start, instruction.upper(), arguments.strip()))
    if pending:
        raise ValueError(f"{path}: the last instruction ends with a line continuation")
    return result


# --- PostgreSQL (the session's test server) ------------------------------------------------

INITDB = DEPLOY / "gold" / "initdb"


def pg_url(postgres, database: str, user: str | None = None, password: str | None = None) -> str:
    import psycopg

    info = psycopg.conninfo.conninfo_to_dict(postgres.url)
    return psycopg.conninfo.make_conninfo(
        host=info["host"], port=info["port"], dbname=database,
        user=user or info["user"], password=password or info["password"])


def run_initdb(postgres, names: dict) -> dict:
    """Runs deploy/gold/initdb/* in order as the postgres image does (psql to the test server)."""
    import psycopg

    info = psycopg.conninfo.conninfo_to_dict(postgres.url)
    env = {
        **os.environ, "PGHOST": info["host"], "PGPORT": str(info["port"]), "PGPASSWORD": info["password"],
        "POSTGRES_USER": info["user"], "POSTGRES_DB": names["db"],
        "SUPERSET_DB_USER": names["superset_user"], "SUPERSET_DB_NAME": names["superset_db"],
        "SUPERSET_DB_PASSWORD": names["superset_password"],
        "GOLD_READONLY_USER": names["ro_user"], "GOLD_READONLY_PASSWORD": names["ro_password"],
        "GOLD_LOADER_USER": names["loader_user"], "GOLD_LOADER_PASSWORD": names["loader_password"],
    }
    steps = [
        ["bash", str(INITDB / "00_superset_db.sh")],
        ["psql", "-v", "ON_ERROR_STOP=1", "-q", "-U", info["user"], "-d", names["db"], "-f", str(INITDB / "01_marts.sql")],
        ["bash", str(INITDB / "02_readonly_role.sh")],
        ["bash", str(INITDB / "03_loader_role.sh")],
    ]
    for step in steps:
        result = subprocess.run(step, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{step}: {result.stdout}{result.stderr}"
    return env
