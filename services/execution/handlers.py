"""What execution does when other services' events arrive.

Changes become ready (with their rollout plan) when approved and are withdrawn when
cancelled; freeze windows are kept for the gate; deployments are attached to stages.
"""

from __future__ import annotations

from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.execution import domain
from services.execution.correlation import on_deployment_reported
from services.execution.domain import Action, ExecutionStatus
from services.execution.gate_repository import GateRepository
from services.execution.models import Execution
from services.execution.plan import default_plan
from services.execution.repository import ExecutionRepository
from shared.contracts import (
    Category,
    ChangeApproved,
    ChangeSnapshot,
    EventType,
    FreezeWindowDeclared,
    FreezeWindowLifted,
    Plans,
)
from shared.errors import InvalidTransition
from shared.events import CloudEvent
from shared.inbox import EventHandler

log = structlog.get_logger(__name__)


async def _lay_out_default_plan(repository: ExecutionRepository, execution: Execution) -> None:
    """Derive the rollout from the change as requested, unless an executor replaced it."""
    if execution.plan_source != "default":
        return
    planned = await repository.planned_change(execution.change_id)
    category = Category(planned.category) if planned else None
    plans = Plans.model_validate(planned.plans) if planned else None
    plan = default_plan(category, plans)
    await repository.replace_rollout(execution.change_id, plan)
    execution.rollback_plan = list(plan.rollback_steps)
    execution.auto_rollback = plan.auto_rollback


async def on_change_approved(session: AsyncSession, event: CloudEvent) -> None:
    approval = ChangeApproved.model_validate(event.data)
    repository = ExecutionRepository.from_session(session)
    execution = await repository.put_ready(UUID(event.subject), approval)
    if execution is not None:
        await _lay_out_default_plan(repository, execution)
        await session.flush()


async def on_change_snapshot(session: AsyncSession, event: CloudEvent) -> None:
    """Keep the change's category and plans; the rollout of a ready execution follows them."""
    snapshot = ChangeSnapshot.model_validate(event.data)
    repository = ExecutionRepository.from_session(session)
    if not await repository.put_planned_change(snapshot):
        return
    execution = await repository.get(snapshot.change_id, for_update=True)
    if execution is not None and execution.status == ExecutionStatus.READY.value:
        await _lay_out_default_plan(repository, execution)
        await session.flush()


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


async def on_freeze_declared(session: AsyncSession, event: CloudEvent) -> None:
    await GateRepository.from_session(session).put_freeze(
        FreezeWindowDeclared.model_validate(event.data)
    )


async def on_freeze_lifted(session: AsyncSession, event: CloudEvent) -> None:
    lifted = FreezeWindowLifted.model_validate(event.data)
    await GateRepository.from_session(session).lift_freeze(
        lifted.freeze_window_id, lifted.lifted_by, event.time
    )


HANDLERS: dict[EventType, EventHandler] = {
    EventType.CHANGE_REQUESTED: on_change_snapshot,
    EventType.CHANGE_UPDATED: on_change_snapshot,
    EventType.CHANGE_APPROVED: on_change_approved,
    EventType.CHANGE_CANCELLED: on_change_cancelled,
    EventType.FREEZE_WINDOW_DECLARED: on_freeze_declared,
    EventType.FREEZE_WINDOW_LIFTED: on_freeze_lifted,
    EventType.DEPLOYMENT_REPORTED: on_deployment_reported,
}
