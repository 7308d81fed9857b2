"""Idempotent consumption: the effect and the inbox row commit together, once per event id."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

import structlog
from pydantic import ValidationError
from sqlalchemy import Executable, Table, Text, Uuid, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.bus import Message
from shared.contracts import EventType
from shared.db import Database, is_lock_contention
from shared.events import CloudEvent
from shared.observability import EVENTS_CONSUMED
from shared.tables import MessagingTables

log = structlog.get_logger(__name__)

EventHandler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]
# Takes the new events of a batch, in order, inside the one transaction of their inbox rows.
BatchEventHandler = Callable[[AsyncSession, Sequence[CloudEvent]], Awaitable[None]]

TRANSIENT_ERRORS = (OperationalError, InterfaceError, OSError, ConnectionError, TimeoutError)


class IdempotentConsumer:
    """Applies each event at most once per service, whatever the bus redelivers.

    A handler that fails with a transient error (database or network) is raised
    to the bus, which delivers the event again. Any other failure is a bug or a
    poison event: by default it is recorded in the inbox as `failed`, with the
    error, so it is visible and never blocks the events behind it. A consumer
    that must never skip an event (the audit ledger, the system of record) sets
    `retry_failures`: every failure is then raised and retried until it succeeds.
    """

    def __init__(
        self,
        tables: MessagingTables,
        database: Database,
        handlers: Mapping[EventType, EventHandler],
        *,
        handle_any: EventHandler | None = None,
        handle_batch: BatchEventHandler | None = None,
        retry_failures: bool = False,
    ) -> None:
        self.tables = tables
        self._database = database
        self._handlers = {event_type.value: handler for event_type, handler in handlers.items()}
        self._handle_any = handle_any
        self._handle_batch = handle_batch
        self._retry_failures = retry_failures

    async def __call__(self, message: Message) -> None:
        event = _parse(message)
        if event is None:
            return
        handler = self._handler_of(event)
        if handler is None:
            return
        try:
            await self._apply(event, handler)
        except Exception as error:
            if _is_transient(error) or self._retry_failures:
                log.error(
                    "event handler failed; retrying", event_id=str(event.id), error=repr(error)
                )
                raise
            await self._record_failure(event, error)

    async def handle_batch(self, messages: Sequence[Message]) -> None:
        """A batch (each partition's messages in order) in one transaction (one inbox insert, one
        commit): given to the service's batch handler if it has one, else to each event's
        handler in turn. If the batch fails it is settled again one event at a time."""
        if len(messages) == 1:
            await self(messages[0])
            return
        events = [
            event
            for event in map(_parse, messages)
            if event is not None and self._handler_of(event) is not None
        ]
        if not events:
            return
        try:
            await self._apply_batch(self._handle_batch or self._each_in_turn, events)
        except Exception as error:
            if _is_transient(error) or self._retry_failures:
                log.error("batch handler failed; retrying", events=len(events), error=repr(error))
                raise
            # One poison event must not sink its neighbours: settle them one at a time.
            for message in messages:
                await self(message)

    def _handler_of(self, event: CloudEvent) -> EventHandler | None:
        return self._handlers.get(event.event_type, self._handle_any)

    async def _each_in_turn(self, session: AsyncSession, events: Sequence[CloudEvent]) -> None:
        for event in events:
            handler = self._handler_of(event)
            assert handler is not None
            await handler(session, event)

    async def _apply_batch(self, handler: BatchEventHandler, events: Sequence[CloudEvent]) -> None:
        unique = list({event.id: event for event in reversed(events)}.values())[::-1]
        rows = [_inbox_values(event, outcome="applied") for event in unique]
        columns = {name: [row[name] for row in rows] for name in _BATCH_COLUMNS}
        async with self._database.sessionmaker() as session, session.begin():
            inserted = set(
                await session.scalars(_batch_insert_statement(self.tables.inbox), columns)
            )
            fresh = [event for event in unique if event.id in inserted]
            if fresh:
                await handler(session, fresh)
        counted: set[UUID] = set()
        for event in events:
            outcome = "applied" if event.id in inserted and event.id not in counted else "duplicate"
            counted.add(event.id)
            EVENTS_CONSUMED.labels(self.tables.schema, event.event_type, outcome).inc()

    async def _apply(self, event: CloudEvent, handler: EventHandler) -> None:
        async with self._database.sessionmaker() as session, session.begin():
            first_time = await session.scalar(
                self._inbox_row(event, outcome="applied").returning(self.tables.inbox.c.event_id)
            )
            if first_time is None:
                EVENTS_CONSUMED.labels(self.tables.schema, event.event_type, "duplicate").inc()
                return
            await handler(session, event)
        EVENTS_CONSUMED.labels(self.tables.schema, event.event_type, "applied").inc()

    async def _record_failure(self, event: CloudEvent, error: Exception) -> None:
        log.error(
            "event handler failed; recorded as failed in the inbox",
            schema=self.tables.schema,
            event_id=str(event.id),
            event_type=event.event_type,
            error=repr(error),
        )
        async with self._database.sessionmaker() as session, session.begin():
            await session.execute(self._inbox_row(event, outcome="failed", error=repr(error)))
        EVENTS_CONSUMED.labels(self.tables.schema, event.event_type, "failed").inc()

    def _inbox_row(self, event: CloudEvent, *, outcome: str, error: str | None = None):  # type: ignore[no-untyped-def]
        return (
            insert(self.tables.inbox)
            .values(**_inbox_values(event, outcome=outcome, error=error))
            .on_conflict_do_nothing(index_elements=[self.tables.inbox.c.event_id])
        )


# An applied batch's inbox rows carry no error.
_BATCH_COLUMNS = {
    "event_id": Uuid,
    "event_type": Text,
    "subject": Text,
    "source": Text,
    "outcome": Text,
}


@functools.cache
def _batch_insert_statement(inbox: Table) -> Executable:
    """A batch's inbox rows in a statement of one shape whatever its size, one array per
    column: a VALUES list would be compiled and prepared anew for every batch size."""
    batch = (
        func.unnest(
            *(bindparam(name, type_=ARRAY(type_)) for name, type_ in _BATCH_COLUMNS.items())
        )
        .table_valued(*_BATCH_COLUMNS)
        .render_derived(name="batch")
    )
    return (
        insert(inbox)
        .from_select(list(_BATCH_COLUMNS), select(*(batch.c[name] for name in _BATCH_COLUMNS)))
        .on_conflict_do_nothing(index_elements=[inbox.c.event_id])
        .returning(inbox.c.event_id)
    )


def _inbox_values(event: CloudEvent, *, outcome: str, error: str | None = None) -> dict[str, Any]:
    return {
        "event_id": event.id,
        "event_type": event.event_type,
        "subject": event.subject,
        "source": event.source,
        "outcome": outcome,
        "error": error,
    }


def _parse(message: Message) -> CloudEvent | None:
    try:
        return CloudEvent.from_json(message.value)
    except ValidationError as error:
        log.error(
            "dropping a message that is not a CloudEvent", topic=message.topic, error=str(error)
        )
        return None


def _is_transient(error: Exception) -> bool:
    """A database or network outage, or a lock held too long by another transaction: the
    same event will succeed once it is over."""
    if isinstance(error, TRANSIENT_ERRORS) or is_lock_contention(error):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)
