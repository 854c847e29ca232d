"""Producers in production: a ``tripclick-producer`` container per web server, over the Docker Engine API.

Every server's container starts at once; their stdout/stderr are streamed into the run
(Dagster Pipes messages are taken out of the stream, every other line goes to the run log
at DEBUG); each container is removed when it ends, fails, or the run is terminated.

A container outlives an orchestrator that dies (SIGKILL, OOM, a lost host) and keeps sending.
Containers are labelled with their topic, days and orchestrating process, so the next producer
step of those days stops such leftovers on every server before it starts its own (the fence).
"""

import contextlib
import io
import json
import os
import queue
import re
import socket
import tarfile
import tempfile
import threading
import uuid
from datetime import date

import dagster as dg
from pydantic import Field, field_validator, model_validator

from tripclick_assets.lib.kafka.security import SECRET_ENV, secret_file_env
from tripclick_assets.resources.kafka import KafkaResource
from tripclick_assets.resources._pipes import LineSplitter, PipesLineReader, RemoteOutput
from tripclick_assets.resources.producers import ProducersResource, SyntheticSource, check_server_names, producer_args
from tripclick_assets.settings import docker_tls_missing, docker_url_ok

PEM_MARKER = "-----BEGIN"


class DockerServer(dg.Config):
    """One web server's Docker Engine: ``tcp://host:2376`` with TLS client auth, or a local ``unix://`` socket."""

    name: str = Field(description="server name reported in the events' provenance (server0, server1, ...)")
    base_url: str = Field(description="tcp://host:2376 (TLS) or unix:///var/run/docker.sock")
    tls_ca: str | None = Field(default=None, description="CA certificate: a file path or PEM text")
    tls_cert: str | None = Field(default=None, description="client certificate: a file path or PEM text")
    tls_key: str | None = Field(default=None, description="client key: a file path or PEM text (a secret: EnvVar)")
    insecure: bool = Field(default=False, description="allow plain TCP without TLS (logged as a warning)")

    @field_validator("name")
    @classmethod
    def _name_is_simple(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value or ""):
            raise ValueError(f"docker server name must be [A-Za-z0-9_.-]+, got {value!r}")
        return value

    @model_validator(mode="after")
    def _tls_or_explicitly_insecure(self):
        tls = [self.tls_ca, self.tls_cert, self.tls_key]
        if any(tls) and not all(tls):
            raise ValueError(f"docker server {self.name}: set all of tls_ca, tls_cert and tls_key, or none")
        if not docker_url_ok(self.base_url):
            raise ValueError(f"docker server {self.name}: base_url must be tcp://host:port or unix://path")
        if docker_tls_missing(self.base_url, tls=all(tls), insecure=self.insecure):
            raise ValueError(
                f"docker server {self.name}: {self.base_url} needs tls_ca, tls_cert and tls_key "
                "(or insecure=true to allow plain TCP)"
            )
        return self

    @property
    def uses_tls(self) -> bool:
        return bool(self.tls_cert)


def _pem_file(value: str, stack: contextlib.ExitStack) -> str:
    """A path as is; PEM text goes to a private temporary file (docker-py wants paths)."""
    if not value.lstrip().startswith(PEM_MARKER):
        return os.path.expanduser(value)
    handle = stack.enter_context(tempfile.NamedTemporaryFile("w", suffix=".pem"))
    handle.write(value)
    handle.flush()
    return handle.name


def docker_client(server: DockerServer, stack: contextlib.ExitStack, log, timeout: float = 60.0, api_version="1.41"):
    """A docker-py client for ``server``; closed with ``stack``."""
    import docker

    tls = None
    if server.uses_tls:
        tls = docker.tls.TLSConfig(
            client_cert=(_pem_file(server.tls_cert, stack), _pem_file(server.tls_key, stack)),
            ca_cert=_pem_file(server.tls_ca, stack), verify=True,
        )
    elif not server.base_url.startswith("unix://"):
        log.warning(f"docker server {server.name}: plain TCP to {server.base_url} without TLS (insecure=true); "
                    "anyone who can reach that port controls the host")
    # A fixed API version: "auto" would ask the server before trust_env is off.
    client = docker.DockerClient(base_url=server.base_url, tls=tls, version=api_version, timeout=int(timeout))
    client.api.trust_env = False  # else REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE would replace the server's CA
    stack.callback(client.close)
    return client


class _Container(RemoteOutput):
    """One server's running producer: its container, Pipes session and the tail of its output."""

    def __init__(self, server: DockerServer, container, reader: PipesLineReader, session, tail: int, log):
        super().__init__(reader, log, server.name, tail)
        self.server, self.container, self.session = server, container, session
        self.last_stdout = None

    def keep(self, stream: str, line: str) -> None:
        super().keep(stream, line)
        if stream == "stdout" and line.strip():
            self.last_stdout = line

    def summary(self) -> dict | None:
        messages = self.session.get_custom_messages()
        if messages:
            return messages[-1]
        try:  # the producer also prints its summary as the last stdout line
            return json.loads(self.last_stdout) if self.last_stdout else None
        except ValueError:
            return None


def _pump(container, index: int, stream: str, lines: queue.Queue) -> None:
    """Reads one stream of a container's log into ``lines`` as whole lines; None marks its end."""
    splitter = LineSplitter()
    try:
        for chunk in container.logs(stdout=stream == "stdout", stderr=stream == "stderr", stream=True, follow=True):
            for line in splitter.feed(chunk):
                lines.put((index, stream, line))
        for line in splitter.end():
            lines.put((index, stream, line))
    except Exception as exc:  # noqa: BLE001 - the end of the stream is reported, the exit code decides
        lines.put((index, stream, f"[log stream ended: {exc}]"))
    finally:
        lines.put((index, stream, None))


def _repository(reference: str) -> str:
    """``registry:5000/team/name:tag`` -> ``registry:5000/team/name`` (no tag, no digest)."""
    name = reference.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


class DockerProducersResource(ProducersResource):
    """Web-server producers as containers on each server's Docker Engine (TLS), reporting through Dagster Pipes."""

    servers: list[DockerServer] = Field(description="one entry per web server")
    image: str = Field(default="tripclick-producer", description="built from deploy/producer/Dockerfile")
    tag: str = Field(description="the image digest (sha256:..., production) or a tag (0.1.0); never pulled")
    secrets_dir: str = Field(default="/run/tripclick-secrets",
                             description="where the Kafka secrets are written in the container (files, 0400)")
    container_uid: int = Field(default=10001, ge=0, description="the image's user (deploy/producer/Dockerfile)")
    environment: dict[str, str] = Field(default_factory=dict, description="extra container environment")
    network_mode: str = Field(default="host", description="docker network mode; the broker must be reachable")
    source_dir: str = Field(default="/data/logs", description="the TripClick logs directory inside the container")
    mounts: list[str] = Field(default_factory=list, description="volumes as host_path:container_path[:ro]")
    # Off by default: real web servers hold the logs. On, missing days are generated in the container.
    synthetic: SyntheticSource = SyntheticSource(enabled=False)
    delivery_timeout_s: float = Field(default=30.0, gt=0)
    api_timeout_s: float = Field(default=60.0, gt=0)
    api_version: str = Field(default="1.41", description="Docker Engine API version (1.41: Engine 20.10 and later)")
    stop_timeout_s: int = Field(default=10, ge=0)
    log_tail_lines: int = Field(default=40, ge=1)

    @field_validator("servers")
    @classmethod
    def _servers_unique(cls, value: list[DockerServer]) -> list[DockerServer]:
        check_server_names([s.name for s in value])
        return value

    @field_validator("tag")
    @classmethod
    def _tag_pinned(cls, value: str) -> str:
        if not re.fullmatch(r"sha256:[0-9a-f]{64}|[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", value or ""):
            raise ValueError(f"producers.tag (the digest of TRIPCLICK_PRODUCER_IMAGE) must be sha256:<64 hex> "
                             f"or a tag, got {value!r}")
        return value

    @property
    def image_ref(self) -> str:
        """``image:tag``, or ``image@sha256:...`` for a digest (the content itself is pinned)."""
        return f"{self.image}@{self.tag}" if self.tag.startswith("sha256:") else f"{self.image}:{self.tag}"

    def present_image(self, client, server: DockerServer) -> str:
        """What this server's container is created from: the image already there, never pulled.

        A digest names the content two ways, and either is accepted: the repository digest an image
        pulled from a registry carries (``docker inspect --format '{{index .RepoDigests 0}}'``), or the
        image ID, which ``docker save | docker load`` keeps (``docker inspect --format '{{.Id}}'``; the
        image must then also carry this repository's name). The container is created from the image
        ID found, so what runs is what was checked. Raises a non-retried Failure when it is absent.
        """
        import docker.errors

        ref = self.image_ref
        found = None
        try:
            found = client.images.get(ref)  # a tag, or a repository digest
        except docker.errors.ImageNotFound:
            if self.tag.startswith("sha256:"):
                try:
                    by_id = client.images.get(self.tag)  # the full 64-hex image ID: an exact match only
                except docker.errors.ImageNotFound:
                    by_id = None
                if by_id is not None and by_id.id == self.tag:
                    if _repository(self.image) not in {_repository(t) for t in by_id.tags}:
                        raise dg.Failure(
                            f"image {self.tag} on {server.name} ({server.base_url}) is not {_repository(self.image)} "
                            f"(its tags: {', '.join(by_id.tags) or 'none'}); refusing to run it", allow_retries=False,
                        ) from None
                    found = by_id
        if found is None:
            raise dg.Failure(
                f"image {ref} is not on {server.name} ({server.base_url}); it is never pulled. Load the "
                "image built from deploy/producer/Dockerfile there (docker load, or docker pull by digest as "
                "an operator), then rerun.", allow_retries=False,
            )
        return found.id if self.tag.startswith("sha256:") else ref

    def secret_files(self, security_env: dict[str, str]) -> tuple[dict[str, str], bytes | None]:
        """The container's Kafka environment without its secrets, and a tar of those secrets as files.

        Each secret ``NAME`` becomes ``NAME_FILE=<secrets_dir>/<name>`` (the producer reads the file),
        so no password is in the container's environment (``docker inspect``) or on a command line.
        """
        env = {k: v for k, v in security_env.items() if k not in SECRET_ENV}
        secrets = {k: v for k, v in security_env.items() if k in SECRET_ENV}
        if not secrets:
            return env, None
        root = self.secrets_dir.strip("/")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            folder = tarfile.TarInfo(root)
            folder.type, folder.mode, folder.uid, folder.gid = tarfile.DIRTYPE, 0o500, self.container_uid, 0
            tar.addfile(folder)
            for name, value in secrets.items():
                data = value.encode("utf-8")
                info = tarfile.TarInfo(f"{root}/{name.lower()}")
                info.size, info.mode, info.uid, info.gid = len(data), 0o400, self.container_uid, 0
                tar.addfile(info, io.BytesIO(data))
        env.update(secret_file_env(secrets, self.secrets_dir))
        return env, buffer.getvalue()

    def producer_args(self, days: list[date], index: int, kafka: KafkaResource, mode: str, speedup: float) -> list[str]:
        """The container command: ``tripclick-producer`` (the image's entrypoint) arguments."""
        names = [s.name for s in self.servers]
        argv = producer_args(  # the image's entrypoint is tripclick-producer
            days=days, server_index=index, servers=names, logs_dir=self.source_dir, kafka=kafka,
            mode=mode, speedup=speedup, delivery_timeout_s=self.delivery_timeout_s,
        )
        s = self.synthetic
        if s.enabled:
            argv += ["--synthetic", "--seed", str(s.seed), "--duplicate-rate", str(s.duplicate_rate),
                     "--malformed-rate", str(s.malformed_rate), "--bot-sessions", str(s.bot_sessions)]
            if s.volume is not None:
                argv += ["--volume", str(s.volume)]
        return argv

    def replay(
        self, context: dg.AssetExecutionContext, days: list[date], *, kafka: KafkaResource,
        mode: str = "batch", speedup: float = 24.0,
    ) -> list[dict]:
        """Runs every server's producer container for ``days`` at once; returns their summaries."""
        image = self.image_ref
        run_tag = f"{context.run.run_id[:8]}-{uuid.uuid4().hex[:6]}"
        labels = producer_labels(context.run.run_id, kafka, days)
        running: list[_Container] = []
        with contextlib.ExitStack() as stack:  # clients, PEM files and Pipes sessions
            clients = [docker_client(server, stack, context.log, self.api_timeout_s, self.api_version)
                       for server in self.servers]
            for server, client in zip(self.servers, clients):  # before any of this step's containers starts
                fence_leftover_containers(client, server.name, labels, log=context.log, stop_timeout=self.stop_timeout_s)
            try:
                for index, (server, client) in enumerate(zip(self.servers, clients)):
                    reader = PipesLineReader()
                    session = stack.enter_context(dg.open_pipes_session(context, dg.PipesEnvContextInjector(), reader))
                    security, secrets = self.secret_files(kafka.security_env())
                    env = {**security, **self.environment, **session.get_bootstrap_env_vars()}
                    args = self.producer_args(days, index, kafka, mode, speedup)
                    name = f"tripclick-producer-{server.name}-{run_tag}"
                    container = self._start(client, server, image, name, args, env, context, secrets,
                                            {**labels, "tripclick.server": server.name})
                    running.append(_Container(server, container, reader, session, self.log_tail_lines, context.log))
                self._stream(running)
                return self._finish(running)
            finally:  # success, failure or termination (an interrupt raised in _stream)
                self._remove_all(running, context.log)

    def _start(self, client, server: DockerServer, image: str, name: str, args: list[str], env: dict, context,
               secrets: bytes | None = None, labels: dict[str, str] | None = None):
        kwargs = dict(
            image=image, command=args, name=name, environment=env, network_mode=self.network_mode,
            volumes=list(self.mounts), detach=True, init=True,  # tini as PID 1: SIGTERM stops the producer
            labels=labels or {"tripclick.run_id": context.run.run_id, "tripclick.server": server.name},
        )
        # never pulled: only an image already on the server runs (containers.create does not pull either)
        kwargs["image"] = self.present_image(client, server)
        container = client.containers.create(**kwargs)
        if secrets is not None:
            try:  # before start: the producer finds its credentials when it starts
                container.put_archive("/", secrets)
            except BaseException:
                container.remove(force=True)
                raise
        container.start()
        context.log.info(f"producer container {name} started on {server.name} ({image})")
        return container

    def _stream(self, running: list[_Container]) -> None:
        """Forwards every container's output until all have ended (the Dagster calls stay on this thread)."""
        lines: queue.Queue = queue.Queue()
        open_streams = 0
        for index, run in enumerate(running):
            for stream in ("stdout", "stderr"):
                threading.Thread(target=_pump, args=(run.container, index, stream, lines), daemon=True).start()
                open_streams += 1
        while open_streams:
            try:
                index, stream, line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                open_streams -= 1
            else:
                running[index].handle(stream, line)

    def _finish(self, running: list[_Container]) -> list[dict]:
        """Every server's summary; one failure naming each server that failed, with its output's tail."""
        summaries, failures, tails = [], [], {}
        for run in running:
            status = run.container.wait(timeout=self.api_timeout_s).get("StatusCode")
            summary = run.summary() if status == 0 else None
            if summary is None:
                why = f"exited with status {status}" if status != 0 else "finished without reporting a summary"
                tails[run.server.name] = "\n".join(run.tail)
                failures.append(f"producer container on {run.server.name} {why}; last output:\n{tails[run.server.name]}")
            summaries.append(summary)
        if failures:
            raise dg.Failure("\n\n".join(failures), metadata={"log_tails": dg.MetadataValue.json(tails)})
        return summaries

    def _remove_all(self, running: list[_Container], log) -> None:
        """Stops (if still running) and removes every started container: success, failure or termination."""
        import docker.errors

        for run in running:
            try:
                run.container.reload()
                if run.container.status in ("created", "running", "restarting", "paused"):
                    log.warning(f"stopping producer container {run.container.name} on {run.server.name}")
                    run.container.stop(timeout=self.stop_timeout_s)
                run.container.remove(force=True)
            except docker.errors.NotFound:
                pass
            except Exception as exc:  # noqa: BLE001 - one server's trouble must not keep the others running
                log.error(f"could not remove producer container {run.container.name} on {run.server.name}: {exc}")


# --- the fence: leftover producer containers of the same days ----------------------------------

_ACTIVE = ("created", "running", "restarting", "paused")


def orchestrator_token() -> str:
    """``host/pid/start ticks`` of this process: the orchestrator a container's label names."""
    from tripclick_assets.services._process import start_ticks

    return f"{socket.gethostname()}/{os.getpid()}/{start_ticks(os.getpid())}"


def orchestrator_alive(token: str | None) -> bool:
    """Whether the process a label names still runs. Another host's process cannot be seen: False."""
    from tripclick_assets.services._process import same_process_alive

    try:
        host, pid, started = (token or "").split("/")
        pid_number, started_ticks = int(pid), (None if started == "None" else int(started))
    except ValueError:
        return False
    return host == socket.gethostname() and same_process_alive(pid_number, started_ticks)


def producer_labels(run_id: str, kafka: KafkaResource, days: list[date]) -> dict[str, str]:
    """What a producer container is labelled with: whose it is and which offsets it writes."""
    return {"tripclick.role": "producer", "tripclick.run_id": run_id, "tripclick.topic": kafka.topic,
            "tripclick.kafka": kafka.bootstrap_servers, "tripclick.first_day": days[0].isoformat(),
            "tripclick.last_day": days[-1].isoformat(), "tripclick.orchestrator": orchestrator_token()}


def fence_leftover_containers(client, server: str, labels: dict[str, str], *, log, stop_timeout: int = 10) -> list[str]:
    """Stops and removes this server's producer containers of the same topic and days left by another step.

    ``labels``: this step's (:func:`producer_labels`). A container of the same Kafka topic whose
    days overlap is a leftover when its orchestrating process is gone (or on another host, where it
    cannot be seen; the run queue runs one run per partition at a time) or is this very process (an
    earlier attempt of this step): stopped and removed. One whose orchestrator still runs here
    belongs to a step running at the same time and is left alone (its records show in bronze as
    repeated deliveries). Returns the names of the containers removed.
    """
    import docker.errors

    topic, kafka = labels["tripclick.topic"], labels["tripclick.kafka"]
    first, last = labels["tripclick.first_day"], labels["tripclick.last_day"]
    removed = []
    # The low-level list: containers.list() inspects each one, which fails if it is removed meanwhile.
    for entry in client.api.containers(all=True, filters={"label": [f"tripclick.topic={topic}"]}):
        theirs = entry.get("Labels") or {}
        if theirs.get("tripclick.kafka") != kafka or not theirs.get("tripclick.first_day"):
            continue
        if theirs["tripclick.first_day"] > last or first > theirs.get("tripclick.last_day", ""):
            continue
        owner = theirs.get("tripclick.orchestrator")
        active = entry.get("State") in _ACTIVE
        name = (entry.get("Names") or [entry["Id"][:12]])[0].lstrip("/")
        what = (f"producer container {name} on {server} (days {theirs['tripclick.first_day']}.."
                f"{theirs.get('tripclick.last_day')}, run {theirs.get('tripclick.run_id')})")
        if owner != labels["tripclick.orchestrator"] and orchestrator_alive(owner):
            if active:
                log.warning(f"{what} belongs to a step still running here: left alone; records both send into "
                            "the same ranges show as repeated deliveries")
            continue
        try:
            if active:
                whose = ("an earlier attempt of this step left it" if owner == labels["tripclick.orchestrator"]
                         else f"its orchestrator {owner} is gone")
                log.warning(f"fencing {what}: {whose} but it still sends into {topic}; stopping it before this "
                            "step produces")
                client.api.stop(entry["Id"], timeout=stop_timeout)
            client.api.remove_container(entry["Id"], force=True)
        except docker.errors.NotFound:
            pass  # removed meanwhile
        removed.append(name)
    return removed
