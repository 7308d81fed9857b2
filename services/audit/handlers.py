"""Records every event of every topic in the ledger."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.audit import service
from shared.events import CloudEvent


async def record_in_ledger(session: AsyncSession, event: CloudEvent) -> None:
    await service.append_event(session, event)
