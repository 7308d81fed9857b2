"""Starting the real PostgreSQL and Kafka that the tests run against."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.embedded_postgres import EmbeddedPostgres, free_port

REPO = Path(__file__).resolve().parents[2]
KAFKA_SCRIPT = REPO / "deploy" / "kafka" / "kafka.sh"


@contextmanager
def postgres_server(workdir: Path) -> Iterator[str]:
    """A server URL (without database): `CHANGEWARD_DATABASE_URL`'s server, or an embedded one."""
    external = os.environ.get("CHANGEWARD_DATABASE_URL")
    if external:
        yield external.rsplit("/", 1)[0]
        return
    server = EmbeddedPostgres(data_dir=workdir / "postgres", port=free_port(), durable=False)
    server.start()
    try:
        yield server.url("").rstrip("/")
    finally:
        server.stop(mode="immediate")


@contextmanager
def kafka_broker(workdir: Path) -> Iterator[str]:
    """`CHANGEWARD_KAFKA_BOOTSTRAP_SERVERS`, or a broker started for the session."""
    external = os.environ.get("CHANGEWARD_KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
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
        subprocess.run(["bash", str(KAFKA_SCRIPT), "down"], check=False, env=env)


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"
