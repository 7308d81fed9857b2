"""Makes approved changes ready for execution and withdraws cancelled ones."""

from __future__ import annotations

from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.execution import domain
from services.execution.domain import Action, ExecutionStatus
from services.execution.repository import ExecutionRepository
from shared.contracts import ChangeApproved, EventType
from shared.errors import InvalidTransition
from shared.events import CloudEvent
from shared.inbox import EventHandler

log = structlog.get_logger(__name__)


async def on_change_approved(session: AsyncSession, event: CloudEvent) -> None:
    approval = ChangeApproved.model_validate(event.data)
    await ExecutionRepository.from_session(session).put_ready(UUID(event.subject), approval)


async def on_change_cancelled(session: AsyncSession, event: CloudEvent) -> None:
    repository = ExecutionRepository.from_session(session)
    execution = await repository.get(UUID(event.subject), for_update=True)
    if execution is None:
        # Cancelled before approval: execution never knew the change.
        return
    try:
        status = domain.transition(ExecutionStatus(execution.status), Action.CANCEL)
    except InvalidTransition:
        # Work already under way is finished or rolled back, not abandoned.
        log.warning(
            "ignoring the cancellation of a change whose execution has started",
            change_id=event.subject,
            status=execution.status,
        )
        return
    execution.status = status.value
    execution.version += 1
    await session.flush()


HANDLERS: dict[EventType, EventHandler] = {
    EventType.CHANGE_APPROVED: on_change_approved,
    EventType.CHANGE_CANCELLED: on_change_cancelled,
}
