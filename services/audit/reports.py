"""The stability report: DORA keys per service and team from the ledger, with their trend.

Teams come from the `service_teams` setting (service -> team); a change counts for the
team of each of its services, once per team.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.audit import dora
from services.audit.incident_reads import RECORDING_SLACK
from services.audit.incident_repository import IncidentRepository
from services.audit.models import Incident, IncidentLink
from services.audit.report_records import (
    CHANGE_EVENTS,
    REPORT_EVENTS,
    ReportedDeployment,
    change_records,
    missing_requests,
    reported_deployments,
)
from services.audit.report_repository import LedgerEvent, ReportRepository
from services.audit.report_schemas import (
    AwaitingRetrospectiveRead,
    DurationsRead,
    FiguresRead,
    Listing,
    ScopeRead,
    ServiceStabilityRead,
    StabilityReportRead,
    TeamStabilityRead,
    TrendRead,
    UnauthorizedDeploymentRead,
    WindowRead,
)
from services.audit.retrospective_repository import RetrospectiveRepository
from services.audit.retrospective_schemas import ActionItemRead
from services.audit.retrospectives import items_read, today
from shared.settings import Settings

UNOWNED = "unowned"
LISTED = 100


@dataclass(frozen=True)
class ReportQuery:
    window: dora.Window
    environment: str
    service: str | None = None
    team: str | None = None


async def stability_report(
    session: AsyncSession, query: ReportQuery, settings: Settings
) -> StabilityReportRead:
    owners = settings.service_teams
    scope = _scope(query, owners)
    previous = query.window.previous()
    ledger = ReportRepository.from_session(session)
    events = await ledger.events_recorded_since(
        REPORT_EVENTS,
        recorded_since=previous.start - RECORDING_SLACK,
        environment=query.environment,
        services=scope,
    )
    deployments = reported_deployments(events)
    # Requests made before the events read still start their changes' lead time.
    earlier = await ledger.events_of_subjects(
        missing_requests(events, [d.record for d in deployments]), CHANGE_EVENTS
    )
    changes = change_records([*earlier, *events])
    incidents = await IncidentRepository.from_session(session).for_report(
        environment=query.environment,
        started_from=previous.start,
        services=scope,
        change_ids=[c.change_id for c in changes],
    )
    links = await IncidentRepository.from_session(session).links_of([i.id for i in incidents])
    history = dora.History(
        changes=changes,
        deployments=[d.record for d in deployments],
        incidents=[_incident(i, links.get(i.id, [])) for i in incidents],
    )
    services = sorted(
        {s for c in changes for s in c.services}
        | {d.record.service for d in deployments}
        | {i.service for i in incidents}
    )
    if scope is not None:
        services = [s for s in services if s in scope]
    teams = sorted({owners.get(s, UNOWNED) for s in services})
    return StabilityReportRead(
        environment=query.environment,
        service=query.service,
        team=query.team,
        window=_window(query.window),
        previous_window=_window(previous),
        overall=_scope_read(history, query.window, scope),
        services=[
            ServiceStabilityRead(
                service=service,
                team=owners.get(service, UNOWNED),
                **_scope_read(history, query.window, frozenset({service})).model_dump(),
            )
            for service in services
        ],
        teams=[
            TeamStabilityRead(
                team=team,
                services=members,
                **_scope_read(history, query.window, frozenset(members)).model_dump(),
            )
            for team in teams
            if (members := [s for s in services if owners.get(s, UNOWNED) == team])
        ],
        unauthorized_deployments=_unauthorized(deployments, query.window, scope),
        emergency_changes_awaiting_retrospective=await _awaiting(session, query, scope),
        overdue_action_items=await _overdue(session, scope),
    )


def _scope(query: ReportQuery, owners: dict[str, str]) -> frozenset[str] | None:
    """The services reported on; None for all of them."""
    scope: frozenset[str] | None = None
    if query.team is not None:
        scope = frozenset(s for s, team in owners.items() if team == query.team)
    if query.service is not None:
        wanted = frozenset({query.service})
        scope = wanted if scope is None else scope & wanted
    return scope


def _scope_read(
    history: dora.History, window: dora.Window, services: frozenset[str] | None
) -> ScopeRead:
    current = dora.figures(history, window, services)
    before = dora.figures(history, window.previous(), services)
    trend = dora.trend(current, before)
    return ScopeRead(
        current=_figures(current),
        previous=_figures(before),
        trend=TrendRead(
            deployment_frequency=trend.deployment_frequency,
            lead_time=trend.lead_time,
            change_failure_rate=trend.change_failure_rate,
            time_to_restore=trend.time_to_restore,
            instability_rising=trend.instability_rising,
        ),
    )


def _figures(figures: dora.Figures) -> FiguresRead:
    return FiguresRead(
        deployments=figures.deployments,
        deployment_frequency_per_day=figures.deployment_frequency_per_day,
        lead_time=_durations(figures.lead_time),
        changes_deployed=figures.changes_deployed,
        changes_failed=figures.changes_failed,
        change_failure_rate=figures.change_failure_rate,
        time_to_restore=_durations(figures.time_to_restore),
        unrestored=figures.unrestored,
        unauthorized_deployments=figures.unauthorized_deployments,
    )


def _durations(durations: dora.Durations) -> DurationsRead:
    return DurationsRead(
        count=durations.count,
        median_seconds=durations.median_seconds,
        p90_seconds=durations.p90_seconds,
    )


def _incident(incident: Incident, links: list[IncidentLink]) -> dora.IncidentRecord:
    return dora.IncidentRecord(
        incident_id=str(incident.id),
        service=incident.service,
        started_at=incident.started_at,
        resolved_at=incident.resolved_at,
        change_ids=frozenset(str(link.change_id) for link in links),
    )


def _window(window: dora.Window) -> WindowRead:
    return WindowRead(start=window.start, end=window.end, days=window.days)


def _unauthorized(
    deployments: list[ReportedDeployment], window: dora.Window, scope: frozenset[str] | None
) -> Listing[UnauthorizedDeploymentRead]:
    found = sorted(
        (
            d
            for d in deployments
            if d.unauthorized
            and d.record.at in window
            and (scope is None or d.record.service in scope)
        ),
        key=lambda d: d.record.at,
        reverse=True,
    )
    return Listing[UnauthorizedDeploymentRead](
        count=len(found),
        items=[
            UnauthorizedDeploymentRead(
                deployment_id=UUID(d.record.deployment_id),
                service=d.record.service,
                environment=d.environment,
                at=d.record.at,
                change_id=UUID(d.record.change_id) if d.record.change_id else None,
                provider=d.provider,
                reported_by=d.reported_by,
            )
            for d in found[:LISTED]
        ],
    )


async def _awaiting(
    session: AsyncSession, query: ReportQuery, scope: frozenset[str] | None
) -> Listing[AwaitingRetrospectiveRead]:
    approvals = await ReportRepository.from_session(session).emergencies_without_retrospective(
        environment=query.environment, services=scope
    )
    latest: dict[str, LedgerEvent] = {approval.subject: approval for approval in approvals}
    found = sorted(latest.values(), key=lambda a: a.at)
    return Listing[AwaitingRetrospectiveRead](
        count=len(found),
        items=[_awaiting_read(approval) for approval in found[:LISTED]],
    )


def _awaiting_read(approval: LedgerEvent) -> AwaitingRetrospectiveRead:
    data = approval.data
    services = data.get("services")
    approvers = data.get("approvers")
    return AwaitingRetrospectiveRead(
        change_id=UUID(approval.subject),
        services=[s for s in services if isinstance(s, str)] if isinstance(services, list) else [],
        environment=_text(data.get("environment")),
        impact_level=_text(data.get("impact_level")),
        approved_at=approval.at,
        approvers=[a for a in approvers if isinstance(a, str)]
        if isinstance(approvers, list)
        else [],
    )


async def _overdue(session: AsyncSession, scope: frozenset[str] | None) -> Listing[ActionItemRead]:
    total, items = await RetrospectiveRepository.from_session(session).overdue(
        today=today(), services=scope, limit=LISTED
    )
    return Listing[ActionItemRead](count=total, items=await items_read(session, items))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
