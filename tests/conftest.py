"""Session fixtures: one PostgreSQL and one Kafka for the whole run, a fresh database per suite."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from changeward.allinone import create_app
from shared import migrate
from shared.auth import generate_secret
from shared.settings import Settings, get_settings
from tests.support.clients import Tokens, create_database
from tests.support.infra import kafka_broker, postgres_server, unique_name


@pytest.fixture(autouse=True)
def _settings_read_afresh() -> Iterator[None]:
    """`get_settings()` caches what the environment said when first called; code under test
    that calls it (review's lock timeout, the CLI) must see each test's own environment."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("infra")


@pytest.fixture(scope="session")
def pg_server(workdir: Path) -> Iterator[str]:
    with postgres_server(workdir) as url:
        yield url


@pytest.fixture(scope="session")
def kafka_servers(workdir: Path) -> Iterator[str]:
    with kafka_broker(workdir) as servers:
        yield servers


@pytest.fixture(scope="session")
def jwt_secret() -> str:
    return generate_secret()


@pytest.fixture(scope="session")
def tokens(jwt_secret: str) -> Tokens:
    return Tokens(jwt_secret)


async def fresh_database(pg_server: str, *, migrated: bool = True) -> str:
    url = await create_database(pg_server, unique_name("changeward_test"))
    if migrated:
        await asyncio.to_thread(migrate.upgrade, url)
    return url


@pytest.fixture(scope="session")
async def database_url(pg_server: str) -> str:
    """A migrated database shared by the in-process API tests (they use unique ids)."""
    return await fresh_database(pg_server)


@pytest.fixture(scope="session")
def settings(database_url: str, jwt_secret: str) -> Settings:
    return Settings(
        database_url=database_url,
        jwt_secret=jwt_secret,
        audit_signing_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        relay_idle_poll_seconds=0.2,
        notify_secret_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        # The tests' webhook receivers listen on 127.0.0.1.
        notify_allow_private_receivers=True,
    )


@pytest.fixture(scope="session")
def kafka_settings(kafka_servers: str, jwt_secret: str) -> Settings:
    """Settings on the real broker with topics of this session's own."""
    suffix = unique_name("t")
    return Settings(
        jwt_secret=jwt_secret,
        kafka_bootstrap_servers=kafka_servers,
        changes_topic=f"changeward.changes.v1.{suffix}",
        deployments_topic=f"changeward.deployments.v1.{suffix}",
        topic_partitions=3,
        relay_idle_poll_seconds=0.2,
        notify_secret_key=base64.b64encode(secrets.token_bytes(32)).decode(),
        notify_allow_private_receivers=True,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings, database_url: str) -> AsyncIterator[FastAPI]:
    """The all-in-one app (in-process bus), its lifespan running for the session."""
    application = create_app(settings, database_url)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://changeward") as client:
        yield client
