"""CI/CD deployment reports: store every one, tie it to its change, flag the unauthorized."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain
from services.intake.deployment_schemas import DeploymentRead
from services.intake.models import ChangeRequest, DeploymentReport, tables
from services.intake.repository import ChangeRepository, DeploymentFilters, DeploymentRepository
from services.intake.webhooks import DeploymentFacts
from shared.auth import Principal
from shared.contracts import ChangeStatus, DeploymentReported, EventType
from shared.errors import NotFound
from shared.outbox import record_event
from shared.pagination import Page, PageRequest

log = structlog.get_logger(__name__)


class DeploymentNotFound(NotFound):
    code = "deployment-not-found"
    title = "Deployment report not found"


async def report_deployment(
    session: AsyncSession, facts: DeploymentFacts, payload: dict[str, Any], principal: Principal
) -> tuple[DeploymentRead, bool]:
    """Record a report and publish `deployment.reported`; (report, whether it is new).

    A repeat of a status already reported for the same `external_id` is answered with the
    first report, not stored twice.
    """
    repository = DeploymentRepository.from_session(session)
    if facts.external_id is not None:
        known = await repository.delivered(facts.provider, facts.external_id, facts.status)
        if known is not None:
            return to_read(known), False
    change, correlation = await _correlate(session, facts)
    unauthorized = domain.unauthorized(
        facts.environment,
        None if change is None else (ChangeStatus(change.status), change.emergency),
    )
    report = await repository.add_unless_known(
        DeploymentReport(
            provider=facts.provider,
            external_id=facts.external_id,
            service=facts.service,
            environment=facts.environment,
            version=facts.version,
            status=facts.status.value,
            started_at=facts.started_at,
            finished_at=facts.finished_at,
            pipeline_url=facts.pipeline_url,
            commit=facts.commit,
            change_id=change.id if change is not None else facts.change_id,
            correlation=correlation,
            unauthorized=unauthorized,
            reported_by=principal.subject,
            payload=payload,
        )
    )
    if report is None:
        assert facts.external_id is not None
        known = await repository.delivered(facts.provider, facts.external_id, facts.status)
        assert known is not None
        return to_read(known), False
    if unauthorized:
        log.warning(
            "unauthorized production deployment",
            deployment_id=str(report.id),
            service=report.service,
            environment=report.environment,
        )
    read = to_read(report)
    await record_event(
        session,
        tables,
        EventType.DEPLOYMENT_REPORTED,
        subject=str(report.id),
        data=DeploymentReported(
            deployment_id=report.id,
            **read.model_dump(exclude={"id", "received_at"}),
        ),
        actor=principal.subject,
        partition_key=report.service,
    )
    return read, True


async def _correlate(
    session: AsyncSession, facts: DeploymentFacts
) -> tuple[ChangeRequest | None, str]:
    changes = ChangeRepository.from_session(session)
    if facts.change_id is not None:
        change = await changes.get(facts.change_id)
        return change, "explicit" if change is not None else "unknown_change"
    change = await changes.covering_change(
        service=facts.service,
        environment=facts.environment,
        at=facts.started_at or facts.finished_at or datetime.now(UTC),
        statuses=domain.APPROVED_STATUSES | domain.EMERGENCY_STATUSES,
    )
    return change, "window" if change is not None else "none"


async def get_deployment(session: AsyncSession, deployment_id: UUID) -> DeploymentRead:
    report = await DeploymentRepository.from_session(session).get(deployment_id)
    if report is None:
        raise DeploymentNotFound(f"No deployment report with id {deployment_id}.")
    return to_read(report)


async def list_deployments(
    session: AsyncSession, filters: DeploymentFilters, page: PageRequest
) -> Page[DeploymentRead]:
    rows, next_cursor = await DeploymentRepository.from_session(session).page(filters, page)
    return Page[DeploymentRead](items=[to_read(row) for row in rows], next_cursor=next_cursor)


def to_read(report: DeploymentReport) -> DeploymentRead:
    return DeploymentRead(
        id=report.id,
        provider=report.provider,
        external_id=report.external_id,
        service=report.service,
        environment=report.environment,
        version=report.version,
        status=report.status,
        started_at=report.started_at,
        finished_at=report.finished_at,
        pipeline_url=report.pipeline_url,
        commit=report.commit,
        change_id=report.change_id,
        correlation=report.correlation,
        unauthorized=report.unauthorized,
        reported_by=report.reported_by,
        received_at=report.received_at,
    )
