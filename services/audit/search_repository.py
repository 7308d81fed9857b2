"""Queries that search and export the ledger's entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, and_
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.domain import StoredEntry
from services.audit.models import LedgerEntry, LedgerSubject
from services.audit.repository import STORED_ENTRIES, to_stored


@dataclass(frozen=True)
class EntryFilter:
    """Every criterion is optional; entries must meet all that are given."""

    recorded_from: datetime | None = None
    recorded_to: datetime | None = None
    event_types: tuple[str, ...] = field(default_factory=tuple)
    actor: str | None = None
    subject: str | None = None
    source: str | None = None
    service: str | None = None
    environment: str | None = None
    impact_level: str | None = None
    outcome: str | None = None


class SearchRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> SearchRepository:
        return cls(session)

    async def search(
        self, criteria: EntryFilter, *, after: int, limit: int, up_to: int | None = None
    ) -> list[StoredEntry]:
        """Matching entries after sequence `after` (and at most `up_to`), in ledger order."""
        statement = _filtered(criteria).where(LedgerEntry.sequence > after)
        if up_to is not None:
            statement = statement.where(LedgerEntry.sequence <= up_to)
        statement = statement.order_by(LedgerEntry.sequence).limit(limit)
        return [to_stored(row) for row in await self.session.execute(statement)]


def _filtered(criteria: EntryFilter) -> Select[tuple[object, ...]]:
    statement: Select[tuple[object, ...]] = STORED_ENTRIES
    conditions = []
    if criteria.recorded_from is not None:
        conditions.append(LedgerEntry.recorded_at >= criteria.recorded_from)
    if criteria.recorded_to is not None:
        conditions.append(LedgerEntry.recorded_at < criteria.recorded_to)
    if criteria.event_types:
        conditions.append(LedgerEntry.event_type.in_(criteria.event_types))
    if criteria.actor is not None:
        conditions.append(LedgerEntry.actor == criteria.actor)
    if criteria.subject is not None:
        conditions.append(LedgerEntry.subject == criteria.subject)
    if criteria.source is not None:
        conditions.append(LedgerEntry.source == criteria.source)
    facet_conditions = []
    if criteria.service is not None:
        facet_conditions.append(LedgerSubject.services.contains([criteria.service]))
    if criteria.environment is not None:
        facet_conditions.append(LedgerSubject.environment == criteria.environment)
    if criteria.impact_level is not None:
        facet_conditions.append(LedgerSubject.impact_level == criteria.impact_level)
    if criteria.outcome is not None:
        facet_conditions.append(LedgerSubject.outcome == criteria.outcome)
    if facet_conditions:
        statement = statement.join(LedgerSubject, LedgerSubject.subject == LedgerEntry.subject)
        conditions.extend(facet_conditions)
    return statement.where(and_(True, *conditions))
