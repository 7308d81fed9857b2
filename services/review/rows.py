"""Reading an assessment row back into the domain's terms."""

from __future__ import annotations

from services.review import domain
from services.review.domain import ReviewStatus
from services.review.models import Approval, Assessment
from shared.auth import Role
from shared.contracts import ChangeSnapshot, Decision, ImpactOverride, RequiredApproval


def required_approvals(assessment: Assessment) -> tuple[RequiredApproval, ...]:
    return tuple(RequiredApproval.model_validate(need) for need in assessment.required_approvals)


def live_votes(assessment: Assessment) -> list[Approval]:
    """Decisions still counting: not voided by a re-assessment or by age."""
    return [approval for approval in assessment.approvals if approval.invalidated_at is None]


def live_approvals(assessment: Assessment) -> list[Approval]:
    return [
        approval
        for approval in live_votes(assessment)
        if approval.decision == Decision.APPROVE.value
    ]


def votes(assessment: Assessment) -> tuple[domain.Vote, ...]:
    return tuple(
        domain.Vote(
            approver=approval.approver,
            role=Role(approval.role),
            decision=Decision(approval.decision),
            recorded_at=approval.recorded_at,
        )
        for approval in live_votes(assessment)
    )


def review(assessment: Assessment, *, emergency: bool) -> domain.Review:
    return domain.Review(
        requester=assessment.requester,
        ready=assessment.ready,
        status=ReviewStatus(assessment.status),
        required_approvals=required_approvals(assessment),
        votes=votes(assessment),
        emergency=emergency,
        window_end=assessment.window_end_at,
        failing_items=tuple(
            item["name"] for item in assessment.readiness if item["status"] == "fail"
        ),
    )


def snapshot(assessment: Assessment) -> ChangeSnapshot | None:
    return (
        None if assessment.snapshot is None else ChangeSnapshot.model_validate(assessment.snapshot)
    )


def override(assessment: Assessment) -> ImpactOverride | None:
    if assessment.impact_override is None:
        return None
    return ImpactOverride.model_validate(assessment.impact_override)


def waivers(assessment: Assessment) -> dict[str, str]:
    """Waivers given for the version of the change now assessed."""
    return {
        waiver.item: waiver.reason
        for waiver in assessment.waivers
        if waiver.change_version == assessment.assessed_version
    }
