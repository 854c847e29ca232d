"""The local Spark driver's class-data archive: built by a real JVM, mapped by the next one, only ever a cache."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tripclick_assets.spark_jobs._session import local_spark_config
from tripclick_assets.lib.spark.class_archive import build, with_archive

JAVA = shutil.which("java") or str(Path(os.environ.get("JAVA_HOME", "/usr")) / "bin" / "java")


def test_options_are_added_only_for_an_existing_archive(tmp_path):
    config = local_spark_config()
    assert with_archive(config, tmp_path / "missing.jsa") == config
    assert with_archive(config, None) == config
    archive = tmp_path / "classes.jsa"
    archive.write_bytes(b"x")
    options = with_archive(config, archive)["spark.driver.extraJavaOptions"]
    assert options.startswith(config["spark.driver.extraJavaOptions"])  # -Duser.timezone=UTC kept
    assert f"-XX:SharedArchiveFile={archive}" in options and "-Xshare:auto" in options


def test_a_damaged_archive_does_not_stop_the_jvm(tmp_path):
    archive = tmp_path / "classes.jsa"
    archive.write_bytes(os.urandom(4096))
    options = with_archive({}, archive)["spark.driver.extraJavaOptions"].split()
    result = subprocess.run([JAVA, *options, "-version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # nothing on stdout: a spark-submit job's last stdout line is its result


@pytest.mark.slow
def test_build_then_a_session_maps_it(tmp_path):
    archive = build(tmp_path / "spark" / "classes.jsa")
    assert archive.stat().st_size > 10 * 1024 * 1024
    assert sorted(p.name for p in archive.parent.iterdir()) == ["classes.jsa"]  # no partial files left

    # -Xshare:on makes the JVM refuse to start unless it maps the archive.
    script = textwrap.dedent(f"""
        from tripclick_assets.spark_jobs._session import get_or_create_session, local_spark_config
        from tripclick_assets.lib.spark.class_archive import with_archive
        config = with_archive(local_spark_config(), {str(archive)!r})
        config["spark.driver.extraJavaOptions"] += " -Xshare:on"
        spark = get_or_create_session(config)
        print("rows", spark.range(1000).selectExpr("sum(id) AS s").collect()[0]["s"])
        spark.stop()
    """)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rows 499500" in result.stdout

    # Without the archive, -Xshare:on with a missing file fails: the check above is not vacuous.
    missing = subprocess.run([JAVA, f"-XX:SharedArchiveFile={tmp_path / 'nope.jsa'}", "-Xshare:on", "-version"],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0
