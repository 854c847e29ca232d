"""Real servers on loopback for the remote-execution tests: dockerd (TLS), sshd, a droppable TCP proxy.

Every daemon is started by the tests, in its own process group, and stopped by pid in a
finalizer (zombie-aware: PID 1 may not reap orphans here). Nothing here needs Docker Hub:
the base image is a debootstrap rootfs imported with the Docker API.
"""

import datetime as dt
import fcntl
import hashlib
import ipaddress
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from tripclick_assets.services._process import ServiceError, is_alive, stop_pid, tcp_accepts, wait_until, with_log

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("TRIPCLICK_TEST_CACHE", "/var/cache/tripclick-tests"))
DEBIAN_MIRROR = os.environ.get("TRIPCLICK_TEST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# The base image's packages: what the producer Dockerfile expects of BASE_IMAGE (python3.11 + venv).
DEBOOTSTRAP_ARGS = ["--variant=minbase", "--include=python3,python3-venv,ca-certificates", "bookworm"]


class Unavailable(Exception):
    """This machine cannot run the server; the message is the skip reason."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise Unavailable(f"{what} needs root (running as uid {os.geteuid()})")


def require_binary(path: str, package: str) -> None:
    if not os.access(path, os.X_OK):
        raise Unavailable(f"{path} is missing: install Debian's {package} (scripts/system-deps.sh does, as root)")


def stop_daemon(process: subprocess.Popen | None, timeout: float = 20) -> None:
    """SIGTERM the daemon's process group, then SIGKILL; reaps our child (a zombie counts as stopped)."""
    if process is None:
        return
    stop_pid(process.pid, timeout=timeout)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _spawn(argv: list[str], log_path: Path, env: dict | None = None) -> subprocess.Popen:
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, env=env)
    finally:
        log.close()


# --- TLS for the Docker API ------------------------------------------------------------------


def make_tls(directory: Path) -> dict[str, Path]:
    """A throw-away CA, a server certificate for 127.0.0.1 and a client certificate (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(key, path):
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        path.chmod(0o600)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("tripclick test CA")).issuer_name(name("tripclick test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    paths = {"ca": directory / "ca.pem"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for role, usage in (("server", ExtendedKeyUsageOID.SERVER_AUTH), ("client", ExtendedKeyUsageOID.CLIENT_AUTH)):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(name(f"tripclick test {role}")).issuer_name(ca.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
                   .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if role == "server":
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        paths[f"{role}_cert"] = directory / f"{role}-cert.pem"
        paths[f"{role}_key"] = directory / f"{role}-key.pem"
        paths[f"{role}_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        write_key(key, paths[f"{role}_key"])
    return paths


# --- dockerd ---------------------------------------------------------------------------------


class Dockerd:
    """A private dockerd: unix socket (for the tests' own set-up) and TLS-verified TCP on 127.0.0.1."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.socket = directory / "docker.sock"
        self.port = free_port()
        self.log_path = directory / "dockerd.log"
        self.tls: dict[str, Path] = {}
        self.process: subprocess.Popen | None = None

    @property
    def tcp_url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def unix_url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 60) -> None:
        require_root("dockerd")
        require_binary("/usr/sbin/dockerd", "docker.io")
        self.tls = make_tls(self.dir / "tls")
        root = self.dir / "data"
        argv = [
            "/usr/sbin/dockerd", "--data-root", str(root), "--exec-root", str(self.dir / "exec"),
            "-H", self.unix_url, "-H", f"tcp://127.0.0.1:{self.port}",
            "--tlsverify", "--tlscacert", str(self.tls["ca"]), "--tlscert", str(self.tls["server_cert"]),
            "--tlskey", str(self.tls["server_key"]),
            "--iptables=false", "--ip-masq=false", "--bridge=none", "--pidfile", str(self.dir / "dockerd.pid"),
            "--storage-driver=overlay2",
        ]
        self.process = _spawn(argv, self.log_path)

        def ready() -> bool:
            if self.process.poll() is not None:
                raise ServiceError(with_log(f"dockerd exited with status {self.process.returncode}", self.log_path))
            return self.socket.exists() and tcp_accepts("127.0.0.1", self.port)

        try:
            wait_until(ready, timeout, "dockerd")
            self.client().ping()
        except Exception as exc:
            self.stop()
            raise Unavailable(f"dockerd could not start here: {exc}") from None

    def client(self, timeout: int = 300):
        import docker

        return docker.DockerClient(base_url=self.unix_url, version="auto", timeout=timeout)

    def stop(self) -> None:
        stop_daemon(self.process)
        self.process = None
        # A killed daemon can leave overlay mounts behind; they would keep the temp dir busy.
        for line in reversed(Path("/proc/mounts").read_text().splitlines()):
            mount_point = line.split()[1]
            if mount_point.startswith(str(self.dir)):
                subprocess.run(["umount", "-l", mount_point], check=False, capture_output=True)


# --- images ----------------------------------------------------------------------------------


def bookworm_rootfs_tarball() -> Path:
    """The debootstrap rootfs as a tarball, built once and cached outside the repo (minutes the first time)."""
    require_root("debootstrap")
    require_binary("/usr/sbin/debootstrap", "debootstrap")
    key = hashlib.sha256(" ".join(DEBOOTSTRAP_ARGS + [DEBIAN_MIRROR]).encode()).hexdigest()[:12]
    tarball = CACHE / f"bookworm-minbase-{key}.tar"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time; the others reuse its tarball
        if tarball.exists():
            return tarball
        work = CACHE / f"build-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        rootfs = work / "rootfs"
        log_path = CACHE / "debootstrap.log"
        try:
            with open(log_path, "wb") as log:
                done = subprocess.run(["/usr/sbin/debootstrap", *DEBOOTSTRAP_ARGS, str(rootfs), DEBIAN_MIRROR],
                                      stdout=log, stderr=subprocess.STDOUT, timeout=1200)
            if done.returncode != 0:
                raise Unavailable(with_log(f"debootstrap from {DEBIAN_MIRROR} failed ({done.returncode})", log_path))
            for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):  # 90 MB the image does not need
                for path in (rootfs / leftover).glob("*"):
                    if path.is_file():
                        path.unlink()
            partial = tarball.with_suffix(".partial")
            subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True)
            partial.replace(tarball)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return tarball


def import_base_image(client, tarball: Path) -> str:
    """docker import of the rootfs, plus this machine's CA bundle (pip in image builds trusts what the host trusts)."""
    tag = f"tripclick-test/bookworm:{tarball.stem.rsplit('-', 1)[-1]}"
    client.api.import_image_from_file(str(tarball), repository=tag.split(":")[0], tag=tag.split(":")[1])
    build_dir = CACHE / f"trust-{os.getpid()}"
    build_dir.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copy("/etc/ssl/certs/ca-certificates.crt", build_dir / "ca-certificates.crt")
        (build_dir / "Dockerfile").write_text(
            f"FROM {tag}\nCOPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n"
            "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt\n")
        build(client, build_dir, "tripclick-test/python-base:latest")
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)
    return "tripclick-test/python-base:latest"


def build(client, context: Path, tag: str, dockerfile: str = "Dockerfile", buildargs: dict | None = None) -> str:
    """``docker build`` (the classic builder, host network) through the API; raises with the build log."""
    import docker.errors

    output = []
    try:
        for chunk in client.api.build(path=str(context), dockerfile=dockerfile, tag=tag, buildargs=buildargs or {},
                                      network_mode="host", rm=True, forcerm=True, decode=True):
            output.append(chunk.get("stream") or chunk.get("error") or "")
            if "error" in chunk:
                raise RuntimeError(f"docker build of {tag} failed:\n{''.join(output)[-4000:]}")
    except docker.errors.APIError as exc:
        raise RuntimeError(f"docker build of {tag} failed: {exc}\n{''.join(output)[-4000:]}") from None
    return tag


def producer_build_context(directory: Path) -> Path:
    """Exactly what deploy/producer/Dockerfile copies (a repo-root context would send .venv along)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, directory / name)
    shutil.copytree(REPO / "tripclick_assets", directory / "tripclick_assets",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for lock in ("deploy/build-tools.lock", "deploy/producer/requirements.lock"):  # the hash-checked installs
        (directory / lock).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / lock, directory / lock)
    shutil.copy(REPO / "deploy" / "producer" / "Dockerfile", directory / "Dockerfile")
    return directory


# --- sshd ------------------------------------------------------------------------------------


class Sshd:
    """A second sshd on 127.0.0.1 with its own host key and one authorized client key (ed25519)."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.port = free_port()
        self.log_path = directory / "sshd.log"
        self.host_key = directory / "ssh_host_ed25519_key"
        self.client_key = directory / "client_ed25519"
        self.known_hosts = directory / "known_hosts"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> None:
        require_root("sshd (the remote command runs as root here)")
        require_binary("/usr/sbin/sshd", "openssh-server")
        require_binary("/usr/bin/ssh-keygen", "openssh-client")
        self.dir.mkdir(parents=True, exist_ok=True)
        for key in (self.host_key, self.client_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", key.name, "-f", str(key)], check=True)
        shutil.copy(f"{self.client_key}.pub", self.dir / "authorized_keys")
        host_public = Path(f"{self.host_key}.pub").read_text().split()
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {host_public[0]} {host_public[1]}\n")
        config = self.dir / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"PidFile {self.dir / 'sshd.pid'}", f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
            "UsePAM no", "StrictModes no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", "Subsystem sftp internal-sftp", "LogLevel VERBOSE",
            "MaxStartups 50", "ClientAliveInterval 0", "",
        ]))
        Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)  # privilege separation directory
        self.process = _spawn(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], self.log_path)

        def ready() -> bool:
            if self.process.poll() is not None:
                raise ServiceError(with_log(f"sshd exited with status {self.process.returncode}", self.log_path))
            return tcp_accepts("127.0.0.1", self.port)

        try:
            wait_until(ready, timeout, "sshd")
        except ServiceError as exc:
            self.stop()
            raise Unavailable(f"sshd could not start here: {exc}") from None

    def stop(self) -> None:
        stop_daemon(self.process)
        self.process = None


# --- a TCP proxy whose connections the tests can cut -----------------------------------------


class DroppableProxy:
    """Forwards 127.0.0.1:port to a target; ``drop()`` cuts every open connection (new ones still work)."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.accepted = 0
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self.connections += [client, upstream]
                self.accepted += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def drop(self) -> None:
        with self._lock:
            connections, self.connections = self.connections, []
        for sock in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        self.drop()


# --- remote processes (the "remote" host is this machine) ------------------------------------


def processes_matching(text: str) -> list[int]:
    """Live (non-zombie) pids whose command line contains ``text``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in argv and is_alive(int(proc.name)):
            found.append(int(proc.name))
    return found


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
