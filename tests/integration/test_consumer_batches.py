"""Consecutive events handled as one batch: one transaction, each event still applied once."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.app import SERVICE as AUDIT
from services.intake.models import tables as intake_tables
from shared.bus import Message
from shared.contracts import ChangeCancelled, EventType
from shared.db import Database
from shared.events import CloudEvent, full_type, source_of
from shared.inbox import IdempotentConsumer
from shared.runtime import consumer_of
from tests.conftest import fresh_database
from tests.support.clients import fetch


@pytest.fixture(scope="module")
async def database(pg_server: str) -> AsyncIterator[Database]:
    db = Database(await fresh_database(pg_server))
    yield db
    await db.dispose()


def _message(subject: str, reason: str = "test") -> Message:
    event = CloudEvent(
        source=source_of("intake"),
        type=full_type(EventType.CHANGE_CANCELLED),
        subject=subject,
        sequence=1,
        actor="tester",
        data=ChangeCancelled(reason=reason).model_dump(mode="json"),
    )
    return Message(topic="changes", key=subject, value=event.to_json())


def _id(message: Message) -> uuid.UUID:
    return CloudEvent.from_json(message.value).id


async def test_the_ledger_appends_a_batch_in_order_once_per_event(database: Database) -> None:
    subject = str(uuid.uuid4())
    first, second, third = (_message(subject, reason) for reason in ("a", "b", "c"))
    consumer = consumer_of(AUDIT, database)
    await consumer(second)  # already in the ledger before the batch arrives

    await consumer.handle_batch([first, second, first, third])

    rows = await fetch(
        database.url,
        "SELECT event_id FROM audit.ledger_entry WHERE subject = $1 ORDER BY sequence",
        subject,
    )
    assert [row["event_id"] for row in rows] == [_id(second), _id(first), _id(third)]
    inbox = await fetch(database.url, "SELECT outcome FROM audit.inbox WHERE subject = $1", subject)
    assert [row["outcome"] for row in inbox] == ["applied"] * 3


class PoisonAware:
    """Handlers that fail on events whose reason is `poison`, alone or in a batch."""

    def __init__(self) -> None:
        self.applied: list[str] = []

    async def one(self, session: AsyncSession, event: CloudEvent) -> None:
        if event.data["reason"] == "poison":
            raise ValueError("poison")
        self.applied.append(event.data["reason"])

    async def batch(self, session: AsyncSession, events: Sequence[CloudEvent]) -> None:
        for event in events:
            await self.one(session, event)


async def test_a_poison_event_in_a_batch_does_not_sink_its_neighbours(database: Database) -> None:
    subject = str(uuid.uuid4())
    handlers = PoisonAware()
    consumer = IdempotentConsumer(
        intake_tables,
        database,
        {EventType.CHANGE_CANCELLED: handlers.one},
        handle_batch=handlers.batch,
    )
    messages = [_message(subject, reason) for reason in ("a", "poison", "b")]

    await consumer.handle_batch(messages)

    # The batch rolled back at the poison, then each event was settled on its own.
    assert handlers.applied == ["a", "a", "b"]
    rows = await fetch(
        database.url,
        "SELECT event_id, outcome FROM intake.inbox WHERE subject = $1",
        subject,
    )
    outcomes = {row["event_id"]: row["outcome"] for row in rows}
    assert outcomes == {
        _id(messages[0]): "applied",
        _id(messages[1]): "failed",
        _id(messages[2]): "applied",
    }


async def test_without_a_batch_handler_each_event_handler_runs_in_one_transaction(
    database: Database,
) -> None:
    subject = str(uuid.uuid4())
    transactions: list[int] = []

    async def handle(session: AsyncSession, event: CloudEvent) -> None:
        transactions.append(await session.scalar(text("SELECT txid_current()")))

    consumer = IdempotentConsumer(intake_tables, database, {EventType.CHANGE_CANCELLED: handle})
    first, second = _message(subject, "a"), _message(subject, "b")
    await consumer(first)  # applied before the batch: the batch must not apply it again

    await consumer.handle_batch([first, second, _message(subject, "c")])

    assert len(transactions) == 3
    assert transactions[1] == transactions[2], "the batch's two new events shared a transaction"
    inbox = await fetch(
        database.url, "SELECT outcome FROM intake.inbox WHERE subject = $1", subject
    )
    assert [row["outcome"] for row in inbox] == ["applied"] * 3


async def test_without_a_batch_handler_a_poison_event_is_still_settled_alone(
    database: Database,
) -> None:
    subject = str(uuid.uuid4())
    handlers = PoisonAware()
    consumer = IdempotentConsumer(
        intake_tables, database, {EventType.CHANGE_CANCELLED: handlers.one}
    )
    messages = [_message(subject, reason) for reason in ("a", "poison", "b")]

    await consumer.handle_batch(messages)

    assert handlers.applied == ["a", "a", "b"]
    rows = await fetch(
        database.url, "SELECT event_id, outcome FROM intake.inbox WHERE subject = $1", subject
    )
    assert {row["event_id"]: row["outcome"] for row in rows} == {
        _id(messages[0]): "applied",
        _id(messages[1]): "failed",
        _id(messages[2]): "applied",
    }
