"""Incident use cases: record (by API or pager webhook), resolve, link to the causing change.

Incidents are state the audit service owns; every change to them is also an event in
the outbox, so the ledger keeps their history beside the changes'.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.audit import pagerduty
from services.audit.errors import (
    ChangeUnknownToLedger,
    IncidentAlreadyLinked,
    IncidentAlreadyResolved,
    IncidentNotFound,
)
from services.audit.incident_reads import link_read, read, suggestions, to_read
from services.audit.incident_repository import IncidentFilters, IncidentRepository
from services.audit.incident_schemas import (
    IncidentCreate,
    IncidentRead,
    IncidentUpdate,
    LinkCreate,
    LinkRead,
)
from services.audit.models import Incident, IncidentLink, tables
from services.audit.report_repository import ReportRepository
from shared.auth import Principal
from shared.concurrency import check_version
from shared.contracts import EventType, IncidentLinked, IncidentRecorded, IncidentResolved, Severity
from shared.errors import InvalidRequest
from shared.outbox import record_event
from shared.pagination import Page, PageRequest
from shared.settings import Settings

API = "api"
_NAMED = "named as the cause when the incident was recorded"


async def record_incident(
    session: AsyncSession, body: IncidentCreate, principal: Principal, settings: Settings
) -> tuple[IncidentRead, bool]:
    """The incident and whether it is new (a repeated `external_id` finds the first)."""
    repository = IncidentRepository.from_session(session)
    if body.external_id is not None:
        existing = await repository.by_external_id(API, body.external_id)
        if existing is not None:
            return await read(session, existing, settings), False
    if body.change_id is not None:
        await _check_known(session, body.change_id)
    incident = await _add(
        session,
        Incident(
            service=body.service,
            environment=body.environment,
            severity=body.severity.value,
            title=body.title,
            started_at=body.started_at,
            resolved_at=body.resolved_at,
            external_url=str(body.external_url) if body.external_url else None,
            source=API,
            external_id=body.external_id,
            recorded_by=principal.subject,
            version=1,
        ),
        principal,
    )
    if body.change_id is not None:
        await _link(session, incident, body.change_id, "explicit", _NAMED, principal)
    return await read(session, incident, settings), True


async def record_paged(
    session: AsyncSession, paged: pagerduty.PagedIncident, principal: Principal, settings: Settings
) -> tuple[IncidentRead, bool]:
    """A PagerDuty incident opened or resolved; a redelivery changes nothing."""
    repository = IncidentRepository.from_session(session)
    incident = await repository.by_external_id(pagerduty.SOURCE, paged.external_id)
    if incident is not None:
        if paged.resolved_at is not None and incident.resolved_at is None:
            incident = await _resolve(session, incident, paged.resolved_at, principal)
        return await read(session, incident, settings), False
    incident = await _add(
        session,
        Incident(
            service=paged.service,
            environment=settings.pagerduty_environment,
            severity=paged.severity.value,
            title=paged.title,
            started_at=paged.started_at,
            resolved_at=paged.resolved_at,
            external_url=paged.external_url,
            source=pagerduty.SOURCE,
            external_id=paged.external_id,
            recorded_by=principal.subject,
            version=1,
        ),
        principal,
    )
    return await read(session, incident, settings), True


async def resolve_incident(
    session: AsyncSession,
    incident_id: UUID,
    body: IncidentUpdate,
    *,
    if_match: str | None,
    principal: Principal,
    settings: Settings,
) -> IncidentRead:
    incident = await _load(session, incident_id, for_update=True)
    if if_match is not None:
        check_version(if_match, incident.version, noun="incident")
    if incident.resolved_at is not None:
        raise IncidentAlreadyResolved(
            f"Incident {incident_id} was resolved at {incident.resolved_at.isoformat()}.",
            resolved_at=incident.resolved_at.isoformat(),
        )
    resolved_at = body.resolved_at or datetime.now(UTC)
    if resolved_at < incident.started_at:
        raise InvalidRequest(
            "Invalid fields: body.resolved_at",
            errors=[
                {
                    "loc": ["body", "resolved_at"],
                    "msg": f"must not be before the incident started ({incident.started_at})",
                    "type": "value_error",
                }
            ],
        )
    incident = await _resolve(session, incident, resolved_at, principal)
    return await read(session, incident, settings)


async def link_change(
    session: AsyncSession,
    incident_id: UUID,
    body: LinkCreate,
    principal: Principal,
    settings: Settings,
) -> LinkRead:
    """Confirm a suggested link (keeping its reason), or link a change explicitly with one."""
    incident = await _load(session, incident_id)
    suggested = {s.change_id: s for s in await suggestions(session, incident, settings)}
    suggestion = suggested.get(str(body.change_id))
    if suggestion is not None:
        origin, reason = "suggested", body.reason or suggestion.reason
    else:
        if not (body.reason or "").strip():
            raise InvalidRequest(
                "Invalid fields: body.reason",
                errors=[
                    {
                        "loc": ["body", "reason"],
                        "msg": "say why: the change is not among the incident's suggestions",
                        "type": "missing",
                    }
                ],
            )
        await _check_known(session, body.change_id)
        origin, reason = "explicit", str(body.reason)
    link = await _link(session, incident, body.change_id, origin, reason, principal)
    return link_read(link)


async def get_incident(
    session: AsyncSession, incident_id: UUID, settings: Settings
) -> IncidentRead:
    return await read(session, await _load(session, incident_id), settings)


async def list_incidents(
    session: AsyncSession, filters: IncidentFilters, page: PageRequest
) -> Page[IncidentRead]:
    repository = IncidentRepository.from_session(session)
    rows, next_cursor = await repository.page(filters, page)
    links = await repository.links_of([row.id for row in rows])
    return Page[IncidentRead](
        items=[to_read(row, links.get(row.id, []), None) for row in rows],
        next_cursor=next_cursor,
    )


async def _add(session: AsyncSession, incident: Incident, principal: Principal) -> Incident:
    incident = await IncidentRepository.from_session(session).add(incident)
    payload = IncidentRecorded(
        incident_id=incident.id,
        service=incident.service,
        environment=incident.environment,
        severity=Severity(incident.severity),
        title=incident.title,
        started_at=incident.started_at,
        resolved_at=incident.resolved_at,
        external_url=incident.external_url,
        source=incident.source,
        external_id=incident.external_id,
        recorded_by=principal.subject,
    )
    await record_event(
        session,
        tables,
        EventType.INCIDENT_RECORDED,
        subject=str(incident.id),
        data=payload,
        actor=principal.subject,
    )
    return incident


async def _resolve(
    session: AsyncSession, incident: Incident, resolved_at: datetime, principal: Principal
) -> Incident:
    incident.resolved_at = resolved_at
    incident.version += 1
    incident = await IncidentRepository.from_session(session).flush(incident)
    await record_event(
        session,
        tables,
        EventType.INCIDENT_RESOLVED,
        subject=str(incident.id),
        data=IncidentResolved(
            incident_id=incident.id, resolved_at=resolved_at, resolved_by=principal.subject
        ),
        actor=principal.subject,
    )
    return incident


async def _link(
    session: AsyncSession,
    incident: Incident,
    change_id: UUID,
    origin: str,
    reason: str,
    principal: Principal,
) -> IncidentLink:
    link = IncidentLink(
        id=uuid.uuid4(),
        incident_id=incident.id,
        change_id=change_id,
        origin=origin,
        reason=reason,
        linked_by=principal.subject,
        linked_at=datetime.now(UTC),
    )
    if not await IncidentRepository.from_session(session).add_link(link):
        raise IncidentAlreadyLinked(f"Incident {incident.id} is already linked to {change_id}.")
    # Subject: the change, so the link shows in the change's own ledger timeline.
    await record_event(
        session,
        tables,
        EventType.INCIDENT_LINKED,
        subject=str(change_id),
        data=IncidentLinked(
            incident_id=incident.id,
            change_id=change_id,
            origin=origin,
            reason=reason,
            linked_by=principal.subject,
        ),
        actor=principal.subject,
    )
    return link


async def _check_known(session: AsyncSession, change_id: UUID) -> None:
    if not await ReportRepository.from_session(session).has_subject(str(change_id)):
        raise ChangeUnknownToLedger(f"The ledger has recorded no event of change {change_id}.")


async def _load(session: AsyncSession, incident_id: UUID, *, for_update: bool = False) -> Incident:
    incident = await IncidentRepository.from_session(session).get(
        incident_id, for_update=for_update
    )
    if incident is None:
        raise IncidentNotFound(f"No incident with id {incident_id}.")
    return incident
