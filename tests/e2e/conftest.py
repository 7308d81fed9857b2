"""Both run modes as real processes on real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from shared.settings import SERVICES
from tests.conftest import fresh_database
from tests.support.infra import unique_name
from tests.support.processes import Stack, changeward_process


@pytest.fixture(scope="session", params=["all-in-one", "distributed"])
def stack(
    request: pytest.FixtureRequest,
    pg_server: str,
    jwt_secret: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    mode: str = request.param
    workdir: Path = tmp_path_factory.mktemp(mode)
    database_url = asyncio.run(fresh_database(pg_server, migrated=False))
    env = {
        "CHANGEWARD_DATABASE_URL": database_url,
        "CHANGEWARD_JWT_SECRET": jwt_secret,
        "CHANGEWARD_DATA_DIR": str(workdir),
        "CHANGEWARD_RELAY_IDLE_POLL_SECONDS": "0.5",
    }
    with ExitStack() as processes:
        if mode == "all-in-one":
            base = processes.enter_context(changeward_process(["run"], env, workdir / "run.log"))
            yield Stack(mode, {name: base for name in SERVICES})
            return
        kafka_servers: str = request.getfixturevalue("kafka_servers")
        suffix = unique_name("e2e")
        env |= {
            "CHANGEWARD_KAFKA_BOOTSTRAP_SERVERS": kafka_servers,
            "CHANGEWARD_CHANGES_TOPIC": f"changeward.changes.v1.{suffix}",
            "CHANGEWARD_DEPLOYMENTS_TOPIC": f"changeward.deployments.v1.{suffix}",
            "CHANGEWARD_TOPIC_PARTITIONS": "3",
        }
        urls = {
            name: processes.enter_context(
                changeward_process(["serve", name], env, workdir / f"{name}.log")
            )
            for name in SERVICES
        }
        yield Stack(mode, urls)
