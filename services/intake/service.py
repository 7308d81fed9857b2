"""Change use cases: they load, apply the domain rules, save and record events; never commit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain, templates
from services.intake.domain import Action
from services.intake.models import ChangeRequest, tables
from services.intake.repository import ChangeFilters, ChangeRepository
from services.intake.schemas import (
    ChangeCancel,
    ChangeCreate,
    ChangeRead,
    ChangeSpec,
    ChangeUpdate,
    spec_from,
)
from shared.auth import Principal, Role
from shared.contracts import ChangeCancelled, ChangeSnapshot, ChangeStatus, EventType, Plans
from shared.errors import Forbidden, NotFound
from shared.outbox import record_event
from shared.pagination import Page, PageRequest

# Besides its requester, who may cancel a change: the people who own the process.
CANCELLERS = frozenset({Role.CHANGE_MANAGER, Role.CHANGE_LEAD})


class ChangeNotFound(NotFound):
    code = "change-not-found"
    title = "Change not found"


class NotYourChange(Forbidden):
    code = "not-your-change"
    title = "Only the change's requester may do this"


async def create_change(
    session: AsyncSession, body: ChangeCreate, principal: Principal
) -> ChangeRead:
    fields = body.model_dump(mode="json", exclude_unset=True, exclude={"template_id"})
    inherited: dict[str, Any] = {}
    if body.template_id is not None:
        template = await templates.template_for_change(session, body.template_id)
        inherited = templates.inherited_fields(template)
    # A merge patch, template or not: `null` leaves a field to its default, as in an edit.
    spec = spec_from(domain.apply_edit(inherited, fields))
    change = ChangeRequest(
        **_columns(spec),
        requester=principal.subject,
        standard=body.template_id is not None,
        template_id=body.template_id,
        status=ChangeStatus.DRAFT.value,
        version=1,
    )
    return to_read(await ChangeRepository.from_session(session).add(change))


async def get_change(session: AsyncSession, change_id: UUID) -> ChangeRead:
    return to_read(await _load(ChangeRepository.from_session(session), change_id))


async def list_changes(
    session: AsyncSession, filters: ChangeFilters, page: PageRequest
) -> Page[ChangeRead]:
    rows, next_cursor = await ChangeRepository.from_session(session).page(filters, page)
    return Page[ChangeRead](items=[to_read(row) for row in rows], next_cursor=next_cursor)


async def update_change(
    session: AsyncSession,
    change_id: UUID,
    body: ChangeUpdate,
    *,
    if_match: str | None,
    principal: Principal,
) -> ChangeRead:
    """Apply a merge patch; an edit after submission publishes `change.updated` for re-review."""
    repository = ChangeRepository.from_session(session)
    change = await _load(repository, change_id, for_update=True)
    _check_requester(change, principal)
    domain.check_version(if_match, change.version)
    status = domain.transition(ChangeStatus(change.status), Action.EDIT)
    spec = spec_from(
        domain.apply_edit(_fields(change), body.model_dump(mode="json", exclude_unset=True))
    )
    columns = _columns(spec)
    if all(getattr(change, name) == value for name, value in columns.items()):
        return to_read(change)
    for name, value in columns.items():
        setattr(change, name, value)
    if status is not ChangeStatus(change.status):
        # Back to review: the last assessment no longer describes the change.
        change.impact_level = None
    change.status = status.value
    change.version += 1
    change = await repository.flush(change)
    if status is not ChangeStatus.DRAFT:
        await _publish(session, EventType.CHANGE_UPDATED, change, snapshot(change), principal)
    return to_read(change)


async def submit_change(session: AsyncSession, change_id: UUID, principal: Principal) -> ChangeRead:
    repository = ChangeRepository.from_session(session)
    change = await _load(repository, change_id, for_update=True)
    _check_requester(change, principal)
    domain.check_submittable(ChangeStatus(change.status), Plans.model_validate(change.plans))
    change.status = ChangeStatus.SUBMITTED.value
    change.submitted_at = datetime.now(UTC)
    change.version += 1
    change = await repository.flush(change)
    await _publish(session, EventType.CHANGE_REQUESTED, change, snapshot(change), principal)
    return to_read(change)


async def cancel_change(
    session: AsyncSession,
    change_id: UUID,
    body: ChangeCancel,
    *,
    if_match: str | None,
    principal: Principal,
) -> ChangeRead:
    repository = ChangeRepository.from_session(session)
    change = await _load(repository, change_id, for_update=True)
    if change.requester != principal.subject and not principal.has_any(CANCELLERS):
        raise NotYourChange(
            f"Change {change_id} may be cancelled by its requester, a change_manager or a "
            "change_lead."
        )
    if if_match is not None:
        domain.check_version(if_match, change.version)
    change.status = domain.transition(ChangeStatus(change.status), Action.CANCEL).value
    change.cancelled_at = datetime.now(UTC)
    change.cancel_reason = body.reason
    change.version += 1
    change = await repository.flush(change)
    await _publish(
        session, EventType.CHANGE_CANCELLED, change, ChangeCancelled(reason=body.reason), principal
    )
    return to_read(change)


async def _publish(
    session: AsyncSession,
    event_type: EventType,
    change: ChangeRequest,
    data: ChangeSnapshot | ChangeCancelled,
    principal: Principal,
) -> None:
    await record_event(
        session, tables, event_type, subject=str(change.id), data=data, actor=principal.subject
    )


def _check_requester(change: ChangeRequest, principal: Principal) -> None:
    if change.requester != principal.subject:
        raise NotYourChange(f"Change {change.id} was requested by someone else.")


async def _load(
    repository: ChangeRepository, change_id: UUID, *, for_update: bool = False
) -> ChangeRequest:
    change = await repository.get(change_id, for_update=for_update)
    if change is None:
        raise ChangeNotFound(f"No change with id {change_id}.")
    return change


def _columns(spec: ChangeSpec) -> dict[str, Any]:
    """The columns of a change holding `spec`, in their stored (JSON) form."""
    dumped = spec.model_dump(mode="json")
    return {
        "title": spec.title,
        "category": spec.category.value,
        "services": spec.services,
        "environment": spec.environment,
        "window_start_at": spec.window.start,
        "window_end_at": spec.window.end,
        "plans": dumped["plans"],
        "emergency": spec.emergency,
        "details": dumped["details"],
        "business_justification": spec.business_justification,
        "test_evidence": dumped["test_evidence"],
        "contacts": dumped["contacts"],
    }


def _fields(change: ChangeRequest) -> dict[str, Any]:
    """A stored change as the JSON fields a merge patch applies to (absent when null)."""
    fields = {
        "title": change.title,
        "category": change.category,
        "services": change.services,
        "environment": change.environment,
        "window": {
            "start": change.window_start_at.isoformat(),
            "end": change.window_end_at.isoformat(),
        },
        "plans": change.plans,
        "emergency": change.emergency,
        "details": change.details,
        "business_justification": change.business_justification,
        "test_evidence": change.test_evidence,
        "contacts": change.contacts,
    }
    return {name: value for name, value in fields.items() if value is not None}


def snapshot(change: ChangeRequest) -> ChangeSnapshot:
    return ChangeSnapshot.model_validate(
        {
            **_fields(change),
            "change_id": change.id,
            "requester": change.requester,
            "version": change.version,
            "standard": change.standard,
            "template_id": change.template_id,
        }
    )


def to_read(change: ChangeRequest) -> ChangeRead:
    return ChangeRead.model_validate(
        {
            **_fields(change),
            "id": change.id,
            "requester": change.requester,
            "standard": change.standard,
            "template_id": change.template_id,
            "status": change.status,
            "impact_level": change.impact_level,
            "approvals": change.approvals,
            "execution": change.execution,
            "outcome": change.outcome,
            "cancel_reason": change.cancel_reason,
            "version": change.version,
            "created_at": change.created_at,
            "updated_at": change.updated_at,
            "submitted_at": change.submitted_at,
            "cancelled_at": change.cancelled_at,
        }
    )
