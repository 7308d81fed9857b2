"""What a consumer does with an event whose handler fails for a reason other than an outage."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.models import tables as intake_tables
from shared.bus import Message
from shared.contracts import ChangeCancelled, EventType
from shared.db import Database
from shared.events import CloudEvent, full_type, source_of
from shared.inbox import IdempotentConsumer
from tests.conftest import fresh_database
from tests.support.clients import fetch


@pytest.fixture(scope="module")
async def database(pg_server: str) -> AsyncIterator[Database]:
    db = Database(await fresh_database(pg_server))
    yield db
    await db.dispose()


def _message() -> tuple[Message, uuid.UUID]:
    event = CloudEvent(
        source=source_of("intake"),
        type=full_type(EventType.CHANGE_CANCELLED),
        subject=str(uuid.uuid4()),
        sequence=1,
        actor="tester",
        data=ChangeCancelled(reason="test").model_dump(mode="json"),
    )
    return Message(topic="changes", key=event.subject, value=event.to_json()), event.id


class FailsFirst:
    """A handler with a bug for its first `failures` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.applied = 0

    async def __call__(self, session: AsyncSession, event: CloudEvent) -> None:
        if self.failures:
            self.failures -= 1
            raise ValueError("a bug in the handler")
        self.applied += 1


async def _inbox(database: Database, event_id: uuid.UUID) -> list[tuple[str, str | None]]:
    rows = await fetch(
        database.url, "SELECT outcome, error FROM intake.inbox WHERE event_id = $1", event_id
    )
    return [(row["outcome"], row["error"]) for row in rows]


async def test_by_default_a_poison_event_is_recorded_as_failed_and_skipped(
    database: Database,
) -> None:
    handler = FailsFirst(failures=1)
    consumer = IdempotentConsumer(intake_tables, database, {EventType.CHANGE_CANCELLED: handler})
    message, event_id = _message()
    await consumer(message)
    [(outcome, error)] = await _inbox(database, event_id)
    assert outcome == "failed"
    assert error is not None
    assert "a bug in the handler" in error
    await consumer(message)  # redelivered: already settled, not applied
    assert handler.applied == 0


async def test_a_consumer_that_must_not_skip_retries_until_the_handler_succeeds(
    database: Database,
) -> None:
    handler = FailsFirst(failures=2)
    consumer = IdempotentConsumer(
        intake_tables, database, {EventType.CHANGE_CANCELLED: handler}, retry_failures=True
    )
    message, event_id = _message()
    for _ in range(2):
        with pytest.raises(ValueError, match="a bug in the handler"):
            await consumer(message)
        assert await _inbox(database, event_id) == []  # nothing settled: the bus delivers again
    await consumer(message)
    assert await _inbox(database, event_id) == [("applied", None)]
    assert handler.applied == 1
