"""Records every event of every topic in the ledger."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.audit import service
from shared.contracts import EventType
from shared.events import CloudEvent
from shared.inbox import EventHandler


async def record_in_ledger(session: AsyncSession, event: CloudEvent) -> None:
    await service.append_event(session, event)


HANDLERS: dict[EventType, EventHandler] = {event_type: record_in_ledger for event_type in EventType}
