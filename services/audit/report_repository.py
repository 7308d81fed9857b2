"""Ledger queries behind the stability reports and incident link suggestions.

Events are read where the ledger keeps them: the entry's JSON (its `event.time` and
`event.data`), narrowed first by the indexed columns (`event_type`, `recorded_at`,
`subject`) and the per-subject facets (`ledger_subject`: services, environment).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, and_, cast, exists, or_, select
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.models import LedgerEntry, LedgerSubject, Retrospective

_EVENT = cast(LedgerEntry.entry, JSONB)["event"]
# When the event happened, per its source (the ledger's `recorded_at` is when it arrived).
HAPPENED_AT = cast(_EVENT["time"].astext, TIMESTAMP(timezone=True))
DATA = _EVENT["data"]

_EVENTS = select(
    LedgerEntry.subject,
    LedgerEntry.event_type,
    HAPPENED_AT.label("at"),
    DATA.label("data"),
    LedgerEntry.actor,
)


@dataclass(frozen=True)
class LedgerEvent:
    subject: str
    event_type: str
    at: datetime
    data: dict[str, Any]
    actor: str


class ReportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> ReportRepository:
        return cls(session)

    async def events_recorded_since(
        self,
        event_types: Collection[str],
        *,
        recorded_since: datetime,
        environment: str,
        services: Collection[str] | None,
    ) -> list[LedgerEvent]:
        """Events of these types recorded since then, about subjects in the environment."""
        statement = _EVENTS.where(
            LedgerEntry.event_type.in_(list(event_types)),
            LedgerEntry.recorded_at >= recorded_since,
            LedgerEntry.subject.in_(_subjects(environment, services)),
        )
        return await self._events(statement.order_by(LedgerEntry.sequence))

    async def events_of_subjects(
        self, subjects: Collection[str], event_types: Collection[str]
    ) -> list[LedgerEvent]:
        if not subjects:
            return []
        statement = _EVENTS.where(
            LedgerEntry.subject.in_(list(subjects)),
            LedgerEntry.event_type.in_(list(event_types)),
        )
        return await self._events(statement.order_by(LedgerEntry.sequence))

    async def rollouts_before(
        self,
        *,
        service: str,
        environment: str,
        since: datetime,
        until: datetime,
        recorded_since: datetime,
    ) -> list[LedgerEvent]:
        """Executions started and deployments reported on the service between the two instants."""
        started = and_(
            LedgerEntry.event_type == "change.execution_started",
            DATA["services"].contains([service]),
        )
        deployed = and_(
            LedgerEntry.event_type == "deployment.reported",
            DATA["service"].astext == service,
        )
        statement = _EVENTS.where(
            LedgerEntry.event_type.in_(["change.execution_started", "deployment.reported"]),
            LedgerEntry.recorded_at >= recorded_since,
            or_(started, deployed),
            DATA["environment"].astext == environment,
            HAPPENED_AT.between(since, until),
        )
        return await self._events(statement.order_by(LedgerEntry.sequence))

    async def emergencies_without_retrospective(
        self, *, environment: str, services: Collection[str] | None
    ) -> list[LedgerEvent]:
        """`change.approved` events that demand a post-change review none has recorded yet."""
        demanded = or_(
            DATA.contains({"emergency": True}), DATA.contains({"retrospective_required": True})
        )
        reviewed = exists().where(cast(Retrospective.change_id, Text) == LedgerEntry.subject)
        statement = _EVENTS.where(
            LedgerEntry.event_type == "change.approved",
            demanded,
            ~reviewed,
            LedgerEntry.subject.in_(_subjects(environment, services)),
        )
        return await self._events(statement.order_by(LedgerEntry.sequence))

    async def has_subject(self, subject: str) -> bool:
        found = await self.session.scalar(
            select(LedgerEntry.sequence).where(LedgerEntry.subject == subject).limit(1)
        )
        return found is not None

    async def services_of(self, subject: str) -> list[str]:
        services = await self.session.scalar(
            select(LedgerSubject.services).where(LedgerSubject.subject == subject)
        )
        return list(services or [])

    async def _events(self, statement: Select[Any]) -> list[LedgerEvent]:
        rows = await self.session.execute(statement)
        return [
            LedgerEvent(
                subject=row.subject,
                event_type=row.event_type,
                at=row.at,
                data=row.data if isinstance(row.data, dict) else {},
                actor=row.actor,
            )
            for row in rows
        ]


def _subjects(environment: str, services: Collection[str] | None) -> Select[Any]:
    conditions: list[ColumnElement[bool]] = [LedgerSubject.environment == environment]
    if services is not None:
        conditions.append(LedgerSubject.services.overlap(sorted(services)))
    return select(LedgerSubject.subject).where(*conditions)
