"""Helpers the tests share: tokens, polling, direct SQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg

from shared.auth import mint_token
from shared.db import asyncpg_dsn

T = TypeVar("T")


class Tokens:
    def __init__(self, secret: str) -> None:
        self.secret = secret

    def headers(
        self, subject: str, *roles: str, ttl: timedelta = timedelta(hours=1)
    ) -> dict[str, str]:
        token = mint_token(self.secret, subject=subject, roles=list(roles), ttl=ttl)
        return {"Authorization": f"Bearer {token}"}


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    *,
    timeout: float = 20.0,
    interval: float = 0.05,
) -> T:
    """Poll `probe` until `until(result)` holds; fail with the last result after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await probe()
        if until(result):
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last result: {result!r}")
        await asyncio.sleep(interval)


async def fetch(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


async def scalar(database_url: str, query: str, *args: Any) -> Any:
    rows = await fetch(database_url, query, *args)
    return rows[0][0] if rows else None


async def create_database(server_url: str, name: str) -> str:
    connection = await asyncpg.connect(asyncpg_dsn(f"{server_url}/postgres"))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return f"{server_url}/{name}"


# The planned window: an hour, two days from now (review refuses to approve a past window).
WINDOW_START = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
WINDOW_END = WINDOW_START + timedelta(hours=1)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


CHANGE_BODY: dict[str, Any] = {
    "title": "Double checkout pods for the sale",
    "category": "hardware",
    "services": ["checkout"],
    "environment": "production",
    "window": {"start": iso(WINDOW_START), "end": iso(WINDOW_END)},
    "plans": {
        "implementation": "Scale checkout from 6 to 12 pods",
        "rollback": "Scale back to 6 pods",
        "verification": "p99 under 300 ms and no 5xx for 15 minutes",
    },
}
