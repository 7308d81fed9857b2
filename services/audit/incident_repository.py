"""Every query of incidents and their links to changes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.models import Incident, IncidentLink
from shared.pagination import PageRequest, keyset_page


@dataclass(frozen=True)
class IncidentFilters:
    service: str | None = None
    environment: str | None = None
    resolved: bool | None = None
    started_from: datetime | None = None
    started_to: datetime | None = None
    change_id: UUID | None = None


class IncidentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> IncidentRepository:
        return cls(session)

    async def add(self, incident: Incident) -> Incident:
        self.session.add(incident)
        await self.session.flush()
        await self.session.refresh(incident)
        return incident

    async def flush(self, incident: Incident) -> Incident:
        await self.session.flush()
        await self.session.refresh(incident)
        return incident

    async def get(self, incident_id: UUID, *, for_update: bool = False) -> Incident | None:
        statement = select(Incident).where(Incident.id == incident_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def by_external_id(self, source: str, external_id: str) -> Incident | None:
        statement = (
            select(Incident)
            .where(Incident.source == source, Incident.external_id == external_id)
            .with_for_update()
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def add_link(self, link: IncidentLink) -> bool:
        """Insert `link`; False, inserting nothing, if the pair is already linked."""
        inserted = await self.session.scalar(
            insert(IncidentLink)
            .values(
                id=link.id,
                incident_id=link.incident_id,
                change_id=link.change_id,
                origin=link.origin,
                reason=link.reason,
                linked_by=link.linked_by,
                linked_at=link.linked_at,
            )
            .on_conflict_do_nothing(constraint="uq_incident_link_incident_change")
            .returning(IncidentLink.id)
        )
        return inserted is not None

    async def links_of(self, incident_ids: Collection[UUID]) -> dict[UUID, list[IncidentLink]]:
        links: dict[UUID, list[IncidentLink]] = defaultdict(list)
        if not incident_ids:
            return links
        statement = (
            select(IncidentLink)
            .where(IncidentLink.incident_id.in_(list(incident_ids)))
            .order_by(IncidentLink.linked_at, IncidentLink.id)
        )
        for link in (await self.session.execute(statement)).scalars():
            links[link.incident_id].append(link)
        return links

    async def page(
        self, filters: IncidentFilters, page: PageRequest
    ) -> tuple[list[Incident], str | None]:
        statement = select(Incident)
        if filters.service is not None:
            statement = statement.where(Incident.service == filters.service)
        if filters.environment is not None:
            statement = statement.where(Incident.environment == filters.environment)
        if filters.resolved is not None:
            resolved = Incident.resolved_at.is_not(None)
            statement = statement.where(resolved if filters.resolved else ~resolved)
        if filters.started_from is not None:
            statement = statement.where(Incident.started_at >= filters.started_from)
        if filters.started_to is not None:
            statement = statement.where(Incident.started_at < filters.started_to)
        if filters.change_id is not None:
            linked = select(IncidentLink.incident_id).where(
                IncidentLink.change_id == filters.change_id
            )
            statement = statement.where(Incident.id.in_(linked))
        return await keyset_page(self.session, statement, [Incident.created_at, Incident.id], page)

    async def for_report(
        self,
        *,
        environment: str,
        started_from: datetime,
        services: Collection[str] | None,
        change_ids: Collection[str],
    ) -> list[Incident]:
        """Incidents of the environment since then, and any linked to these changes."""
        recent = (Incident.environment == environment) & (Incident.started_at >= started_from)
        if services is not None:
            recent = recent & Incident.service.in_(list(services))
        condition = recent
        ids = [UUID(c) for c in change_ids if _is_uuid(c)]
        if ids:
            linked = select(IncidentLink.incident_id).where(IncidentLink.change_id.in_(ids))
            condition = recent | Incident.id.in_(linked)
        statement = select(Incident).where(condition).order_by(Incident.started_at, Incident.id)
        return list((await self.session.execute(statement)).scalars())


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True
