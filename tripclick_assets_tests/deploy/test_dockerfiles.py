"""Dockerfiles under deploy/ parse and follow the bundle's rules; built only where a dockerd is given.

Parse checks (always): every instruction is a known one; each FROM names an ARG whose default
is a pinned tag (or a stage); pip installs pin versions; nothing key-like is ADDed or COPYed;
the Spark image's Python pins equal pyproject.toml's and its hadoop-aws matches the Hadoop
client inside that PySpark; the s3a jars need their SHA-256 as build args (the download step runs
here against a file:// repository: a missing or wrong digest fails it) and are checked against
Maven Central's SHA-1 as well, and the runbook (deploy/README.md §0) names those jars with the
Dockerfile's versions, URLs and digests. The hash-checked pip installs are
tripclick_assets_tests/deploy/test_image_locks.py's.

Builds: tripclick_assets_tests/remote/test_deploy_images.py builds the dagster and spark
images (and the producer image) on the remote tests' dockerd, on a debootstrap Debian 12 base.
"""

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest

from tripclick_assets_tests.deploy.support import DEPLOY, DOCKERFILES, REPO, dockerfile_instructions

KNOWN = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
         "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
KEYLIKE = re.compile(r"(id_rsa|id_ed25519|id_ecdsa|\.pem\b|\.key\b|\.p12\b|\.jks\b|known_hosts|\.env\b|secret|credential)", re.I)


def dockerfile_id(path: Path) -> str:
    return path.parent.name


def pyproject_pins() -> dict[str, str]:
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for dep in deps:
        name, _, version = dep.partition("==")
        pins[re.sub(r"\[.*\]", "", name).strip().lower()] = version.strip()
    return pins


@pytest.mark.parametrize("path", DOCKERFILES, ids=dockerfile_id)
def test_dockerfile_parses(path):
    instructions = dockerfile_instructions(path)
    assert instructions, f"{path} is empty"
    unknown = [(n, i) for n, i, _ in instructions if i not in KNOWN]
    assert not unknown, f"{path}: unknown instructions {unknown}"
    assert instructions[0][1] in ("FROM", "ARG"), f"{path}: must start with ARG or FROM"
    assert any(i == "FROM" for _, i, _ in instructions)


@pytest.mark.parametrize("path", DOCKERFILES, ids=dockerfile_id)
def test_base_images_are_pinned_args(path):
    instructions = dockerfile_instructions(path)
    args = {}
    stages = set()
    for line, instruction, arguments in instructions:
        if instruction == "ARG":
            name, _, default = arguments.partition("=")
            args[name.strip()] = default.strip()
        if instruction == "FROM":
            parts = arguments.split()
            image = next(p for p in parts if not p.startswith("--"))
            if " AS " in f" {arguments.upper()} ":
                stages.add(parts[-1].lower())
            if image.lower() in stages:
                continue
            match = re.fullmatch(r"\$\{?(\w+)\}?", image)
            if match:
                assert match.group(1) in args, f"{path}:{line}: FROM ${match.group(1)} without an ARG default"
                image = args[match.group(1)]
            assert ":" in image.rsplit("/", 1)[-1], f"{path}:{line}: base image {image!r} has no tag"
            tag = image.rsplit(":", 1)[1]
            assert tag != "latest" and re.search(r"\d", tag), f"{path}:{line}: base image {image!r} is not pinned"


@pytest.mark.parametrize("path", DOCKERFILES, ids=dockerfile_id)
def test_no_keys_or_secrets_baked_in(path):
    for line, instruction, arguments in dockerfile_instructions(path):
        if instruction in ("ADD", "COPY"):
            assert not KEYLIKE.search(arguments), f"{path}:{line}: {instruction} {arguments} looks like key material"
            assert not re.match(r"(--\S+\s+)*https?://", arguments), f"{path}:{line}: ADD from a URL (unchecked)"
        if instruction in ("ENV", "ARG"):
            for name in re.findall(r"(\w+)=", arguments) or [arguments.split("=")[0]]:
                assert not re.search(r"PASSWORD|SECRET_KEY|TOKEN|ACCESS_KEY", name), f"{path}:{line}: {name} in the image"


@pytest.mark.parametrize("path", DOCKERFILES, ids=dockerfile_id)
def test_pip_installs_are_pinned(path):
    for line, instruction, arguments in dockerfile_instructions(path):
        if instruction != "RUN":
            continue
        for command in re.findall(r"pip install ([^;&|]*)", arguments):
            for token in command.split():
                token = token.strip("\"'")
                if token.startswith(("-", "/", ".", "$")) or not token:
                    continue  # options, local paths, requirement files
                assert re.search(r"==\S+", token) or "${" in token, f"{path}:{line}: unpinned pip install {token!r}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=dockerfile_id)
def test_run_instructions_are_valid_shell(path):
    for line, instruction, arguments in dockerfile_instructions(path):
        if instruction != "RUN" or arguments.startswith("["):
            continue
        command = re.sub(r"^(--\S+\s+)+", "", arguments)  # RUN --mount=... flags
        result = subprocess.run(["sh", "-n", "-c", command], capture_output=True, text=True)
        assert result.returncode == 0, f"{path}:{line}: RUN is not valid sh: {result.stderr}"


def test_spark_requirements_match_pyproject():
    pins = pyproject_pins()
    lines = [ln.split("#")[0].strip() for ln in (DEPLOY / "spark" / "requirements.txt").read_text().splitlines()]
    wanted = {}
    for line in filter(None, lines):
        name, _, version = line.partition("==")
        assert version, f"deploy/spark/requirements.txt: {line!r} is not pinned"
        wanted[re.sub(r"\[.*\]", "", name).strip().lower()] = version
    assert "pyspark" in wanted and "confluent-kafka" in wanted and "msgspec" in wanted
    for name, version in wanted.items():
        assert pins.get(name) == version, f"{name}=={version} in the Spark image but {pins.get(name)} in pyproject.toml"


def test_spark_image_hadoop_aws_matches_pyspark():
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    client = sorted(jars.glob("hadoop-client-api-*.jar"))
    assert client, "pyspark has no hadoop-client-api jar"
    hadoop = client[0].name.removeprefix("hadoop-client-api-").removesuffix(".jar")
    args = {a.split("=")[0]: a.split("=", 1)[1] for _, i, a in dockerfile_instructions(DEPLOY / "spark" / "Dockerfile")
            if i == "ARG" and "=" in a}
    assert args["HADOOP_VERSION"] == hadoop
    for name in ("HADOOP_AWS_SHA1", "AWS_SDK_BUNDLE_SHA1", "ANALYTICS_ACCELERATOR_SHA1"):
        assert re.fullmatch(r"[0-9a-f]{40}", args[name]), f"{name} is not a SHA-1 digest"
    for name in ("HADOOP_AWS_SHA256", "AWS_SDK_BUNDLE_SHA256", "ANALYTICS_ACCELERATOR_SHA256"):
        # no default until one is taken from the real jar: the build requires it (test_s3a_jars_...)
        assert re.fullmatch(r"|[0-9a-f]{64}", args[name]), f"{name} is neither empty nor a SHA-256 digest"
    text = (DEPLOY / "spark" / "Dockerfile").read_text()
    assert "sha1sum -c" in text and "sha256sum -c" in text
    assert "hadoop-client-api-${HADOOP_VERSION}.jar" in text  # the build fails on a Hadoop mismatch


def test_dockerfile_sources_exist():
    """Every COPY source exists (build context: repository root, or the Dockerfile's folder for superset)."""
    contexts = {"superset": DEPLOY / "superset"}
    for path in DOCKERFILES:
        context = contexts.get(path.parent.name, REPO)
        for line, instruction, arguments in dockerfile_instructions(path):
            if instruction != "COPY" or "--from=" in arguments:
                continue
            sources = [a for a in arguments.split() if not a.startswith("--")][:-1]
            for source in sources:
                assert (context / source).exists(), f"{path}:{line}: COPY source {source} missing in {context}"


def test_shell_scripts_parse():
    scripts = sorted(DEPLOY.rglob("*.sh"))
    assert len(scripts) >= 6
    for script in scripts:
        shell = "bash" if script.read_text().startswith("#!/bin/bash") else "sh"
        result = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script}: {result.stderr}"
        assert os.access(script, os.X_OK), f"{script} is not executable"


FETCH = re.compile(r'fetch "([^"]+)"\s+"\$\{?(\w+)\}?"\s+"\$\{?(\w+)\}?"')


def spark_s3a_jars() -> list[dict]:
    """What deploy/spark/Dockerfile's ``fetch`` calls download, with the ARG defaults filled in."""
    instructions = dockerfile_instructions(DEPLOY / "spark" / "Dockerfile")
    args = {a.split("=")[0]: a.split("=", 1)[1] for _, i, a in instructions if i == "ARG" and "=" in a}
    jars = []
    for _, instruction, arguments in instructions:
        if instruction != "RUN":
            continue
        for template, sha1_arg, sha256_arg in FETCH.findall(arguments):
            (version_arg,) = set(re.findall(r"\$\{(\w+)\}", template))
            path = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], template)
            *group, artifact, version, file = path.split("/")
            jars.append({"file": file, "url": f"{args['MAVEN_REPOSITORY']}/{path}",
                         "coordinates": f"{'.'.join(group)}:{artifact}:{version}",
                         "version": version, "version_arg": version_arg,
                         "sha1": args[sha1_arg], "sha1_arg": sha1_arg,
                         "sha256": args[sha256_arg], "sha256_arg": sha256_arg})
    return jars


def test_the_runbook_names_the_spark_images_s3a_jars_as_the_dockerfile_pins_them():
    """deploy/README.md §0: each jar's coordinates, version, URL and digests are the Dockerfile's ARG defaults."""
    jars = spark_s3a_jars()
    assert [j["file"].split("-")[0] for j in jars] == ["hadoop", "bundle", "analyticsaccelerator"]
    runbook = (DEPLOY / "README.md").read_text()
    rows = {}
    for line in runbook.splitlines():
        match = re.match(r"\|\s*`([\w.-]+\.jar)`\s*\|", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in line.strip().strip("|").split("|")]
    assert set(rows) == {j["file"] for j in jars}, "the runbook's s3a jar table lists other jars than the Dockerfile"
    for jar in jars:
        _, coordinates, version, sha1, sha256 = rows[jar["file"]]
        assert coordinates == f"`{jar['coordinates']}`", jar["file"]
        assert version == f"{jar['version']} (`{jar['version_arg']}`)", jar["file"]
        assert sha1 == f"`{jar['sha1']}` (`{jar['sha1_arg']}`)", jar["file"]
        assert sha256 == (f"`{jar['sha256']}` (`{jar['sha256_arg']}`)" if jar["sha256"] else f"`{jar['sha256_arg']}`")
        assert f"`{jar['url']}`" in runbook, jar["url"]


# --- the s3a download step, run here (sh, curl, sha256sum, sha1sum) against a file:// repository ---

S3A_SHA256_ARGS = ("HADOOP_AWS_SHA256", "AWS_SDK_BUNDLE_SHA256", "ANALYTICS_ACCELERATOR_SHA256")


@pytest.fixture
def s3a_step(tmp_path):
    """Runs the Dockerfile's s3a RUN with its ARG defaults, a fake SPARK_HOME and fake jars in a file:// repo."""
    spark = DEPLOY / "spark" / "Dockerfile"
    instructions = dockerfile_instructions(spark)
    (command,) = [a for _, i, a in instructions if i == "RUN" and "need_sha256" in a]
    defaults = {a.split("=")[0]: a.split("=", 1)[1] for _, i, a in instructions if i == "ARG" and "=" in a}
    repo, home = tmp_path / "maven", tmp_path / "spark-home"
    (home / "jars").mkdir(parents=True)
    (home / "jars" / f"hadoop-client-api-{defaults['HADOOP_VERSION']}.jar").write_bytes(b"pyspark's client")
    digests = {}
    for jar in spark_s3a_jars():
        path = repo / jar["url"].removeprefix(defaults["MAVEN_REPOSITORY"] + "/")
        path.parent.mkdir(parents=True)
        content = f"fake {jar['file']}".encode()
        path.write_bytes(content)
        digests[jar["sha1_arg"]] = hashlib.sha1(content).hexdigest()
        digests[jar["sha256_arg"]] = hashlib.sha256(content).hexdigest()

    def run(**overrides):
        env = {"PATH": os.environ["PATH"], **defaults, "MAVEN_REPOSITORY": repo.as_uri(), "SPARK_HOME": str(home),
               **overrides}
        result = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, timeout=60)
        jars = sorted(p.name for p in (home / "jars").iterdir() if not p.name.startswith("hadoop-client-api"))
        return result.returncode, result.stdout + result.stderr, jars

    run.digests = digests
    run.home = home
    return run


def test_s3a_jars_need_their_sha256_build_args(s3a_step):
    sha1 = {k: v for k, v in s3a_step.digests.items() if k.endswith("_SHA1")}
    code, output, jars = s3a_step(INSTALL_S3A_JARS="true", **sha1)
    assert code != 0 and "needs --build-arg HADOOP_AWS_SHA256=" in output, output
    assert jars == []  # refused before anything was downloaded
    code, output, jars = s3a_step(INSTALL_S3A_JARS="true", **sha1, HADOOP_AWS_SHA256=s3a_step.digests["HADOOP_AWS_SHA256"])
    assert code != 0 and "needs --build-arg AWS_SDK_BUNDLE_SHA256=" in output and jars == [], output
    code, output, _ = s3a_step(INSTALL_S3A_JARS="true", **{**s3a_step.digests, "ANALYTICS_ACCELERATOR_SHA256": "abc"})
    assert code != 0 and "needs --build-arg ANALYTICS_ACCELERATOR_SHA256=" in output, output


def test_s3a_jars_are_checked_by_sha256_and_sha1(s3a_step):
    code, output, jars = s3a_step(INSTALL_S3A_JARS="true", **s3a_step.digests)
    assert code == 0, output
    assert jars == sorted(jar["file"] for jar in spark_s3a_jars())
    assert output.count(": OK") == 6  # each jar: sha256sum -c, then sha1sum -c
    wrong_sha256 = {**s3a_step.digests, "AWS_SDK_BUNDLE_SHA256": "0" * 64}
    code, output, _ = s3a_step(INSTALL_S3A_JARS="true", **wrong_sha256)
    assert code != 0 and "bundle-" in output and "FAILED" in output, output
    wrong_sha1 = {**s3a_step.digests, "HADOOP_AWS_SHA1": "0" * 40}
    code, output, _ = s3a_step(INSTALL_S3A_JARS="true", **wrong_sha1)
    assert code != 0 and "FAILED" in output, output


def test_s3a_jars_off_builds_without_digests_and_other_values_fail(s3a_step):
    code, output, jars = s3a_step(INSTALL_S3A_JARS="false")
    assert code == 0 and "no s3a jars" in output and jars == [], output
    code, output, _ = s3a_step(INSTALL_S3A_JARS="yes", **s3a_step.digests)
    assert code != 0 and "INSTALL_S3A_JARS must be true or false" in output, output
    (s3a_step.home / "jars" / "hadoop-client-api-3.5.0.jar").rename(s3a_step.home / "jars" / "hadoop-client-api-3.4.1.jar")
    code, output, _ = s3a_step(INSTALL_S3A_JARS="false")
    assert code != 0 and "PySpark does not ship Hadoop 3.5.0" in output, output
