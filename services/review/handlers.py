"""What review does when intake's events arrive."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.review import service
from shared.contracts import ChangeSnapshot, EventType
from shared.events import CloudEvent
from shared.inbox import EventHandler


async def on_change_requested(session: AsyncSession, event: CloudEvent) -> None:
    await service.assess_change(session, ChangeSnapshot.model_validate(event.data))


async def on_change_cancelled(session: AsyncSession, event: CloudEvent) -> None:
    await service.cancel_review(session, UUID(event.subject))


# change.updated (re-assessment) arrives with the risk engine of issue 4.
HANDLERS: dict[EventType, EventHandler] = {
    EventType.CHANGE_REQUESTED: on_change_requested,
    EventType.CHANGE_CANCELLED: on_change_cancelled,
}
