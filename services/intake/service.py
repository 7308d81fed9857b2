"""Intake use cases: they load, apply the domain rules, save and record events; never commit."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain
from services.intake.models import ChangeRequest, tables
from services.intake.repository import ChangeRepository
from services.intake.schemas import ChangeCreate, ChangeRead
from shared.auth import Principal
from shared.contracts import ChangeSnapshot, ChangeStatus, EventType, Plans, Window
from shared.errors import Forbidden, NotFound
from shared.outbox import record_event


class ChangeNotFound(NotFound):
    code = "change-not-found"
    title = "Change not found"


class NotYourChange(Forbidden):
    code = "not-your-change"
    title = "Only the change's requester may do this"


async def create_change(
    session: AsyncSession, body: ChangeCreate, principal: Principal
) -> ChangeRead:
    change = ChangeRequest(
        title=body.title,
        category=body.category.value,
        services=body.services,
        environment=body.environment,
        window_start_at=body.window.start,
        window_end_at=body.window.end,
        plans=body.plans.model_dump(),
        requester=principal.subject,
        emergency=body.emergency,
        status=ChangeStatus.DRAFT.value,
        version=1,
    )
    return to_read(await ChangeRepository.from_session(session).add(change))


async def get_change(session: AsyncSession, change_id: UUID) -> ChangeRead:
    return to_read(await _load(ChangeRepository.from_session(session), change_id))


async def submit_change(session: AsyncSession, change_id: UUID, principal: Principal) -> ChangeRead:
    repository = ChangeRepository.from_session(session)
    change = await _load(repository, change_id, for_update=True)
    if change.requester != principal.subject:
        raise NotYourChange(f"Change {change_id} was requested by someone else.")
    domain.check_submittable(ChangeStatus(change.status), Plans.model_validate(change.plans))
    change.status = ChangeStatus.SUBMITTED.value
    change.submitted_at = datetime.now(UTC)
    change.version += 1
    change = await repository.flush(change)
    await record_event(
        session,
        tables,
        EventType.CHANGE_REQUESTED,
        subject=str(change.id),
        data=snapshot(change),
        actor=principal.subject,
    )
    return to_read(change)


async def _load(
    repository: ChangeRepository, change_id: UUID, *, for_update: bool = False
) -> ChangeRequest:
    change = await repository.get(change_id, for_update=for_update)
    if change is None:
        raise ChangeNotFound(f"No change with id {change_id}.")
    return change


def snapshot(change: ChangeRequest) -> ChangeSnapshot:
    return ChangeSnapshot(
        change_id=change.id,
        title=change.title,
        category=change.category,
        services=change.services,
        environment=change.environment,
        window=Window(start=change.window_start_at, end=change.window_end_at),
        plans=Plans.model_validate(change.plans),
        requester=change.requester,
        emergency=change.emergency,
        version=change.version,
    )


def to_read(change: ChangeRequest) -> ChangeRead:
    return ChangeRead(
        id=change.id,
        title=change.title,
        category=change.category,
        services=change.services,
        environment=change.environment,
        window=Window(start=change.window_start_at, end=change.window_end_at),
        plans=Plans.model_validate(change.plans),
        requester=change.requester,
        emergency=change.emergency,
        status=change.status,
        impact_level=change.impact_level,
        outcome=change.outcome,
        version=change.version,
        created_at=change.created_at,
        updated_at=change.updated_at,
        submitted_at=change.submitted_at,
    )
