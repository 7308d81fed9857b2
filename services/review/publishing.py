"""The events review publishes about a change, built from its assessment row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.review.approval_policy import LevelPolicy, approval_expires_at
from services.review.domain import ReviewStatus
from services.review.models import Assessment, tables
from services.review.rows import live_approvals, required_approvals
from shared.contracts import (
    ChangeApproved,
    ChangeAssessed,
    ChangeRejected,
    EventType,
    ImpactLevel,
    ImpactOverride,
    ReadinessItem,
    RiskBreakdown,
    RuleFired,
    Window,
)
from shared.outbox import record_event

# The actor of events review publishes on its own, not on behalf of a caller.
REVIEW_ACTOR = "system:review"


def assessed_event(assessment: Assessment) -> ChangeAssessed:
    return ChangeAssessed(
        impact_level=ImpactLevel(assessment.impact_level),
        ready=assessment.ready,
        readiness=[ReadinessItem.model_validate(item) for item in assessment.readiness],
        required_approvals=list(required_approvals(assessment)),
        risk_score=assessment.risk_score,
        risk_breakdown=RiskBreakdown.model_validate(assessment.risk_breakdown or {}),
        rules_fired=[RuleFired.model_validate(rule) for rule in assessment.rules_fired],
        conflicts=list(assessment.conflicts),
        assessed_version=assessment.assessed_version,
        rule_impact_level=(
            ImpactLevel(assessment.rule_impact_level) if assessment.rule_impact_level else None
        ),
        impact_override=(
            ImpactOverride.model_validate(assessment.impact_override)
            if assessment.impact_override
            else None
        ),
        pre_approved=assessment.pre_approved,
        risk_policy_version=assessment.risk_policy_version,
    )


async def publish_assessed(session: AsyncSession, assessment: Assessment, *, actor: str) -> None:
    await record_event(
        session,
        tables,
        EventType.CHANGE_ASSESSED,
        subject=str(assessment.change_id),
        data=assessed_event(assessment),
        actor=actor,
    )


async def approve(
    session: AsyncSession,
    assessment: Assessment,
    policy: LevelPolicy,
    *,
    now: datetime,
    actor: str,
    freeze_override: str | None = None,
) -> None:
    """Close the review as approved and publish `change.approved`, exactly once: callers
    hold the assessment's row lock and only a pending review gets here."""
    assert assessment.status == ReviewStatus.PENDING.value
    assessment.status = ReviewStatus.APPROVED.value
    assessment.decided_at = now
    assessment.approval_expires_at = approval_expires_at(
        policy, approved_at=now, window_end=assessment.window_end_at
    )
    assessment.retrospective_required = policy.emergency
    assessment.freeze_override = freeze_override
    assessment.version += 1
    await record_event(
        session,
        tables,
        EventType.CHANGE_APPROVED,
        subject=str(assessment.change_id),
        data=ChangeApproved(
            impact_level=ImpactLevel(assessment.impact_level),
            approvers=[approval.approver for approval in live_approvals(assessment)],
            services=assessment.services,
            environment=assessment.environment,
            window=Window(start=assessment.window_start_at, end=assessment.window_end_at),
            emergency=policy.emergency,
            retrospective_required=policy.emergency,
            approval_expires_at=assessment.approval_expires_at,
            freeze_override=freeze_override,
        ),
        actor=actor,
    )


async def reject(
    session: AsyncSession, assessment: Assessment, *, now: datetime, by: str, comment: str | None
) -> None:
    assessment.status = ReviewStatus.REJECTED.value
    assessment.decided_at = now
    assessment.version += 1
    await record_event(
        session,
        tables,
        EventType.CHANGE_REJECTED,
        subject=str(assessment.change_id),
        data=ChangeRejected(rejected_by=by, comment=comment),
        actor=by,
    )
