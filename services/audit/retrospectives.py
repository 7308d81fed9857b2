"""Post-change review use cases: record a review with its action items, track items to closure.

Reviews are state the audit service owns; each one recorded and each item moved on is
also an event (subject: the change), so the change's ledger timeline shows them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.audit import action_items
from services.audit.errors import (
    ActionItemNotFound,
    ChangeUnknownToLedger,
    RetrospectiveExists,
    RetrospectiveNotFound,
)
from services.audit.models import ActionItem, Retrospective, tables
from services.audit.report_repository import ReportRepository
from services.audit.retrospective_repository import ActionItemFilters, RetrospectiveRepository
from services.audit.retrospective_schemas import (
    ActionItemRead,
    ActionItemUpdate,
    RetrospectiveCreate,
    RetrospectiveRead,
)
from shared.auth import Principal
from shared.concurrency import check_version
from shared.contracts import (
    ActionItemRecord,
    ActionItemStatus,
    ActionItemUpdated,
    EventType,
    RetrospectiveRecorded,
)
from shared.outbox import record_event
from shared.pagination import Page, PageRequest


def today() -> date:
    return datetime.now(UTC).date()


async def record_retrospective(
    session: AsyncSession, body: RetrospectiveCreate, principal: Principal
) -> RetrospectiveRead:
    repository = RetrospectiveRepository.from_session(session)
    ledger = ReportRepository.from_session(session)
    if not await ledger.has_subject(str(body.change_id)):
        raise ChangeUnknownToLedger(f"The ledger has recorded no event of change {body.change_id}.")
    existing = await repository.of_change(body.change_id)
    if existing is not None:
        raise RetrospectiveExists(
            f"Change {body.change_id} has its review already: /v1/retrospectives/{existing.id}.",
            retrospective_id=str(existing.id),
        )
    retrospective = Retrospective(
        id=uuid.uuid4(),
        change_id=body.change_id,
        services=await ledger.services_of(str(body.change_id)),
        findings=body.findings,
        process_gaps=list(body.process_gaps),
        recorded_by=principal.subject,
    )
    items = [
        ActionItem(
            id=uuid.uuid4(),
            retrospective_id=retrospective.id,
            position=position,
            title=item.title,
            owner=item.owner,
            due_on=item.due_on,
            status=ActionItemStatus.OPEN.value,
            version=1,
        )
        for position, item in enumerate(body.action_items)
    ]
    await repository.add(retrospective, items)
    await record_event(
        session,
        tables,
        EventType.RETROSPECTIVE_RECORDED,
        subject=str(body.change_id),
        data=RetrospectiveRecorded(
            retrospective_id=retrospective.id,
            change_id=body.change_id,
            findings=body.findings,
            process_gaps=list(body.process_gaps),
            action_items=[
                ActionItemRecord(
                    action_item_id=item.id,
                    title=item.title,
                    owner=item.owner,
                    due_on=item.due_on,
                    status=ActionItemStatus(item.status),
                )
                for item in items
            ],
            recorded_by=principal.subject,
        ),
        actor=principal.subject,
    )
    return to_read(retrospective, items)


async def get_retrospective(session: AsyncSession, retrospective_id: UUID) -> RetrospectiveRead:
    repository = RetrospectiveRepository.from_session(session)
    retrospective = await repository.get(retrospective_id)
    if retrospective is None:
        raise RetrospectiveNotFound(f"No post-change review with id {retrospective_id}.")
    items = await repository.items_of([retrospective.id])
    return to_read(retrospective, items.get(retrospective.id, []))


async def list_retrospectives(
    session: AsyncSession, *, change_id: UUID | None, service: str | None, page: PageRequest
) -> Page[RetrospectiveRead]:
    repository = RetrospectiveRepository.from_session(session)
    rows, next_cursor = await repository.page(change_id=change_id, service=service, page=page)
    items = await repository.items_of([row.id for row in rows])
    return Page[RetrospectiveRead](
        items=[to_read(row, items.get(row.id, [])) for row in rows], next_cursor=next_cursor
    )


async def list_action_items(
    session: AsyncSession, filters: ActionItemFilters, page: PageRequest
) -> Page[ActionItemRead]:
    repository = RetrospectiveRepository.from_session(session)
    rows, next_cursor = await repository.page_items(filters, page)
    return Page[ActionItemRead](items=await items_read(session, rows), next_cursor=next_cursor)


async def get_action_item(session: AsyncSession, item_id: UUID) -> ActionItemRead:
    item = await _load_item(RetrospectiveRepository.from_session(session), item_id)
    return (await items_read(session, [item]))[0]


async def update_action_item(
    session: AsyncSession,
    item_id: UUID,
    body: ActionItemUpdate,
    *,
    if_match: str | None,
    principal: Principal,
) -> ActionItemRead:
    repository = RetrospectiveRepository.from_session(session)
    item = await _load_item(repository, item_id, for_update=True)
    check_version(if_match, item.version, noun="action item")
    current = ActionItemStatus(item.status)
    wanted = body.status or current
    action_items.check_transition(current, wanted, note=body.note)
    changed = {
        name: value
        for name, value in (
            ("status", wanted.value),
            ("owner", body.owner or item.owner),
            ("due_on", body.due_on or item.due_on),
            ("note", body.note if body.note is not None else item.note),
        )
        if getattr(item, name) != value
    }
    if not changed:
        return (await items_read(session, [item]))[0]
    now = datetime.now(UTC)
    for name, value in changed.items():
        setattr(item, name, value)
    if "status" in changed:
        item.closed_at = now if wanted in action_items.CLOSED else None
    item.updated_at = now
    item.version += 1
    item = await repository.flush(item)
    read = (await items_read(session, [item]))[0]
    await record_event(
        session,
        tables,
        EventType.ACTION_ITEM_UPDATED,
        subject=str(read.change_id),
        data=ActionItemUpdated(
            action_item_id=item.id,
            retrospective_id=item.retrospective_id,
            change_id=read.change_id,
            status=wanted,
            previous_status=current,
            owner=item.owner,
            due_on=item.due_on,
            note=item.note,
            version=item.version,
            updated_by=principal.subject,
        ),
        actor=principal.subject,
    )
    return read


async def items_read(session: AsyncSession, items: list[ActionItem]) -> list[ActionItemRead]:
    """Items as read, each with the change its review is about."""
    repository = RetrospectiveRepository.from_session(session)
    changes = await repository.change_ids_of({item.retrospective_id for item in items})
    return [_item_read(item, changes[item.retrospective_id]) for item in items]


def to_read(retrospective: Retrospective, items: list[ActionItem]) -> RetrospectiveRead:
    return RetrospectiveRead(
        id=retrospective.id,
        change_id=retrospective.change_id,
        services=list(retrospective.services),
        findings=retrospective.findings,
        process_gaps=list(retrospective.process_gaps),
        recorded_by=retrospective.recorded_by,
        created_at=retrospective.created_at,
        action_items=[_item_read(item, retrospective.change_id) for item in items],
    )


def _item_read(item: ActionItem, change_id: UUID) -> ActionItemRead:
    status = ActionItemStatus(item.status)
    return ActionItemRead(
        id=item.id,
        retrospective_id=item.retrospective_id,
        change_id=change_id,
        title=item.title,
        owner=item.owner,
        due_on=item.due_on,
        status=status,
        note=item.note,
        overdue=action_items.is_overdue(status, item.due_on, today()),
        version=item.version,
        created_at=item.created_at,
        updated_at=item.updated_at,
        closed_at=item.closed_at,
    )


async def _load_item(
    repository: RetrospectiveRepository, item_id: UUID, *, for_update: bool = False
) -> ActionItem:
    item = await repository.item(item_id, for_update=for_update)
    if item is None:
        raise ActionItemNotFound(f"No action item with id {item_id}.")
    return item
