"""Spark in production: ``spark-submit`` on the Spark master over SSH (the seeds' SSHOperator), via Dagster Pipes.

The job code travels with every submission: the installed ``tripclick_assets`` package as a
zip (built byte-for-byte reproducibly, named by its SHA-256) plus the job scripts, shipped
once per version by SFTP to ``<remote_dir>/code/<version>/`` and checked with ``sha256sum``
against the hashes computed here right before each submit. Job parameters go in a private
(0600) file that is deleted afterwards. The driver's output streams into the run log; the
job's result comes back as a Pipes custom message.
"""

from __future__ import annotations

import collections
import io
import json
import os
import posixpath
import shlex
import socket
import string
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field, field_validator

from tripclick_assets.resources._pipes import PipesLineReader, RemoteOutput
from tripclick_assets.resources.spark import SparkResource
from tripclick_assets.resources.spark_code import CodeBundle, code_bundle

if TYPE_CHECKING:  # the job contracts (msgspec) load when a step runs
    from tripclick_assets.lib.spark.jobs import JobParams, R

DEFAULT_COMMAND = "spark-submit --py-files {code_zip} {job_script} --params-file {params_file}"
PLACEHOLDERS = {"code_dir", "code_zip", "job_script", "params_file", "job", "version", "docker_env"}
PGID_MARKER = "tripclick-remote-pgid "
CODE_MISMATCH_STATUS = 97
PARAMS_PREFIX = "params-"  # <remote_dir>/runs/params-<job>-<uuid>.json: what the sweep may remove
def load_private_key(value: str, passphrase: str | None = None):
    """A paramiko key from a file path or from the key text itself (OpenSSH or PEM; ed25519, ECDSA, RSA)."""
    import paramiko

    text = value if "-----BEGIN" in value else Path(os.path.expanduser(value)).read_text()
    errors = []
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text), password=passphrase)
        except paramiko.SSHException as exc:
            errors.append(f"{kind.__name__}: {exc}")
    raise ValueError("SSH private key could not be read (" + "; ".join(errors) + ")")


class _Dropped(Exception):
    """The SSH connection went away before the remote command reported its exit status."""


class SSHSparkResource(SparkResource):
    """Runs spark_jobs with spark-submit on the Spark master over SSH (host key verified), via Dagster Pipes."""

    host: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str
    private_key: str = Field(description="path to the private key, or the key text itself (set through an EnvVar)")
    key_passphrase: str | None = None
    known_hosts: str = Field(default="~/.ssh/known_hosts", description="the Spark host's key must be listed here")
    verify_host_key: bool = Field(default=True, description="false accepts any host key (logged as a warning)")
    command_template: str = Field(
        default=DEFAULT_COMMAND,
        description="remote submit command; placeholders: " + ", ".join(sorted(PLACEHOLDERS)),
    )
    kill_template: str | None = Field(
        default=None, description="extra remote kill command on termination, e.g. for a driver inside a container",
    )
    remote_dir: str = Field(default="/opt/tripclick", description="directory on the SSH host for job code and params")
    submit_dir: str | None = Field(default=None, description="remote_dir as the submit command sees it (container mount)")
    env: dict[str, str] = Field(default_factory=dict, description="environment for the submit command")
    connect_timeout_s: float = Field(default=20.0, gt=0)
    keepalive_s: int = Field(default=15, ge=0)
    log_tail_lines: int = Field(default=40, ge=1)
    params_sweep_age_s: float = Field(default=600.0, ge=60, description="params files older than this and used "
                                      "by no process are removed at the next job's start")

    @field_validator("command_template", "kill_template")
    @classmethod
    def _known_placeholders(cls, value: str | None) -> str | None:
        if value is None:
            return value
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        unknown = names - PLACEHOLDERS
        if unknown:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)} in {value!r}; known: {sorted(PLACEHOLDERS)}")
        return value

    @field_validator("command_template")
    @classmethod
    def _submits_a_job(cls, value: str) -> str:
        if "{job_script}" not in value or "{params_file}" not in value:
            raise ValueError("command_template must contain {job_script} and {params_file}")
        return value

    # -- connection -------------------------------------------------------------------------

    def connect(self, log):
        """An SSH client to the Spark host; an unknown or changed host key is refused."""
        import paramiko

        client = paramiko.SSHClient()
        known_hosts = os.path.expanduser(self.known_hosts)
        if self.verify_host_key:
            if not os.path.isfile(known_hosts):
                raise dg.Failure(f"known_hosts file {known_hosts} does not exist: add the Spark host's key "
                                 f"(ssh-keyscan -p {self.port} {self.host}, after checking its fingerprint)",
                                 allow_retries=False)
            client.load_host_keys(known_hosts)
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        else:
            log.warning(f"SSH host key of {self.host}:{self.port} is NOT verified (verify_host_key=false)")
            client.set_missing_host_key_policy(paramiko.WarningPolicy())
        sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout_s)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        try:
            client.connect(
                self.host, port=self.port, username=self.user, sock=sock,
                pkey=load_private_key(self.private_key, self.key_passphrase), look_for_keys=False,
                allow_agent=False, timeout=self.connect_timeout_s, banner_timeout=self.connect_timeout_s,
                auth_timeout=self.connect_timeout_s,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise dg.Failure(f"SSH host key of {self.host}:{self.port} does not match {known_hosts}: {exc}. "
                             "Refusing to connect (possible man-in-the-middle).", allow_retries=False) from None
        except paramiko.SSHException as exc:
            client.close()
            if "known_hosts" in str(exc):
                raise dg.Failure(f"SSH host key of {self.host}:{self.port} is not in {known_hosts}; refusing to "
                                 f"connect. Verify the host's fingerprint and add it (ssh-keyscan -p {self.port} "
                                 f"{self.host} >> {known_hosts}).", allow_retries=False) from None
            raise
        if self.keepalive_s:
            client.get_transport().set_keepalive(self.keepalive_s)
        return client

    @staticmethod
    def _exec(client, command: str, timeout: float = 120.0) -> tuple[int, str]:
        _, stdout, stderr = client.exec_command(command, timeout=timeout)
        output = stdout.read().decode("utf-8", "replace") + stderr.read().decode("utf-8", "replace")
        return stdout.channel.recv_exit_status(), output

    # -- job code ---------------------------------------------------------------------------

    def _dirs(self, bundle: CodeBundle) -> tuple[str, str]:
        """The code directory on the SSH host, and as the submit command sees it."""
        relative = f"code/{bundle.version}"
        return posixpath.join(self.remote_dir, relative), posixpath.join(self.submit_dir or self.remote_dir, relative)

    def ship(self, client, bundle: CodeBundle, log) -> None:
        """Makes sure the host has this code version (uploads it if missing or altered)."""
        code_dir, _ = self._dirs(bundle)
        if self._exec(client, bundle.check_command(code_dir))[0] == 0:
            return
        log.info(f"shipping job code {bundle.version} to {self.host}:{code_dir}")
        staging = f"{code_dir}.tmp-{uuid.uuid4().hex[:8]}"
        status, output = self._exec(client, f"mkdir -p {shlex.quote(staging)}/jobs {shlex.quote(self.remote_dir)}/runs")
        if status != 0:
            raise dg.Failure(f"cannot create {staging} on {self.host}: {output.strip()}")
        with client.open_sftp() as sftp:
            for path, data in bundle.files.items():
                sftp.putfo(io.BytesIO(data), posixpath.join(staging, path))
        q_code, q_staging, check = shlex.quote(code_dir), shlex.quote(staging), bundle.check_command(code_dir)
        # An altered copy is replaced; a good one uploaded meanwhile by another run is kept.
        status, output = self._exec(client, (
            f"if [ -e {q_code} ] && ! {check}; then rm -rf {q_code}; fi; "
            f"mv -T {q_staging} {q_code} 2>/dev/null || rm -rf {q_staging}; {check}"))
        if status != 0:
            raise dg.Failure(f"job code {bundle.version} on {self.host}:{code_dir} fails its hash check after upload")

    # -- submit -----------------------------------------------------------------------------

    def placeholders(self, bundle: CodeBundle, job: str, params_file: str, env_names) -> dict[str, str]:
        """Template values, shell-quoted (paths as the submit command sees them)."""
        _, code_dir = self._dirs(bundle)
        values = {
            "code_dir": code_dir, "code_zip": f"{code_dir}/tripclick_assets.zip",
            "job_script": f"{code_dir}/jobs/{job}.py", "params_file": self._submit_path(params_file),
            "job": job, "version": bundle.version,
        }
        quoted = {key: shlex.quote(value) for key, value in values.items()}
        return {**quoted, "docker_env": " ".join(f"-e {name}" for name in env_names)}

    def submit_command(self, bundle: CodeBundle, job: str, params_file: str, pipes_env: dict[str, str]) -> str:
        """The remote shell line: environment, code hash check, then the templated command (exec'd)."""
        code_dir, _ = self._dirs(bundle)
        env = {**self.env, **pipes_env}
        command = self.command_template.format_map(self.placeholders(bundle, job, params_file, env))
        exports = "".join(f"export {name}={shlex.quote(value)}; " for name, value in env.items())
        mismatch = f"tripclick: job code at {code_dir} does not match version {bundle.version}"
        return (f"{exports}{bundle.check_command(code_dir)} || {{ echo {shlex.quote(mismatch)} >&2; "
                f"exit {CODE_MISMATCH_STATUS}; }}; echo \"{PGID_MARKER}$$\" >&2; exec sh -c {shlex.quote(command)}")

    def _submit_path(self, path: str) -> str:
        if self.submit_dir is None:
            return path
        return posixpath.join(self.submit_dir, posixpath.relpath(path, self.remote_dir))

    def _write_params(self, client, job: str, params: JobParams) -> str:
        """Writes the params (they carry connection URLs with credentials) to a new 0600 file.

        The file is created 0600 from the start (``umask 077`` before the shell creates it, in a
        0700 directory) and its content travels on the channel's stdin, never on a command line.
        """
        runs = posixpath.join(self.remote_dir, "runs")
        path = posixpath.join(runs, f"{PARAMS_PREFIX}{job}-{uuid.uuid4().hex}.json")
        q_runs, q_path = shlex.quote(runs), shlex.quote(path)
        command = f"umask 077 && mkdir -p {q_runs} && chmod 700 {q_runs} && (set -C; cat > {q_path})"
        stdin, stdout, stderr = client.exec_command(command, timeout=60)
        from tripclick_assets.lib.spark.jobs import encode_params
        data = encode_params(params)
        stdin.write(data.encode("utf-8") if isinstance(data, str) else data)
        stdin.channel.shutdown_write()
        status = stdout.channel.recv_exit_status()
        if status != 0:
            error = stderr.read().decode("utf-8", "replace").strip()
            raise dg.Failure(f"cannot write the job parameters to {self.host}:{path}: {error}")
        return path

    def sweep_params(self, client, log) -> None:
        """Removes params files a dead orchestrator left behind: older than ``params_sweep_age_s``
        and named by no running process (a concurrent run's file is in its submit's command line)."""
        runs = shlex.quote(posixpath.join(self.remote_dir, "runs"))
        minutes = max(1, int(self.params_sweep_age_s // 60))
        command = (f"[ -d {runs} ] || exit 0; find {runs} -maxdepth 1 -type f -name '{PARAMS_PREFIX}*.json' "
                   f"-mmin +{minutes} | while read -r f; do b=$(basename \"$f\"); "
                   f"grep -qsF -- \"$b\" /proc/[0-9]*/cmdline || {{ rm -f -- \"$f\" && echo \"$f\"; }}; done")
        try:
            status, output = self._exec(client, command, timeout=60)
        except Exception as exc:  # noqa: BLE001 - a failed sweep must not stop the job
            log.warning(f"could not sweep stale params files on {self.host}: {exc}")
            return
        removed = [line for line in output.splitlines() if line.strip()]
        if removed:
            log.warning(f"removed {len(removed)} stale params file(s) on {self.host} left by an earlier run")

    def run_job(self, context: dg.AssetExecutionContext, job: str, params: JobParams[R]) -> R:
        """Submits ``spark_jobs/<job>.py`` on the Spark host and returns the job's typed result."""
        bundle = code_bundle()
        if f"jobs/{job}.py" not in bundle.files:
            raise dg.Failure(f"unknown spark job {job!r}", allow_retries=False)
        params = self.checked_params(job, params)
        started = time.monotonic()
        client = self.connect(context.log)
        params_file = None
        try:
            self.sweep_params(client, context.log)
            self.ship(client, bundle, context.log)
            params_file = self._write_params(client, job, params)
            reader = PipesLineReader()
            with dg.open_pipes_session(context, dg.PipesEnvContextInjector(), reader) as session:
                pipes_env = session.get_bootstrap_env_vars()
                command = self.submit_command(bundle, job, params_file, pipes_env)
                values = self.placeholders(bundle, job, params_file, {**self.env, **pipes_env})
                kill = self.kill_template.format_map(values) if self.kill_template else None
                run = _RemoteRun(self, client, job, reader, context.log)
                status = run.execute(command, kill)
                messages = session.get_custom_messages()
            if status != 0:
                raise dg.Failure(
                    f"spark job {job} on {self.host} exited with status {status}; driver output (last lines):\n"
                    f"{run.tail_text()}",
                    metadata={"exit_status": status, "log_tail": dg.MetadataValue.text(run.tail_text())},
                )
            message = messages[-1] if messages else run.last_json()
            if message is None:
                raise dg.Failure(f"spark job {job} finished without reporting a result:\n{run.tail_text()}")
            try:
                from tripclick_assets.lib.spark.jobs import result_from_message
                result = result_from_message(type(params), message)
            except ValueError as exc:
                raise dg.Failure(f"spark job {job} on {self.host} reported a malformed result: {exc}",
                                 allow_retries=False) from None
            context.log.info(f"spark job {job} finished on {self.host} in {time.monotonic() - started:.1f}s")
            return result
        finally:
            self._cleanup(client, params_file, context.log)

    def _cleanup(self, client, params_file: str | None, log) -> None:
        try:
            if params_file is not None:
                if not client.get_transport() or not client.get_transport().is_active():
                    client.close()
                    client = self.connect(log)
                self._exec(client, f"rm -f {shlex.quote(params_file)}", timeout=30)
        except Exception as exc:  # noqa: BLE001 - cleanup must not hide the job's own outcome
            log.warning(f"could not remove {params_file} on {self.host}: {exc}")
        finally:
            client.close()

    def kill_remote(self, client, pgid: int | None, kill_command: str | None, log) -> None:
        """Stops a remote submit: ``kill_command`` (driver in a container), then TERM, later KILL, to its group."""
        commands = [kill_command] if kill_command else []
        if pgid:
            commands.append(f"kill -TERM -- -{pgid} 2>/dev/null; for i in 1 2 3 4 5 6 7 8 9 10; do "
                            f"kill -0 -- -{pgid} 2>/dev/null || exit 0; sleep 1; done; kill -KILL -- -{pgid}")
        if not commands:
            return
        fresh = None
        try:
            if not client.get_transport() or not client.get_transport().is_active():
                client = fresh = self.connect(log)  # the old connection is gone: a new one to clean up
            for command in commands:
                self._exec(client, command, timeout=60)
            log.warning(f"stopped the remote spark-submit on {self.host} (process group {pgid})")
        except Exception as exc:  # noqa: BLE001 - reported; the remote process may still run
            log.error(f"could not stop the remote spark-submit on {self.host} (process group {pgid}): {exc}")
        finally:
            if fresh is not None:
                fresh.close()


class _RemoteRun(RemoteOutput):
    """One remote command: streams its output line by line and returns its exit status."""

    def __init__(self, resource: SSHSparkResource, client, job: str, reader: PipesLineReader, log):
        super().__init__(reader, log, f"spark {job}", resource.log_tail_lines)
        self.resource, self.client, self.job = resource, client, job
        self.pgid = None
        self.stdout_tail = self.tail
        self.stderr_tail = collections.deque(maxlen=max(10, resource.log_tail_lines // 2))

    def execute(self, command: str, kill_command: str | None) -> int:
        transport = self.client.get_transport()
        channel = transport.open_session()
        try:
            channel.exec_command(command)
            while True:
                got = self._read(channel, "stdout", channel.recv_ready, channel.recv)
                got |= self._read(channel, "stderr", channel.recv_stderr_ready, channel.recv_stderr)
                if channel.exit_status_ready() and channel.eof_received and not got:
                    break
                if not transport.is_active() or (channel.closed and not channel.exit_status_ready()):
                    raise _Dropped()
                if not got:
                    time.sleep(0.05)
            self.end()
            return channel.recv_exit_status()
        except _Dropped:
            self.end()
            self.resource.kill_remote(self.client, self.pgid, kill_command, self.log)
            raise dg.Failure(
                f"SSH connection to {self.resource.host}:{self.resource.port} dropped while spark job {self.job} "
                f"was running (remote process group {self.pgid} stopped); the step can be retried. "
                f"Last driver output:\n{self.tail_text()}",
                metadata={"log_tail": dg.MetadataValue.text(self.tail_text())},
            ) from None
        except BaseException:  # run terminated (interrupt) or anything unexpected: leave nothing running
            self.resource.kill_remote(self.client, self.pgid, kill_command, self.log)
            raise
        finally:
            channel.close()

    def _read(self, channel, stream: str, ready, recv) -> bool:
        if not ready():
            return False
        data = recv(65536)
        if not data:
            return False
        self.feed(stream, data)
        return True

    def handle(self, stream: str, line: str) -> None:
        if stream == "stderr" and line.startswith(PGID_MARKER) and self.pgid is None:
            self.pgid = int(line[len(PGID_MARKER):])
            return
        super().handle(stream, line)

    def keep(self, stream: str, line: str) -> None:
        (self.stdout_tail if stream == "stdout" else self.stderr_tail).append(line)

    def log_line(self, stream: str, line: str) -> None:
        # Python driver output (merged into spark-submit's stdout) at INFO; the JVM's log4j lines at DEBUG.
        (self.log.info if stream == "stdout" else self.log.debug)(f"[{self.label}] {line}")

    def tail_text(self) -> str:
        return "\n".join([*self.stdout_tail, "--- spark-submit stderr ---", *self.stderr_tail])

    def last_json(self) -> dict | None:
        for line in reversed(self.stdout_tail):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
        return None
