"""Records every event of every topic in the ledger."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.audit import service
from shared.events import CloudEvent


async def record_in_ledger(session: AsyncSession, event: CloudEvent) -> None:
    await service.append_event(session, event)


async def record_batch_in_ledger(session: AsyncSession, events: Sequence[CloudEvent]) -> None:
    """Consecutive events in order, in one transaction: one commit for the whole batch."""
    await service.append_events(session, events)
