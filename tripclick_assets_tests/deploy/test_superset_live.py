"""The dashboard bundle imported into a real Superset and rendered in headless Chromium.

Superset is not a project dependency (it is large and pins its own stack): scripts/test.sh
builds a separate virtualenv from superset-requirements.txt (scripts/superset-venv.sh, about
90 s the first time) and names it in TRIPCLICK_SUPERSET_VENV; scripts/system-deps.sh
installs chromium and chromium-driver. Without them the test skips, saying what is missing.
It then:
  1. builds a Gold database on the session's test PostgreSQL with deploy/gold/initdb/*;
  2. fills the five marts from three synthetic TripClick days (lib.synthetic);
  3. migrates Superset's metadata into the initdb-created database with
     deploy/superset/superset_config.py, creates the admin, starts gunicorn;
  4. runs deploy/superset/load_dashboards.py twice (create, then update in place);
  5. opens the dashboard in headless Chromium, checks the six charts rendered without errors
     and saves a screenshot (TRIPCLICK_SCREENSHOT_DIR, default the test's tmp dir).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from tripclick_assets_tests.deploy.support import DEPLOY, pg_url, run_initdb

CHART_TITLES = ["Daily traffic", "Peak hour (UTC)", "Clinical-area shares", "Top documents",
                "Session duration distribution", "Anomalous sessions"]

VENV = os.environ.get("TRIPCLICK_SUPERSET_VENV")
missing = [what for what, ok in (
    ("TRIPCLICK_SUPERSET_VENV (a separate venv with apache-superset, gunicorn, selenium)",
     bool(VENV) and Path(VENV or "/nonexistent", "bin", "superset").exists()),
    ("chromium", shutil.which("chromium") or shutil.which("chromium-browser")),
    ("chromedriver", shutil.which("chromedriver")),
) if not ok]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(missing), reason="Superset screenshot test needs " + ", ".join(missing)
                       + " (scripts/test.sh builds the venv with scripts/superset-venv.sh; see this module's docstring)"),
]


def sample_marts(logs: Path, first: date, days: int) -> tuple[dict, list[date]]:
    """Mart rows of synthetic days, computed in plain Python by the tests' oracle (expected_marts; docs/contracts.md)."""
    from tripclick_assets.lib.source.synthetic import generate_day
    from tripclick_assets_tests.expected_marts import mart_rows, valid_clicks

    tables, dates = defaultdict(list), []
    for offset in range(days):
        day = first + timedelta(days=offset)
        dates.append(day)
        generate_day(logs, day, seed=7, duplicate_rate=0.02, bot_sessions=1 + offset)
        clicks, valid_lines = valid_clicks(logs / f"{day.isoformat()}.json")
        for table, rows in mart_rows(day, clicks, valid_lines).items():
            tables[table] += rows
    return tables, dates


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dashboards_import_and_render(postgres, fresh_database, tmp_path):
    from tripclick_assets.lib.marts.postgres_load import replace_all

    env_db = run_initdb(postgres, fresh_database)
    tables, dates = sample_marts(tmp_path / "logs", date(2016, 1, 1), 3)
    with psycopg.connect(pg_url(postgres, fresh_database["db"]), autocommit=True) as conn:
        replace_all(conn, tables, dates)

    info = psycopg.conninfo.conninfo_to_dict(postgres.url)
    admin_password = uuid.uuid4().hex
    env = {
        "PATH": f"{VENV}/bin:{os.environ['PATH']}", "HOME": str(tmp_path), "FLASK_APP": "superset",
        "SUPERSET_CONFIG_PATH": str(DEPLOY / "superset" / "superset_config.py"),
        "SUPERSET_SECRET_KEY": uuid.uuid4().hex + uuid.uuid4().hex,
        "SUPERSET_METADATA_DB_URI": (f"postgresql+psycopg2://{fresh_database['superset_user']}:"
                                     f"{env_db['SUPERSET_DB_PASSWORD']}@{info['host']}:{info['port']}/"
                                     f"{fresh_database['superset_db']}"),
        "SUPERSET_TALISMAN_ENABLED": "false",
        "SUPERSET_COOKIE_SECURE": "false",  # plain HTTP on loopback here; production: secure cookies (the default)
    }

    def superset(*args, timeout=300):
        result = subprocess.run([f"{VENV}/bin/superset", *args], env=env, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"superset {args[0]}: {result.stdout[-2000:]}{result.stderr[-3000:]}"

    superset("db", "upgrade")
    # as superset-init does it: the password from the environment, on no command line
    created = subprocess.run([f"{VENV}/bin/python", str(DEPLOY / "superset" / "create_admin.py")],
                             env={**env, "SUPERSET_ADMIN_USERNAME": "admin", "SUPERSET_ADMIN_PASSWORD": admin_password},
                             capture_output=True, text=True, timeout=300)
    assert created.returncode == 0, created.stdout[-2000:] + created.stderr[-3000:]
    superset("init")

    port = free_port()
    log = open(tmp_path / "superset.log", "w")
    server = subprocess.Popen([f"{VENV}/bin/gunicorn", "-w", "2", "--threads", "4", "-b", f"127.0.0.1:{port}",
                               "--timeout", "120", "superset.app:create_app()"],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if urllib.request.urlopen(f"{url}/health", timeout=5).status == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "superset.log").read_text()[-3000:]
            time.sleep(1)

        loader_env = {"PATH": os.environ["PATH"], "SUPERSET_URL": url, "SUPERSET_ADMIN_PASSWORD": admin_password,
                      "GOLD_READONLY_PASSWORD": fresh_database["ro_password"],
                      "GOLD_SUPERSET_DB_URI": (f"postgresql+psycopg2://{fresh_database['ro_user']}@{info['host']}:"
                                               f"{info['port']}/{fresh_database['db']}")}
        for args in ([], ["--update-db-password"]):  # create, then update in place
            result = subprocess.run([sys.executable, str(DEPLOY / "superset" / "load_dashboards.py"), *args],
                                    env=loader_env, capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, result.stdout + result.stderr + (tmp_path / "superset.log").read_text()[-3000:]

        shot = Path(os.environ.get("TRIPCLICK_SCREENSHOT_DIR", tmp_path)) / "superset_tripclick_traffic.png"
        errors, titles = screenshot(url, admin_password, shot)
        assert not errors, errors
        for title in CHART_TITLES:
            assert title in titles, f"chart {title!r} not rendered; screenshot: {shot}"
        print(f"screenshot: {shot}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
        log.close()


def screenshot(url: str, password: str, path: Path) -> tuple[list[str], str]:
    code = r'''
import json, sys, time
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
url, password, out, binary, driver_path = sys.argv[1:6]
options = webdriver.ChromeOptions()
for arg in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-dev-shm-usage", "--window-size=1600,1800"]:
    options.add_argument(arg)
options.binary_location = binary
driver = webdriver.Chrome(service=Service(driver_path), options=options)
try:
    driver.get(url + "/login/")
    time.sleep(2)
    driver.find_element(By.NAME, "username").send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.NAME, "password").submit()
    time.sleep(3)
    driver.get(url + "/superset/dashboard/tripclick-traffic/?standalone=1")
    deadline = time.time() + 60
    while time.time() < deadline:
        loading = driver.find_elements(By.CSS_SELECTOR, ".loading, [data-test='loading-indicator']")
        charts = driver.find_elements(By.CSS_SELECTOR, "canvas, table")
        if not loading and len(charts) >= 6:
            break
        time.sleep(2)
    time.sleep(3)
    driver.save_screenshot(out)
    errors = [e.text[:300] for e in driver.find_elements(
        By.CSS_SELECTOR, ".alert-danger, .ant-alert-error, [data-test='chart-error'], .error-message")]
    print(json.dumps({"errors": errors, "text": driver.find_element(By.TAG_NAME, "body").text}))
finally:
    driver.quit()
'''
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    path.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([f"{VENV}/bin/python", "-c", code, url, password, str(path), binary,
                             shutil.which("chromedriver")], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    report = json.loads(result.stdout.strip().splitlines()[-1])
    return report["errors"], report["text"]
