"""Two requests creating a template of the same name at once: one 201, one 409, one row."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx

from shared.db import asyncpg_dsn
from tests.support.clients import CHANGE_BODY, Tokens, eventually, scalar

PROBLEM = "application/problem+json"


def _template(name: str) -> dict[str, Any]:
    return {"name": name, "category": "hardware", "plans": CHANGE_BODY["plans"]}


async def _inserts_waiting(database_url: str) -> int:
    return int(
        await scalar(
            database_url,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO intake.change_template%'",
        )
    )


async def _rows_named(database_url: str, name: str) -> int:
    return int(
        await scalar(
            database_url, "SELECT count(*) FROM intake.change_template WHERE name = $1", name
        )
    )


def _assert_one_created_the_rest_refused(responses: list[httpx.Response]) -> None:
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * (len(responses) - 1), [r.text for r in responses]
    for refused in (response for response in responses if response.status_code == 409):
        assert refused.headers["content-type"].startswith(PROBLEM)
        assert refused.json()["code"] == "template-name-taken"
        assert refused.json()["status"] == 409


async def test_both_pass_the_name_check_and_the_loser_gets_a_409(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    lead = tokens.headers("lena", "change_lead")
    name = f"race-{uuid.uuid4().hex[:8]}"
    # Holding a lock that lets reads through but not inserts, both requests find the name free
    # and then wait at their INSERT; released, both insert, and one hits the unique constraint.
    holder = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("LOCK TABLE intake.change_template IN SHARE ROW EXCLUSIVE MODE")
        creates = [
            asyncio.create_task(api.post("/v1/templates", json=_template(name), headers=lead))
            for _ in range(2)
        ]
        await eventually(lambda: _inserts_waiting(database_url), lambda waiting: waiting == 2)
        await transaction.rollback()
        responses = await asyncio.gather(*creates)
    finally:
        await holder.close()

    _assert_one_created_the_rest_refused(responses)
    assert await _rows_named(database_url, name) == 1


async def test_many_creates_at_once_make_one_template(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    lead = tokens.headers("lena", "change_lead")
    name = f"burst-{uuid.uuid4().hex[:8]}"
    responses = await asyncio.gather(
        *(api.post("/v1/templates", json=_template(name), headers=lead) for _ in range(6))
    )
    _assert_one_created_the_rest_refused(responses)
    assert await _rows_named(database_url, name) == 1
