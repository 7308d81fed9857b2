"""The distributed mode on loopback, every piece of it killable: PostgreSQL, a Kafka broker,
Toxiproxy in front of both, and each service split into API, relay and consumer processes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chaos.toxiproxy import Proxy, Toxiproxy, install
from shared.auth import generate_secret
from shared.embedded_postgres import EmbeddedPostgres, free_port
from shared.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]
KAFKA_SCRIPT = REPO / "deploy" / "kafka" / "kafka.sh"
DATABASE = "changeward"
# The four services of the issue; notify only informs people, it records nothing others read.
SERVICES = ("intake", "review", "execution", "audit")
ROLES = ("api", "relay", "consumer")
READY_TIMEOUT_S = 120.0
KAFKA_TIMEOUT_S = 180.0


class ServiceProcess:
    """One `changeward serve <service> --roles <role>` process, on a fixed port across restarts."""

    def __init__(self, service: str, role: str, env: dict[str, str], logs: Path) -> None:
        self.service = service
        self.role = role
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = env
        self._log = logs / f"{service}-{role}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"{self.service}/{self.role}"

    def start(self) -> None:
        command = [
            *(sys.executable, "-m", "changeward", "serve", self.service),
            *("--roles", self.role, "--port", str(self.port)),
        ]
        with self._log.open("ab") as output:
            self._process = subprocess.Popen(
                command, env=self._env, stdout=output, stderr=subprocess.STDOUT, cwd=REPO
            )

    async def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Until /healthz answers: uvicorn serves only once the lifespan (bus, relays) started."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._process is not None and self._process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self._process.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} not up within {timeout} s; see {self._log}")

    def kill(self) -> None:
        """kill -9: no shutdown, no flush, whatever it was doing."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=30)

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


class Kafka:
    """deploy/kafka/kafka.sh's broker, telling clients to connect through the proxy's port."""

    def __init__(self, data: Path, logs: Path) -> None:
        self.port = free_port()
        self._data = data
        self._log = logs / "kafka-script.log"
        self._env = {
            **os.environ,
            "CHANGEWARD_KAFKA_PORT": str(self.port),
            "CHANGEWARD_KAFKA_CONTROLLER_PORT": str(free_port()),
            "CHANGEWARD_KAFKA_DATA": str(data),
        }

    def advertise(self, port: int) -> None:
        self._env["CHANGEWARD_KAFKA_ADVERTISED_PORT"] = str(port)

    def start(self) -> None:
        """Start (or restart on the same data) and wait until it serves."""
        self._script("up", check=True, timeout=KAFKA_TIMEOUT_S)

    def kill(self) -> None:
        """kill -9 of the broker's JVM; its data directory stays for the restart."""
        pid = int((self._data / "kafka.pid").read_text())
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        self._script("down", check=False, timeout=60)

    def _script(self, command: str, *, check: bool, timeout: float) -> None:
        """deploy/kafka/kafka.sh `command`, its output appended to the broker's log."""
        with self._log.open("ab") as output:
            subprocess.run(
                ["bash", str(KAFKA_SCRIPT), command],
                env=self._env,
                stdout=output,
                stderr=subprocess.STDOUT,
                check=check,
                timeout=timeout,
            )


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Cluster:
    """Everything the suite runs; `direct_database_url` bypasses the proxy, for the checks."""

    workdir: Path
    toxiproxy: Toxiproxy
    postgres: EmbeddedPostgres
    kafka: Kafka
    jwt_secret: str
    postgres_proxy: Proxy | None = None
    kafka_proxy: Proxy | None = None
    processes: dict[tuple[str, str], ServiceProcess] = field(default_factory=dict)

    @property
    def direct_database_url(self) -> str:
        return self.postgres.url(DATABASE)

    def api_url(self, service: str) -> str:
        return self.processes[(service, "api")].url

    async def start(self, say: Callable[[str], None]) -> None:
        begun = time.monotonic()

        def done(what: str) -> None:
            say(f"{what} ({time.monotonic() - begun:.0f} s)")

        self.toxiproxy.start()
        await asyncio.to_thread(self.postgres.start)
        self.postgres.create_database(DATABASE)
        await asyncio.to_thread(upgrade, self.direct_database_url)
        done(f"PostgreSQL on :{self.postgres.port}, migrated")
        self.postgres_proxy = await self.toxiproxy.create("postgres", self.postgres.port)
        self.kafka_proxy = await self.toxiproxy.create("kafka", self.kafka.port)
        self.kafka.advertise(self.kafka_proxy.listen_port)
        # The services start meanwhile: they wait for the broker, as in production.
        broker = asyncio.create_task(asyncio.to_thread(self.kafka.start), name="kafka")
        env = self._service_env()
        logs = self.workdir / "logs"
        for service in SERVICES:
            for role in ROLES:
                self.processes[(service, role)] = ServiceProcess(service, role, env, logs)
        for process in self.processes.values():
            process.start()
        await broker
        done(f"Kafka on :{self.kafka.port} behind the proxy on :{self.kafka_proxy.listen_port}")
        await asyncio.gather(*(process.wait_ready() for process in self.processes.values()))
        done(f"{len(self.processes)} service processes, {'/'.join(ROLES)} of each service")

    def stop(self) -> None:
        """Tear everything down, whatever state a failure left it in."""
        for process in self.processes.values():
            with contextlib.suppress(Exception):
                process.stop()
        with contextlib.suppress(Exception):
            self.kafka.stop()
        with contextlib.suppress(Exception):
            self.postgres.stop(mode="immediate")
        self.toxiproxy.stop()

    def _service_env(self) -> dict[str, str]:
        assert self.postgres_proxy is not None
        assert self.kafka_proxy is not None
        proxied = self.postgres.url(DATABASE).replace(
            f":{self.postgres.port}/", f":{self.postgres_proxy.listen_port}/"
        )
        return {
            **os.environ,
            "CHANGEWARD_DATABASE_URL": proxied,
            "CHANGEWARD_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{self.kafka_proxy.listen_port}",
            "CHANGEWARD_JWT_SECRET": self.jwt_secret,
            "CHANGEWARD_AUDIT_SIGNING_KEY": _signing_key(),
            "CHANGEWARD_DATA_DIR": str(self.workdir / "services"),
            "CHANGEWARD_MIGRATE_ON_START": "false",
            "CHANGEWARD_RELAY_IDLE_POLL_SECONDS": "0.5",
            "CHANGEWARD_DATABASE_POOL_SIZE": "5",
            "CHANGEWARD_LOG_LEVEL": "WARNING",
            "CHANGEWARD_LOG_FORMAT": "console",
        }


def _signing_key() -> str:
    """One ledger signing key for every audit process (each would otherwise make its own)."""
    seed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(seed).decode()


@contextlib.contextmanager
def cluster(workdir: Path) -> Iterator[Cluster]:
    """A cluster under `workdir` (not started); stopped on the way out, however it went."""
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    built = Cluster(
        workdir=workdir,
        toxiproxy=Toxiproxy(install(), workdir / "logs" / "toxiproxy.log"),
        # Durable like production: an immediate stop must lose nothing committed.
        postgres=EmbeddedPostgres(data_dir=workdir / "postgres", port=free_port(), durable=True),
        kafka=Kafka(workdir / "kafka", workdir / "logs"),
        jwt_secret=generate_secret(),
    )
    try:
        yield built
    finally:
        built.stop()
