"""Incidents as read: with their links and the changes suggested as their cause."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.incident_repository import IncidentRepository
from services.audit.incident_rules import Suggestion, suggest_links
from services.audit.incident_schemas import IncidentRead, LinkRead, SuggestedLinkRead
from services.audit.models import Incident, IncidentLink
from services.audit.report_repository import ReportRepository
from shared.contracts import Severity
from shared.settings import Settings

# How far an event's source clock may run ahead of the ledger's when it is recorded.
RECORDING_SLACK = timedelta(hours=1)


async def suggestions(
    session: AsyncSession, incident: Incident, settings: Settings
) -> list[Suggestion]:
    lookback = timedelta(minutes=settings.incident_link_lookback_minutes)
    since = incident.started_at - lookback
    rollouts = await ReportRepository.from_session(session).rollouts_before(
        service=incident.service,
        environment=incident.environment,
        since=since,
        until=incident.started_at,
        recorded_since=since - RECORDING_SLACK,
    )
    links = await IncidentRepository.from_session(session).links_of([incident.id])
    return suggest_links(
        service=incident.service,
        environment=incident.environment,
        started_at=incident.started_at,
        rollouts=rollouts,
        lookback=lookback,
        linked=frozenset(str(link.change_id) for link in links.get(incident.id, [])),
    )


async def read(session: AsyncSession, incident: Incident, settings: Settings) -> IncidentRead:
    links = await IncidentRepository.from_session(session).links_of([incident.id])
    suggested = await suggestions(session, incident, settings)
    return to_read(incident, links.get(incident.id, []), suggested)


def to_read(
    incident: Incident, links: list[IncidentLink], suggestions: list[Suggestion] | None
) -> IncidentRead:
    return IncidentRead(
        id=incident.id,
        service=incident.service,
        environment=incident.environment,
        severity=Severity(incident.severity),
        title=incident.title,
        started_at=incident.started_at,
        resolved_at=incident.resolved_at,
        external_url=incident.external_url,
        source=incident.source,
        external_id=incident.external_id,
        recorded_by=incident.recorded_by,
        version=incident.version,
        created_at=incident.created_at,
        links=[link_read(link) for link in links],
        suggested_links=None
        if suggestions is None
        else [
            SuggestedLinkRead(change_id=UUID(s.change_id), reason=s.reason, rolled_out_at=s.at)
            for s in suggestions
        ],
    )


def link_read(link: IncidentLink) -> LinkRead:
    return LinkRead(
        change_id=link.change_id,
        origin="suggested" if link.origin == "suggested" else "explicit",
        reason=link.reason,
        linked_by=link.linked_by,
        linked_at=link.linked_at,
    )
