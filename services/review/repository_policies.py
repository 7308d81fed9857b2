"""The review service's queries about policy versions and freeze windows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, Text, and_, cast, func, or_, select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from services.review.models import FreezeWindow, PolicyVersion
from shared.pagination import PageRequest, keyset_page


@dataclass(frozen=True)
class FreezeFilters:
    active_at: datetime | None = None
    service: str | None = None
    environment: str | None = None
    include_lifted: bool = False


class PolicyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> PolicyRepository:
        return cls(session)

    async def latest(self, name: str) -> PolicyVersion | None:
        statement = (
            select(PolicyVersion)
            .where(PolicyVersion.name == name)
            .order_by(PolicyVersion.version.desc())
            .limit(1)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def latest_documents(self) -> dict[str, tuple[int, str]]:
        """The version in force of each stored policy and its document as JSON text."""
        rows = await self.session.execute(
            select(PolicyVersion.name, PolicyVersion.version, cast(PolicyVersion.document, Text))
            .ext(distinct_on(PolicyVersion.name))
            .order_by(PolicyVersion.name, PolicyVersion.version.desc())
        )
        return {name: (version, document) for name, version, document in rows}

    async def get(self, name: str, version: int) -> PolicyVersion | None:
        return await self.session.get(PolicyVersion, (name, version))

    async def lock(self, name: str) -> None:
        """Serialise writers of one policy until the transaction ends."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"review-policy:{name}"}
        )

    async def add(
        self, name: str, version: int, document: dict[str, Any], created_by: str
    ) -> PolicyVersion:
        row = PolicyVersion(name=name, version=version, document=document, created_by=created_by)
        self.session.add(row)
        await self.session.flush()
        await self.session.refresh(row)
        return row

    async def page(self, name: str, page: PageRequest) -> tuple[list[PolicyVersion], str | None]:
        statement = select(PolicyVersion).where(PolicyVersion.name == name)
        return await keyset_page(self.session, statement, [PolicyVersion.version], page)


class FreezeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> FreezeRepository:
        return cls(session)

    async def add(self, freeze: FreezeWindow) -> FreezeWindow:
        self.session.add(freeze)
        await self.session.flush()
        await self.session.refresh(freeze)
        return freeze

    async def get(self, freeze_id: UUID, *, for_update: bool = False) -> FreezeWindow | None:
        statement = select(FreezeWindow).where(FreezeWindow.id == freeze_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def flush(self) -> None:
        await self.session.flush()

    async def covering(
        self, *, services: Sequence[str], environment: str, start: datetime, end: datetime
    ) -> list[FreezeWindow]:
        """Freeze windows in force that overlap [start, end) for any of `services`."""
        statement = (
            self._in_force()
            .where(FreezeWindow.start_at < end, FreezeWindow.end_at > start)
            .where(_covers_environment(environment))
            .where(
                or_(
                    func.cardinality(FreezeWindow.services) == 0,
                    FreezeWindow.services.overlap(list(services)),
                )
            )
            .order_by(FreezeWindow.start_at, FreezeWindow.id)
        )
        return list((await self.session.execute(statement)).scalars().all())

    async def page(
        self, filters: FreezeFilters, page: PageRequest
    ) -> tuple[list[FreezeWindow], str | None]:
        statement = select(FreezeWindow) if filters.include_lifted else self._in_force()
        if filters.active_at is not None:
            statement = statement.where(
                and_(
                    FreezeWindow.start_at <= filters.active_at,
                    FreezeWindow.end_at > filters.active_at,
                )
            )
        if filters.environment is not None:
            statement = statement.where(_covers_environment(filters.environment))
        if filters.service is not None:
            statement = statement.where(
                or_(
                    func.cardinality(FreezeWindow.services) == 0,
                    FreezeWindow.services.contains([filters.service]),
                )
            )
        return await keyset_page(
            self.session, statement, [FreezeWindow.start_at, FreezeWindow.id], page
        )

    @staticmethod
    def _in_force() -> Select[FreezeWindow]:
        return select(FreezeWindow).where(FreezeWindow.lifted_at.is_(None))


def _covers_environment(environment: str) -> Any:
    return or_(FreezeWindow.environment.is_(None), FreezeWindow.environment == environment)
