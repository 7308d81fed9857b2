"""A lost database connection answers 503 problem+json once; the next request is served."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from changeward.allinone import create_service_app
from shared.db import asyncpg_dsn
from shared.runtime import ProcessRole
from shared.settings import Settings
from tests.conftest import fresh_database
from tests.support.clients import CHANGE_BODY, Tokens


@pytest.fixture
async def outage_app(pg_server: str, settings: Settings) -> AsyncIterator[tuple[FastAPI, str]]:
    """An API of its own, on a database of its own, so cutting its connections harms no one;
    without relays or consumers, whose polls would meet a cut connection first."""
    database_url = await fresh_database(pg_server)
    application = create_service_app(
        "intake",
        settings.model_copy(update={"database_url": database_url}),
        database_url,
        roles=frozenset({ProcessRole.API}),
    )
    async with application.router.lifespan_context(application):
        yield application, database_url


async def cut_every_connection(database_url: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        killed = await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    return len(killed)


async def test_a_cut_connection_is_a_retryable_503_then_service_resumes(
    outage_app: tuple[FastAPI, str], tokens: Tokens
) -> None:
    application, database_url = outage_app
    rita = tokens.headers("rita", "requester")
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://changeward") as api:
        warm = await api.post("/v1/changes", json=CHANGE_BODY, headers=rita)
        assert warm.status_code == 201, warm.text
        assert await cut_every_connection(database_url) >= 1

        key = {"Idempotency-Key": "outage-retry-1"}
        cut = await api.post("/v1/changes", json=CHANGE_BODY, headers={**rita, **key})
        assert cut.status_code == 503, cut.text
        assert cut.headers["content-type"] == "application/problem+json"
        assert cut.headers["retry-after"] == "1"
        assert cut.json()["code"] == "database-unavailable"

        retried = await api.post("/v1/changes", json=CHANGE_BODY, headers={**rita, **key})
        assert retried.status_code == 201, retried.text
        again = await api.post("/v1/changes", json=CHANGE_BODY, headers={**rita, **key})
        assert again.headers.get("idempotent-replayed") == "true"
        assert again.json()["id"] == retried.json()["id"]
