"""Every query of post-change reviews and their action items."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.action_items import OPEN
from services.audit.models import ActionItem, Retrospective
from shared.contracts import ActionItemStatus
from shared.pagination import PageRequest, keyset_page

_OPEN = [status.value for status in OPEN]


@dataclass(frozen=True)
class ActionItemFilters:
    status: tuple[ActionItemStatus, ...] = ()
    owner: str | None = None
    change_id: UUID | None = None
    service: str | None = None
    # Only items still open after their due date, as of this day.
    overdue_on: date | None = None


class RetrospectiveRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> RetrospectiveRepository:
        return cls(session)

    async def add(self, retrospective: Retrospective, items: Sequence[ActionItem]) -> None:
        self.session.add(retrospective)
        await self.session.flush()
        self.session.add_all(items)
        await self.session.flush()
        await self.session.refresh(retrospective)
        for item in items:
            await self.session.refresh(item)

    async def flush(self, item: ActionItem) -> ActionItem:
        await self.session.flush()
        await self.session.refresh(item)
        return item

    async def get(self, retrospective_id: UUID) -> Retrospective | None:
        return await self.session.get(Retrospective, retrospective_id)

    async def of_change(self, change_id: UUID) -> Retrospective | None:
        statement = select(Retrospective).where(Retrospective.change_id == change_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def item(self, item_id: UUID, *, for_update: bool = False) -> ActionItem | None:
        statement = select(ActionItem).where(ActionItem.id == item_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def items_of(self, retrospective_ids: Collection[UUID]) -> dict[UUID, list[ActionItem]]:
        items: dict[UUID, list[ActionItem]] = defaultdict(list)
        if not retrospective_ids:
            return items
        statement = (
            select(ActionItem)
            .where(ActionItem.retrospective_id.in_(list(retrospective_ids)))
            .order_by(ActionItem.position)
        )
        for item in (await self.session.execute(statement)).scalars():
            items[item.retrospective_id].append(item)
        return items

    async def change_ids_of(self, retrospective_ids: Collection[UUID]) -> dict[UUID, UUID]:
        if not retrospective_ids:
            return {}
        statement = select(Retrospective.id, Retrospective.change_id).where(
            Retrospective.id.in_(list(retrospective_ids))
        )
        return {row.id: row.change_id for row in await self.session.execute(statement)}

    async def page(
        self, *, change_id: UUID | None, service: str | None, page: PageRequest
    ) -> tuple[list[Retrospective], str | None]:
        statement = select(Retrospective)
        if change_id is not None:
            statement = statement.where(Retrospective.change_id == change_id)
        if service is not None:
            statement = statement.where(Retrospective.services.contains([service]))
        key = [Retrospective.created_at, Retrospective.id]
        return await keyset_page(self.session, statement, key, page)

    async def page_items(
        self, filters: ActionItemFilters, page: PageRequest
    ) -> tuple[list[ActionItem], str | None]:
        statement = _items(filters)
        return await keyset_page(
            self.session, statement, [ActionItem.created_at, ActionItem.id], page
        )

    async def overdue(
        self, *, today: date, services: Collection[str] | None, limit: int
    ) -> tuple[int, list[ActionItem]]:
        """How many items are overdue, and the `limit` most overdue."""
        statement = _items(ActionItemFilters(overdue_on=today))
        if services is not None:
            statement = statement.where(Retrospective.services.overlap(sorted(services)))
        total = await self.session.scalar(select(func.count()).select_from(statement.subquery()))
        ordered = statement.order_by(ActionItem.due_on, ActionItem.id).limit(limit)
        return int(total or 0), list((await self.session.execute(ordered)).scalars())


def _items(filters: ActionItemFilters) -> Select[ActionItem]:
    statement = select(ActionItem).join(
        Retrospective, Retrospective.id == ActionItem.retrospective_id
    )
    if filters.status:
        statement = statement.where(ActionItem.status.in_([s.value for s in filters.status]))
    if filters.owner is not None:
        statement = statement.where(ActionItem.owner == filters.owner)
    if filters.change_id is not None:
        statement = statement.where(Retrospective.change_id == filters.change_id)
    if filters.service is not None:
        statement = statement.where(Retrospective.services.contains([filters.service]))
    if filters.overdue_on is not None:
        statement = statement.where(
            ActionItem.status.in_(_OPEN), ActionItem.due_on < filters.overdue_on
        )
    return statement
