"""Review use cases: they load, apply the domain rules, save and record events; never commit."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.review import domain
from services.review.domain import ReviewStatus
from services.review.models import Approval, Assessment, tables
from services.review.repository import AssessmentRepository
from services.review.schemas import ApprovalCreate, ApprovalRead, Readiness, ReviewRead
from shared.auth import Principal, Role
from shared.contracts import (
    ApprovalRecorded,
    ChangeApproved,
    ChangeAssessed,
    ChangeRejected,
    ChangeSnapshot,
    Decision,
    EventType,
    ImpactLevel,
    ReadinessItem,
    RequiredApproval,
    Window,
)
from shared.errors import NotFound
from shared.outbox import record_event

log = structlog.get_logger(__name__)

# The actor of events review publishes on its own, not on behalf of a caller.
REVIEW_ACTOR = "system:review"


class ReviewNotFound(NotFound):
    code = "review-not-found"
    title = "Review not found"


async def assess_change(session: AsyncSession, change: ChangeSnapshot) -> None:
    """Assess a newly requested change and publish `change.assessed`; once per change."""
    assessment = domain.assess(change)
    inserted = await AssessmentRepository.from_session(session).add_if_absent(
        Assessment(
            change_id=change.change_id,
            requester=change.requester,
            title=change.title,
            category=change.category.value,
            services=change.services,
            environment=change.environment,
            window_start_at=change.window.start,
            window_end_at=change.window.end,
            emergency=change.emergency,
            impact_level=assessment.impact_level.value,
            ready=assessment.ready,
            readiness=[item.model_dump(mode="json") for item in assessment.readiness],
            required_approvals=[
                need.model_dump(mode="json") for need in assessment.required_approvals
            ],
            status=ReviewStatus.PENDING.value,
            version=1,
        )
    )
    if not inserted:
        log.info("change already assessed", change_id=str(change.change_id))
        return
    await record_event(
        session,
        tables,
        EventType.CHANGE_ASSESSED,
        subject=str(change.change_id),
        data=ChangeAssessed(
            impact_level=assessment.impact_level,
            ready=assessment.ready,
            readiness=list(assessment.readiness),
            required_approvals=list(assessment.required_approvals),
        ),
        actor=REVIEW_ACTOR,
    )


async def cancel_review(session: AsyncSession, change_id: UUID) -> None:
    """Close a pending review of a cancelled change."""
    repository = AssessmentRepository.from_session(session)
    assessment = await repository.get(change_id, for_update=True)
    if assessment is None:
        return
    status = domain.status_on_cancel(ReviewStatus(assessment.status))
    if status.value != assessment.status:
        assessment.status = status.value
        assessment.version += 1
        await repository.flush()


async def get_review(session: AsyncSession, change_id: UUID) -> ReviewRead:
    return to_read(await _load(AssessmentRepository.from_session(session), change_id))


async def record_decision(
    session: AsyncSession, change_id: UUID, body: ApprovalCreate, principal: Principal
) -> ReviewRead:
    """Record one approver's decision; publishes the outcome once the review is decided."""
    repository = AssessmentRepository.from_session(session)
    # The row lock serialises concurrent decisions, so only one of them can decide the review.
    assessment = await _load(repository, change_id, for_update=True)
    verdict = domain.decide(
        _review(assessment),
        approver=principal.subject,
        roles=principal.roles,
        decision=body.decision,
    )
    await repository.add_approval(
        assessment,
        Approval(
            approver=principal.subject,
            role=verdict.vote.role.value,
            decision=body.decision.value,
            comment=body.comment,
        ),
    )
    assessment.version += 1
    subject = str(change_id)
    await record_event(
        session,
        tables,
        EventType.CHANGE_APPROVAL_RECORDED,
        subject=subject,
        data=ApprovalRecorded(
            approver=principal.subject,
            role=verdict.vote.role,
            decision=body.decision,
            comment=body.comment,
        ),
        actor=principal.subject,
    )
    if verdict.status is not ReviewStatus.PENDING:
        assessment.status = verdict.status.value
        assessment.decided_at = datetime.now(UTC)
        event_type, outcome = _outcome_event(assessment, verdict.status, body, principal)
        await record_event(
            session, tables, event_type, subject=subject, data=outcome, actor=principal.subject
        )
    await repository.flush()
    return to_read(assessment)


def _outcome_event(
    assessment: Assessment, status: ReviewStatus, body: ApprovalCreate, principal: Principal
) -> tuple[EventType, ChangeApproved | ChangeRejected]:
    if status is ReviewStatus.REJECTED:
        return EventType.CHANGE_REJECTED, ChangeRejected(
            rejected_by=principal.subject, comment=body.comment
        )
    return EventType.CHANGE_APPROVED, ChangeApproved(
        impact_level=ImpactLevel(assessment.impact_level),
        approvers=[
            approval.approver
            for approval in assessment.approvals
            if approval.decision == Decision.APPROVE.value
        ],
        services=assessment.services,
        environment=assessment.environment,
        window=Window(start=assessment.window_start_at, end=assessment.window_end_at),
    )


async def _load(
    repository: AssessmentRepository, change_id: UUID, *, for_update: bool = False
) -> Assessment:
    assessment = await repository.get(change_id, for_update=for_update)
    if assessment is None:
        raise ReviewNotFound(f"Change {change_id} has not been assessed (yet).")
    return assessment


def _review(assessment: Assessment) -> domain.Review:
    return domain.Review(
        requester=assessment.requester,
        ready=assessment.ready,
        status=ReviewStatus(assessment.status),
        required_approvals=_required_approvals(assessment),
        votes=tuple(
            domain.Vote(
                approver=approval.approver,
                role=Role(approval.role),
                decision=Decision(approval.decision),
            )
            for approval in assessment.approvals
        ),
    )


def _required_approvals(assessment: Assessment) -> tuple[RequiredApproval, ...]:
    return tuple(RequiredApproval.model_validate(need) for need in assessment.required_approvals)


def to_read(assessment: Assessment) -> ReviewRead:
    return ReviewRead(
        change_id=assessment.change_id,
        impact_level=ImpactLevel(assessment.impact_level),
        readiness=Readiness(
            ready=assessment.ready,
            items=[ReadinessItem.model_validate(item) for item in assessment.readiness],
        ),
        required_approvals=list(_required_approvals(assessment)),
        approvals=[
            ApprovalRead(
                approver=approval.approver,
                role=Role(approval.role),
                decision=Decision(approval.decision),
                comment=approval.comment,
                recorded_at=approval.recorded_at,
            )
            for approval in assessment.approvals
        ],
        status=ReviewStatus(assessment.status),
        assessed_at=assessment.assessed_at,
        decided_at=assessment.decided_at,
    )
