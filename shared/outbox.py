"""The transactional outbox: events are written with the state change and relayed after commit."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import zlib
from datetime import timedelta
from enum import StrEnum

import asyncpg
import structlog
from pydantic import BaseModel
from sqlalchemy import Executable, Table, any_, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.bus import Bus, Message
from shared.contracts import EventType
from shared.db import Database, asyncpg_dsn
from shared.events import CloudEvent, full_type, source_of
from shared.observability import OUTBOX_PENDING, OUTBOX_PUBLISHED
from shared.settings import Settings
from shared.tables import MessagingTables

log = structlog.get_logger(__name__)

SENT_ROWS_KEPT_FOR = timedelta(hours=1)


def notify_channel(schema: str) -> str:
    return f"changeward_outbox_{schema}"


async def record_event(
    session: AsyncSession,
    tables: MessagingTables,
    event_type: EventType,
    *,
    subject: str,
    data: BaseModel,
    actor: str,
    partition_key: str | None = None,
) -> CloudEvent:
    """Write one event to the outbox inside the caller's transaction.

    The per-subject sequence row is locked until commit, so a subject's events
    commit (and are relayed) in sequence order.
    """
    next_sequence = await session.scalar(
        _next_sequence_statement(tables.event_sequence), {"subject": subject}
    )
    assert next_sequence is not None
    event = CloudEvent(
        source=source_of(tables.schema),
        type=full_type(event_type),
        subject=subject,
        sequence=next_sequence,
        actor=actor,
        data=data.model_dump(mode="json"),
    )
    await session.execute(
        _write_statement(tables.outbox),
        {
            "event_id": event.id,
            "event_type": event_type.value,
            "partition_key": partition_key or subject,
            "payload": event.model_dump_json(),
        },
    )
    return event


@functools.cache
def _next_sequence_statement(counter: Table) -> Executable:
    return (
        insert(counter)
        .values(subject=bindparam("subject"), last_sequence=1)
        .on_conflict_do_update(
            index_elements=[counter.c.subject],
            set_={"last_sequence": counter.c.last_sequence + 1},
        )
        .returning(counter.c.last_sequence)
    )


@functools.cache
def _write_statement(outbox: Table) -> Executable:
    """The row and the relay's wake-up in one round trip; listeners hear it only on commit."""
    written = (
        outbox.insert()
        .values(
            event_id=bindparam("event_id"),
            event_type=bindparam("event_type"),
            partition_key=bindparam("partition_key"),
            payload=bindparam("payload"),
        )
        .returning(outbox.c.id)
        .cte("written")
    )
    channel = notify_channel(str(outbox.schema))
    return select(func.pg_notify(channel, "")).select_from(written)


@functools.cache
def _mark_sent_statement(outbox: Table) -> Executable:
    """One shape whatever the batch size (an IN list would be prepared anew for each size)."""
    ids = bindparam("ids", type_=ARRAY(outbox.c.id.type))
    return update(outbox).where(outbox.c.id == any_(ids)).values(sent_at=func.now())


class RelayStep(StrEnum):
    """The points of one relay batch, in order; a relay may die after any of them."""

    CLAIMED = "claimed"  # rows locked, nothing handed to the bus
    SENT = "sent"  # handed to the bus, not yet acknowledged
    ACKED = "acked"  # durably accepted by the bus
    MARKED_SENT = "marked_sent"  # sent_at updated in the open transaction
    BEFORE_COMMIT = "before_commit"
    COMMITTED = "committed"


class OutboxRelay:
    """Publishes committed outbox rows in id order and marks them sent.

    Rows are claimed with `FOR UPDATE SKIP LOCKED` under a per-schema advisory
    lock: replicas of a service may all run a relay, but only one drains at a
    time, which keeps each key's events in order. A relay that dies after
    publishing and before committing leaves its rows unsent; they are published
    again and the consumers' inbox drops the repeat. Rows are selected by
    `sent_at IS NULL`, never by a high-water mark, so a transaction that commits
    after a later id was relayed is still relayed.
    """

    def __init__(
        self, tables: MessagingTables, database: Database, bus: Bus, settings: Settings
    ) -> None:
        self.tables = tables
        self._database = database
        self._bus = bus
        self._batch_size = settings.relay_batch_size
        self._idle_poll = settings.relay_idle_poll_seconds
        special_topics = {
            EventType.DEPLOYMENT_REPORTED: settings.deployments_topic,
            EventType.TREE_HEAD_PUBLISHED: settings.tree_heads_topic,
        }
        self._topic_of = {
            event_type: special_topics.get(event_type, settings.changes_topic)
            for event_type in EventType
        }
        self._lock_key = zlib.crc32(f"outbox:{tables.schema}".encode())
        self._wakeup = asyncio.Event()

    async def drain_once(self) -> int:
        """Publish one batch; returns how many rows it published."""
        outbox = self.tables.outbox
        async with self._database.sessionmaker() as session, session.begin():
            holds_lock = await session.scalar(
                select(func.pg_try_advisory_xact_lock(self._lock_key))
            )
            if not holds_lock:
                return 0
            rows = (
                await session.execute(
                    select(
                        outbox.c.id, outbox.c.event_type, outbox.c.partition_key, outbox.c.payload
                    )
                    .where(outbox.c.sent_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            await self.reached(RelayStep.CLAIMED)
            acknowledged = await self._bus.send(
                [
                    Message(
                        topic=self._topic_of[EventType(row.event_type)],
                        key=row.partition_key,
                        value=row.payload.encode(),
                    )
                    for row in rows
                ]
            )
            await self.reached(RelayStep.SENT)
            await acknowledged
            await self.reached(RelayStep.ACKED)
            await session.execute(_mark_sent_statement(outbox), {"ids": [row.id for row in rows]})
            await self.reached(RelayStep.MARKED_SENT)
            await self.reached(RelayStep.BEFORE_COMMIT)
        await self.reached(RelayStep.COMMITTED)
        OUTBOX_PUBLISHED.labels(self.tables.schema).inc(len(rows))
        return len(rows)

    async def reached(self, step: RelayStep) -> None:
        """Called as a batch passes each step; crash-point tests stop the process here."""

    async def drain(self) -> int:
        """Publish every committed row; returns how many. A batch short of full took every
        row there was, so no empty round is spent to find that out."""
        total = 0
        while True:
            published = await self.drain_once()
            total += published
            if published < self._batch_size:
                return total

    async def pending(self) -> int:
        outbox = self.tables.outbox
        async with self._database.sessionmaker() as session:
            count = await session.scalar(
                select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
            )
        return int(count or 0)

    async def purge_sent(self) -> None:
        outbox = self.tables.outbox
        async with self._database.sessionmaker() as session, session.begin():
            await session.execute(
                delete(outbox).where(outbox.c.sent_at < func.now() - SENT_ROWS_KEPT_FOR)
            )

    async def run(self) -> None:
        """Drain whenever a commit notifies us, and at least every idle poll interval."""
        listener = asyncio.create_task(self._listen(), name=f"outbox-listener-{self.tables.schema}")
        try:
            rounds = 0
            while True:
                self._wakeup.clear()
                try:
                    await self.drain()
                    OUTBOX_PENDING.labels(self.tables.schema).set(0)
                    rounds += 1
                    if rounds % 600 == 0:
                        await self.purge_sent()
                except Exception as error:  # noqa: BLE001 - a relay must outlive any outage
                    log.warning(
                        "outbox relay failed; will retry",
                        schema=self.tables.schema,
                        error=repr(error),
                    )
                    with contextlib.suppress(Exception):
                        OUTBOX_PENDING.labels(self.tables.schema).set(await self.pending())
                    await asyncio.sleep(self._idle_poll)
                    continue
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._idle_poll):
                        await self._wakeup.wait()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _listen(self) -> None:
        channel = notify_channel(self.tables.schema)
        while True:
            try:
                connection = await asyncpg.connect(asyncpg_dsn(self._database.url))
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("outbox listener cannot connect", error=repr(error))
                await asyncio.sleep(self._idle_poll)
                continue
            try:
                await connection.add_listener(channel, lambda *_: self._wakeup.set())
                while not connection.is_closed():
                    await asyncio.sleep(self._idle_poll)
            finally:
                await connection.close()
