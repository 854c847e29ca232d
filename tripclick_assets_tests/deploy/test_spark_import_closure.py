"""deploy/spark/requirements.txt holds exactly what the Spark jobs import when they run.

The closure starts at the job scripts (tripclick_assets/spark_jobs/*.py) and follows every
``import`` of the project's own modules, at module level and inside functions and tasks (what a
Python worker imports lazily counts), to the third-party distributions they reach.
"""

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "tripclick_assets"
REQUIREMENTS = REPO / "deploy" / "spark" / "requirements.txt"
# Imported only under ``if TYPE_CHECKING`` or provided by Spark itself at run time.
PROVIDED = {"pyspark", "py4j"}


def imported_names(path: Path) -> set[str]:
    """Every module name an ``import`` statement anywhere in the file names (relative ones resolved)."""
    names = set()
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}  # `from pkg import module`
    return names


def module_file(name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != "tripclick_assets":
        return None
    candidate = REPO.joinpath(*parts)
    if (candidate / "__init__.py").exists():
        return candidate / "__init__.py"
    if candidate.with_suffix(".py").exists():
        return candidate.with_suffix(".py")
    return None


def job_import_closure() -> tuple[set[Path], set[str]]:
    """(the project's modules the jobs reach, the top-level third-party modules they import)."""
    todo = sorted((PACKAGE / "spark_jobs").glob("*.py"))
    seen: set[Path] = set()
    external: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        # a package's __init__ runs before any of its modules
        for parent in path.relative_to(REPO).parents:
            init = REPO / parent / "__init__.py"
            if init.exists() and init not in seen:
                todo.append(init)
        for name in imported_names(path):
            own = module_file(name)
            if own is not None:
                todo.append(own)
            elif not name.startswith("tripclick_assets"):
                top = name.split(".")[0]
                if top and top not in sys.stdlib_module_names and top != "__future__":
                    external.add(top)
    return seen, external


def distributions(modules: set[str]) -> set[str]:
    mapping = importlib.metadata.packages_distributions()
    found = set()
    for module in modules:
        assert module in mapping, f"the Spark jobs import {module!r}, which no installed distribution provides"
        found |= {re.sub(r"[-_.]+", "-", d).lower() for d in mapping[module]}
    return found


def requirement_pins(text: str) -> dict[str, str]:
    pins = {}
    for line in filter(None, (ln.split("#")[0].strip() for ln in text.splitlines())):
        name, _, version = line.partition("==")
        pins[re.sub(r"[-_.]+", "-", re.sub(r"\[.*\]", "", name).strip()).lower()] = version.strip()
    return pins


def test_the_closure_reaches_the_lazy_imports():
    modules, external = job_import_closure()
    reached = {p.relative_to(PACKAGE).as_posix() for p in modules}
    # bronze decodes its params with msgspec (lib/spark/jobs.py) and parses inside mapInArrow tasks
    assert {"spark_jobs/bronze.py", "lib/spark/jobs.py", "lib/lake/bronze_records.py"} <= reached
    assert {"msgspec", "pyarrow", "confluent_kafka", "psycopg"} <= external
    assert "dagster" not in external, "a Spark job imports dagster, which the image does not install"


def test_spark_requirements_are_the_jobs_import_closure():
    _, external = job_import_closure()
    needed = distributions(external - PROVIDED)
    listed = requirement_pins(REQUIREMENTS.read_text())
    # pandas is imported by PySpark's mapInArrow / toArrow machinery, not by our code
    implicit = {"pyspark", "pandas", "numpy"}
    assert needed - set(listed) == set(), f"imported by the Spark jobs but missing from {REQUIREMENTS.name}"
    assert set(listed) - needed - implicit == set(), f"listed in {REQUIREMENTS.name} but never imported by a job"
    for name, version in listed.items():
        assert importlib.metadata.version(name) == version, f"{name}: {version} in the image, " \
            f"{importlib.metadata.version(name)} in the project's venv (pyproject.toml pins)"
