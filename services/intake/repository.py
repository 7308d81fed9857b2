"""Every query of the intake service."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.models import ChangeRequest


class ChangeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> ChangeRepository:
        return cls(session)

    async def get(self, change_id: UUID, *, for_update: bool = False) -> ChangeRequest | None:
        statement = select(ChangeRequest).where(ChangeRequest.id == change_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def add(self, change: ChangeRequest) -> ChangeRequest:
        self.session.add(change)
        await self.session.flush()
        await self.session.refresh(change)
        return change

    async def flush(self, change: ChangeRequest) -> ChangeRequest:
        await self.session.flush()
        await self.session.refresh(change)
        return change
