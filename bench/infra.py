"""What the benchmarks run against: their own PostgreSQL, Kafka and server processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from shared.embedded_postgres import EmbeddedPostgres, free_port
from shared.settings import SERVICES

REPO = Path(__file__).resolve().parents[1]
KAFKA_SCRIPT = REPO / "deploy" / "kafka" / "kafka.sh"
START_TIMEOUT_S = 90.0


@contextmanager
def postgres(workdir: Path) -> Iterator[EmbeddedPostgres]:
    # Durable (fsync on) like production: commit latency is part of what we measure.
    server = EmbeddedPostgres(data_dir=workdir / "postgres", port=free_port(), durable=True)
    server.start()
    try:
        yield server
    finally:
        server.stop(mode="fast")


@contextmanager
def kafka(workdir: Path, *, existing: str | None = None) -> Iterator[str]:
    """A broker of the run's own, or `existing` (host:port), left running."""
    if existing:
        yield existing
        return
    port, controller_port = free_port(), free_port()
    env = {
        **os.environ,
        "CHANGEWARD_KAFKA_PORT": str(port),
        "CHANGEWARD_KAFKA_CONTROLLER_PORT": str(controller_port),
        "CHANGEWARD_KAFKA_DATA": str(workdir / "kafka"),
    }
    subprocess.run(["bash", str(KAFKA_SCRIPT), "up"], check=True, env=env)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run(["bash", str(KAFKA_SCRIPT), "down", "--purge"], check=False, env=env)


@contextmanager
def server_process(
    command: list[str], *, port: int, env: dict[str, str], log: Path, ready_path: str
) -> Iterator[str]:
    """A server subprocess on 127.0.0.1:`port`, yielded once `ready_path` answers 200."""
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT, cwd=REPO
        )
        try:
            _wait_ready(process, f"{url}{ready_path}", log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready within {START_TIMEOUT_S} s:\n{log.read_text()}")


def _changeward_env(
    workdir: Path, database_url: str, secret: str, port: int, kafka_servers: str | None
) -> dict[str, str]:
    env = {
        "CHANGEWARD_DATABASE_URL": database_url,
        "CHANGEWARD_JWT_SECRET": secret,
        "CHANGEWARD_DATA_DIR": str(workdir / f"changeward-{port}"),
        "CHANGEWARD_LOG_LEVEL": "WARNING",
    }
    if kafka_servers:
        env["CHANGEWARD_KAFKA_BOOTSTRAP_SERVERS"] = kafka_servers
    return env


@contextmanager
def changeward(
    workdir: Path, database_url: str, secret: str, *, kafka_servers: str | None = None
) -> Iterator[str]:
    """`changeward run` (the all-in-one app) on a free port; in-process bus unless Kafka."""
    port = free_port()
    command = [sys.executable, "-m", "changeward", "run", "--port", str(port)]
    with server_process(
        command,
        port=port,
        env=_changeward_env(workdir, database_url, secret, port, kafka_servers),
        log=workdir / f"changeward-{port}.log",
        ready_path="/readyz",
    ) as url:
        yield url


@contextmanager
def distributed(
    workdir: Path, database_url: str, secret: str, kafka_servers: str
) -> Iterator[dict[str, str]]:
    """The production topology: one `changeward serve <service>` process per service, each
    with its routes, relay and consumers, talking through Kafka; their URLs by service."""
    with ExitStack() as stack:
        urls: dict[str, str] = {}
        for service in SERVICES:
            port = free_port()
            command = [sys.executable, "-m", "changeward", "serve", service, "--port", str(port)]
            urls[service] = stack.enter_context(
                server_process(
                    command,
                    port=port,
                    env=_changeward_env(workdir, database_url, secret, port, kafka_servers),
                    log=workdir / f"{service}-{port}.log",
                    ready_path="/readyz",
                )
            )
        yield urls


@contextmanager
def ceiling(workdir: Path, database_url: str) -> Iterator[str]:
    """The bare FastAPI + asyncpg app of bench/ceiling_app.py under uvicorn."""
    port = free_port()
    command = [
        sys.executable,
        *("-m", "uvicorn", "bench.ceiling_app:app"),
        *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        "--no-access-log",
    ]
    env = {"BENCH_DATABASE_URL": database_url}
    with server_process(
        command, port=port, env=env, log=workdir / "ceiling.log", ready_path="/healthz"
    ) as url:
        yield url
