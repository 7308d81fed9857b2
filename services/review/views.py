"""Assessment rows as API bodies."""

from __future__ import annotations

from services.review import domain, rows
from services.review.domain import ReviewStatus
from services.review.models import Assessment
from services.review.schemas import ApprovalRead, Readiness, ReviewRead, RiskRead, WaiverRead
from shared.auth import Role
from shared.contracts import (
    Category,
    Decision,
    ImpactLevel,
    ReadinessItem,
    RiskBreakdown,
    RuleFired,
    Window,
)


def to_read(assessment: Assessment) -> ReviewRead:
    required = rows.required_approvals(assessment)
    status = ReviewStatus(assessment.status)
    return ReviewRead(
        change_id=assessment.change_id,
        impact_level=ImpactLevel(assessment.impact_level),
        readiness=Readiness(
            ready=assessment.ready,
            items=[ReadinessItem.model_validate(item) for item in assessment.readiness],
        ),
        required_approvals=list(required),
        approvals=[
            ApprovalRead(
                approver=approval.approver,
                role=Role(approval.role),
                decision=Decision(approval.decision),
                comment=approval.comment,
                recorded_at=approval.recorded_at,
                invalidated_at=approval.invalidated_at,
                invalidated_because=approval.invalidated_because,
            )
            for approval in assessment.approvals
        ],
        status=status,
        assessed_at=assessment.assessed_at,
        decided_at=assessment.decided_at,
        title=assessment.title,
        category=Category(assessment.category),
        services=assessment.services,
        environment=assessment.environment,
        window=Window(start=assessment.window_start_at, end=assessment.window_end_at),
        requester=assessment.requester,
        emergency=assessment.emergency,
        standard=assessment.standard,
        assessed_version=assessment.assessed_version,
        rule_impact_level=(
            ImpactLevel(assessment.rule_impact_level) if assessment.rule_impact_level else None
        ),
        impact_override=rows.override(assessment),
        risk=RiskRead(
            score=assessment.risk_score,
            breakdown=RiskBreakdown.model_validate(assessment.risk_breakdown or {}),
            rules_fired=[RuleFired.model_validate(rule) for rule in assessment.rules_fired],
            policy_version=assessment.risk_policy_version,
        ),
        conflicts=list(assessment.conflicts),
        awaiting=(
            domain.awaiting(required, rows.votes(assessment))
            if status is ReviewStatus.PENDING
            else []
        ),
        waivers=[
            WaiverRead(
                item=waiver.item,
                reason=waiver.reason,
                waived_by=waiver.waived_by,
                change_version=waiver.change_version,
                waived_at=waiver.waived_at,
            )
            for waiver in assessment.waivers
        ],
        pre_approved=assessment.pre_approved,
        retrospective_required=assessment.retrospective_required,
        approval_expires_at=assessment.approval_expires_at,
        freeze_override=assessment.freeze_override,
        created_at=assessment.created_at,
    )
