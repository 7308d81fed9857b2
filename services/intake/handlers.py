"""Keeps each change's overall status current from the other services' events."""

from __future__ import annotations

from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain
from services.intake.repository import ChangeRepository
from shared.contracts import STATUS_AFTER, ChangeStatus, EventType
from shared.events import CloudEvent
from shared.inbox import EventHandler

log = structlog.get_logger(__name__)


async def on_lifecycle_event(session: AsyncSession, event: CloudEvent) -> None:
    repository = ChangeRepository.from_session(session)
    change = await repository.get(UUID(event.subject), for_update=True)
    if change is None:
        log.warning(
            "event for an unknown change", event_type=event.event_type, subject=event.subject
        )
        return
    event_type = EventType(event.event_type)
    change.status = domain.advanced_status(
        ChangeStatus(change.status), STATUS_AFTER[event_type]
    ).value
    if event_type is EventType.CHANGE_ASSESSED:
        change.impact_level = event.data["impact_level"]
    elif event_type is EventType.CHANGE_ACCEPTED:
        change.outcome = event.data["outcome"]
    await session.flush()


# Intake publishes these itself and has already applied them.
_OWN_EVENTS = {EventType.CHANGE_REQUESTED, EventType.CHANGE_CANCELLED}

HANDLERS: dict[EventType, EventHandler] = {
    event_type: on_lifecycle_event for event_type in STATUS_AFTER if event_type not in _OWN_EVENTS
}
