"""Idempotent consumption: the effect and the inbox row commit together, once per event id."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import structlog
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.bus import Message
from shared.contracts import EventType
from shared.db import Database
from shared.events import CloudEvent
from shared.observability import EVENTS_CONSUMED
from shared.tables import MessagingTables

log = structlog.get_logger(__name__)

EventHandler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]

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
        retry_failures: bool = False,
    ) -> None:
        self.tables = tables
        self._database = database
        self._handlers = {event_type.value: handler for event_type, handler in handlers.items()}
        self._handle_any = handle_any
        self._retry_failures = retry_failures

    async def __call__(self, message: Message) -> None:
        try:
            event = CloudEvent.from_json(message.value)
        except ValidationError as error:
            log.error(
                "dropping a message that is not a CloudEvent", topic=message.topic, error=str(error)
            )
            return
        handler = self._handlers.get(event.event_type, self._handle_any)
        if handler is None:
            return
        try:
            await self._apply(event, handler)
        except TRANSIENT_ERRORS:
            raise
        except DBAPIError as error:
            if error.connection_invalidated or self._retry_failures:
                raise
            await self._record_failure(event, error)
        except Exception as error:  # noqa: BLE001 - a poison event must not block the partition
            if self._retry_failures:
                log.error(
                    "event handler failed; retrying", event_id=str(event.id), error=repr(error)
                )
                raise
            await self._record_failure(event, error)

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
            .values(
                event_id=event.id,
                event_type=event.event_type,
                subject=event.subject,
                source=event.source,
                outcome=outcome,
                error=error,
            )
            .on_conflict_do_nothing(index_elements=[self.tables.inbox.c.event_id])
        )
