"""What review does when other services' events arrive."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.review import service
from shared.contracts import ChangeAccepted, ChangeSnapshot, EventType
from shared.events import CloudEvent
from shared.inbox import EventHandler


async def on_change_requested(session: AsyncSession, event: CloudEvent) -> None:
    await service.assess_change(session, ChangeSnapshot.model_validate(event.data))


async def on_change_updated(session: AsyncSession, event: CloudEvent) -> None:
    await service.reassess_change(session, ChangeSnapshot.model_validate(event.data))


async def on_change_cancelled(session: AsyncSession, event: CloudEvent) -> None:
    await service.cancel_review(session, UUID(event.subject))


async def on_execution_finished(session: AsyncSession, event: CloudEvent) -> None:
    await service.finish_change(session, UUID(event.subject), event.time)


async def on_change_accepted(session: AsyncSession, event: CloudEvent) -> None:
    accepted = ChangeAccepted.model_validate(event.data)
    await service.record_outcome(session, UUID(event.subject), accepted, event.time)


HANDLERS: dict[EventType, EventHandler] = {
    EventType.CHANGE_REQUESTED: on_change_requested,
    EventType.CHANGE_UPDATED: on_change_updated,
    EventType.CHANGE_CANCELLED: on_change_cancelled,
    EventType.CHANGE_COMPLETED: on_execution_finished,
    EventType.CHANGE_FAILED: on_execution_finished,
    EventType.CHANGE_ROLLED_BACK: on_execution_finished,
    EventType.CHANGE_ACCEPTED: on_change_accepted,
}
