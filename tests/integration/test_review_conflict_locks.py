"""Review's conflict locks: one per environment and service a change names.

Changes of other services never wait for each other; changes that may conflict are
assessed one after the other and see each other; a lock held too long is a retryable 503
to a request and a redelivery to a consumer, never a wait without end.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from services.review import decisions, service
from services.review.app import SERVICE
from services.review.domain import ReviewStatus
from services.review.schemas import ApprovalCreate
from shared.auth import Principal, Role
from shared.bus import Message
from shared.contracts import ChangeSnapshot, Decision, EventType
from shared.db import Database
from shared.events import CloudEvent, full_type, source_of
from shared.runtime import consumer_of
from shared.settings import get_settings
from tests.conftest import fresh_database
from tests.integration.test_review_support import (
    change_body,
    decide,
    review,
    submit,
    unique_service,
    window,
)
from tests.support.clients import Tokens, eventually, fetch, scalar

# Short, so that a request blocked by a held lock gives up within the test.
SHORT_LOCK_TIMEOUT_MS = 300
LOCK_NOT_AVAILABLE = "55P03"
MANAGER = Principal(subject="mona", roles=frozenset({Role.CHANGE_MANAGER}))


@pytest.fixture(scope="module")
async def database(pg_server: str) -> AsyncIterator[Database]:
    """A database of their own: no relay publishes what these tests assess directly."""
    db = Database(await fresh_database(pg_server))
    yield db
    await db.dispose()


@contextmanager
def review_lock_timeout(milliseconds: int) -> Iterator[None]:
    """Review reads the lock timeout from the process's settings."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHANGEWARD_REVIEW_LOCK_TIMEOUT_MS", str(milliseconds))
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()


def snapshot(services: list[str], slot: dict[str, str]) -> ChangeSnapshot:
    body = change_body(services=services, window=slot)
    return ChangeSnapshot.model_validate(
        {**body, "change_id": uuid.uuid4(), "requester": "rita", "version": 1}
    )


async def assess(database: Database, change: ChangeSnapshot) -> None:
    async with database.sessionmaker() as session, session.begin():
        await service.assess_change(session, change)


@asynccontextmanager
async def holding(database: Database, change_id: uuid.UUID) -> AsyncIterator[None]:
    """A transaction holding the locks a decision on `change_id` takes; rolled back after."""
    async with database.sessionmaker() as session:
        assert await service.locked(session, change_id) is not None
        yield


async def conflicts_of(database: Database, change_id: uuid.UUID) -> list[uuid.UUID]:
    found = await scalar(
        database.url, "SELECT conflicts FROM review.assessment WHERE change_id = $1", change_id
    )
    assert found is not None, f"{change_id} was not assessed"
    return list(found)


async def waits_for_an_advisory_lock(database: Database, pid: int) -> bool:
    waiting = await scalar(
        database.url,
        "SELECT count(*) FROM pg_locks WHERE pid = $1 AND locktype = 'advisory' AND NOT granted",
        pid,
    )
    return bool(waiting)


def sqlstate(error: DBAPIError) -> Any:
    return getattr(error.orig, "sqlstate", None)


async def test_a_held_lock_of_one_service_does_not_block_changes_of_another(
    database: Database,
) -> None:
    held_service, other_service, slot = unique_service(), unique_service(), window()
    held, other = snapshot([held_service], slot), snapshot([other_service], slot)
    await assess(database, held)
    await assess(database, other)

    with review_lock_timeout(SHORT_LOCK_TIMEOUT_MS):
        async with holding(database, held.change_id):
            # Same environment and window: each would give up on a lock held for held_service.
            newcomer = snapshot([other_service], window(days=8))
            await assess(database, newcomer)
            async with database.sessionmaker() as session, session.begin():
                decided = await decisions.record_decision(
                    session, other.change_id, ApprovalCreate(decision=Decision.APPROVE), MANAGER
                )
            same_service = snapshot([held_service], window(days=8))
            with pytest.raises(DBAPIError) as gave_up:
                await assess(database, same_service)

    assert decided.status is ReviewStatus.APPROVED
    assert await conflicts_of(database, newcomer.change_id) == []
    assert sqlstate(gave_up.value) == LOCK_NOT_AVAILABLE
    await assess(database, same_service)
    assert await conflicts_of(database, same_service.change_id) == []


async def test_changes_of_one_service_assessed_at_once_see_each_other(
    database: Database,
) -> None:
    shared_service, slot = unique_service(), window(days=5)
    first = snapshot([unique_service(), shared_service], slot)
    second = snapshot([shared_service, unique_service()], slot)

    async with database.sessionmaker() as one, database.sessionmaker() as two:
        await service.assess_change(one, first)  # holds shared_service's lock, not committed
        waiter = await two.scalar(select(func.pg_backend_pid()))
        assert waiter is not None
        assessing = asyncio.create_task(service.assess_change(two, second))
        await eventually(lambda: waits_for_an_advisory_lock(database, waiter), bool)
        await one.commit()
        await assessing
        await two.commit()

    assert await conflicts_of(database, second.change_id) == [first.change_id]
    assert await conflicts_of(database, first.change_id) == [second.change_id]


async def test_an_event_that_meets_a_held_lock_is_delivered_again(database: Database) -> None:
    consumer = consumer_of(SERVICE, database)
    contended, slot = unique_service(), window(days=6)
    held = snapshot([contended], slot)
    await assess(database, held)
    arriving = snapshot([contended], slot)
    event = CloudEvent(
        source=source_of("intake"),
        type=full_type(EventType.CHANGE_REQUESTED),
        subject=str(arriving.change_id),
        sequence=1,
        actor="rita",
        data=arriving.model_dump(mode="json"),
    )
    message = Message(topic="changes", key=event.subject, value=event.to_json())

    with review_lock_timeout(SHORT_LOCK_TIMEOUT_MS):
        async with holding(database, held.change_id):
            with pytest.raises(DBAPIError) as gave_up:
                await consumer(message)
            inbox_while_held = await fetch(
                database.url, "SELECT outcome FROM review.inbox WHERE event_id = $1", event.id
            )
        await consumer(message)

    assert sqlstate(gave_up.value) == LOCK_NOT_AVAILABLE
    assert inbox_while_held == []  # not settled as failed: the bus delivers it again
    settled = await fetch(
        database.url, "SELECT outcome FROM review.inbox WHERE event_id = $1", event.id
    )
    assert [row["outcome"] for row in settled] == ["applied"]
    assert await conflicts_of(database, arriving.change_id) == [held.change_id]


async def test_a_lock_held_too_long_is_a_retryable_503(
    api: httpx.AsyncClient, tokens: Tokens, database_url: str
) -> None:
    contended = unique_service()
    held = await submit(api, tokens, change_body(services=[contended], window=window(days=3)))
    waiting = await submit(api, tokens, change_body(services=[contended], window=window(days=9)))
    other = await submit(api, tokens, change_body(window=window(days=3)))
    for change_id in (held, waiting, other):
        await review(api, tokens, change_id)
    database = Database(database_url, pool_size=1)
    try:
        with review_lock_timeout(SHORT_LOCK_TIMEOUT_MS):
            async with holding(database, uuid.UUID(held)):
                elsewhere = await decide(api, tokens, other, "mona")
                busy = await decide(api, tokens, waiting, "mona")
            retried = await decide(api, tokens, waiting, "mona")
    finally:
        await database.dispose()

    assert elsewhere.status_code == 201, elsewhere.text
    assert busy.status_code == 503, busy.text
    assert busy.headers["content-type"] == "application/problem+json"
    assert busy.headers["retry-after"] == "1"
    assert busy.json()["code"] == "database-busy"
    assert retried.status_code == 201, retried.text
    assert retried.json()["status"] == "approved"
