"""Both ends of the outbox under test: writers that keep committing events, and an idempotent
consumer that records each application of an event in its own table."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from sqlalchemy import BigInteger, Column, Identity, Table, Text, Uuid, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.models import tables as intake_tables
from shared.bus import Message
from shared.contracts import ChangeCancelled, EventType
from shared.db import Database, service_metadata
from shared.events import CloudEvent
from shared.inbox import IdempotentConsumer
from shared.outbox import record_event
from shared.tables import messaging_tables

COUNTING_SCHEMA = "relay_counting"
_counting = service_metadata(COUNTING_SCHEMA)
counting_tables = messaging_tables(_counting)
application = Table(
    "application",
    _counting,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", Uuid, nullable=False),
    Column("subject", Text, nullable=False),
    Column("sequence", BigInteger, nullable=False),
)


class EventWriter:
    """Writes intake events, keeping every one whose transaction committed."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self.written: list[CloudEvent] = []

    async def write(self, subject: str, *, hold_for: float = 0.0) -> CloudEvent:
        """One event in its own transaction, kept open `hold_for` seconds by `pg_sleep`."""
        async with self._database.sessionmaker() as session, session.begin():
            event = await self._record(session, subject)
            if hold_for:
                await session.execute(text("SELECT pg_sleep(:seconds)"), {"seconds": hold_for})
        self.written.append(event)
        return event

    async def write_held(
        self, subject: str, *, inserted: asyncio.Event, release: asyncio.Event
    ) -> CloudEvent:
        """One event whose transaction stays open in `pg_sleep` from `inserted` until `release`."""
        async with self._database.sessionmaker() as session, session.begin():
            event = await self._record(session, subject)
            inserted.set()
            while not release.is_set():
                await session.execute(text("SELECT pg_sleep(0.05)"))
        self.written.append(event)
        return event

    @asynccontextmanager
    async def writing(
        self, subjects: Sequence[str], *, writers: int, pause: float, max_hold: float
    ) -> AsyncIterator[None]:
        """`writers` concurrent loops commit events on random `subjects`, each transaction held
        open up to `max_hold` s, so ids commit out of order. They finish their transaction
        when the block ends."""
        stop = asyncio.Event()

        async def loop() -> None:
            while not stop.is_set():
                await self.write(random.choice(subjects), hold_for=random.uniform(0, max_hold))
                await asyncio.sleep(pause)

        tasks = [asyncio.create_task(loop(), name=f"event-writer-{n}") for n in range(writers)]
        try:
            yield
        finally:
            stop.set()
            await asyncio.gather(*tasks)

    async def _record(self, session: AsyncSession, subject: str) -> CloudEvent:
        return await record_event(
            session,
            intake_tables,
            EventType.CHANGE_CANCELLED,
            subject=subject,
            data=ChangeCancelled(reason="outbox traffic"),
            actor="tester",
        )


class CountingConsumer:
    """An IdempotentConsumer (real inbox) whose effect is one `application` row per event it
    applies; counts every message the bus hands it, per key."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._consumer = IdempotentConsumer(
            counting_tables,
            database,
            {},
            handle_any=self._apply,
            handle_batch=self._apply_batch,
        )
        self.delivered: Counter[str] = Counter()

    async def create_tables(self) -> None:
        async with self._database.engine.begin() as connection:
            await connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {COUNTING_SCHEMA}"))
            await connection.run_sync(_counting.create_all)

    async def __call__(self, message: Message) -> None:
        await self._consumer(message)
        self.delivered[message.key] += 1

    async def handle_batch(self, messages: Sequence[Message]) -> None:
        await self._consumer.handle_batch(messages)
        self.delivered.update(message.key for message in messages)

    async def applications(self, subjects: Sequence[str]) -> list[tuple[uuid.UUID, str, int]]:
        """(event id, subject, sequence) of every application on `subjects`, in applied order."""
        async with self._database.sessionmaker() as session:
            rows = await session.execute(
                select(application.c.event_id, application.c.subject, application.c.sequence)
                .where(application.c.subject.in_(subjects))
                .order_by(application.c.id)
            )
        return [(row.event_id, row.subject, row.sequence) for row in rows]

    async def _apply(self, session: AsyncSession, event: CloudEvent) -> None:
        await self._apply_batch(session, [event])

    async def _apply_batch(self, session: AsyncSession, events: Sequence[CloudEvent]) -> None:
        await session.execute(
            application.insert(),
            [
                {"event_id": event.id, "subject": event.subject, "sequence": event.sequence}
                for event in events
            ],
        )
