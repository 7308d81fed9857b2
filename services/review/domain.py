"""The review rules: readiness, impact level, approval policy and decisions; no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from shared.auth import Role
from shared.contracts import (
    ChangeSnapshot,
    Decision,
    ImpactLevel,
    Plans,
    ReadinessItem,
    RequiredApproval,
)
from shared.errors import Conflict, InvalidTransition, MissingRole, SelfApprovalForbidden

PRODUCTION_ENVIRONMENTS = frozenset({"production", "prod"})

# DESIGN §1 defaults; critical (change_lead plus a CAB quorum) arrives with the CAB issue.
APPROVAL_POLICY: dict[ImpactLevel, tuple[RequiredApproval, ...]] = {
    level: (RequiredApproval(role=Role.CHANGE_MANAGER, count=1),) for level in ImpactLevel
}


class ReviewStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class AlreadyDecided(Conflict):
    code = "already-decided"
    title = "This approver has already decided on the change"


@dataclass(frozen=True)
class Assessment:
    """What review concludes about a change when it arrives."""

    impact_level: ImpactLevel
    readiness: tuple[ReadinessItem, ...]
    required_approvals: tuple[RequiredApproval, ...]

    @property
    def ready(self) -> bool:
        return all(item.status == "pass" for item in self.readiness)


@dataclass(frozen=True)
class Vote:
    """One approver's decision, counted toward one required role."""

    approver: str
    role: Role
    decision: Decision


@dataclass(frozen=True)
class Review:
    """The state a decision is judged against."""

    requester: str
    ready: bool
    status: ReviewStatus
    required_approvals: tuple[RequiredApproval, ...]
    votes: tuple[Vote, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """The vote to record and the review's status after it."""

    vote: Vote
    status: ReviewStatus


def assess(change: ChangeSnapshot) -> Assessment:
    level = impact_level(environment=change.environment, emergency=change.emergency)
    return Assessment(
        impact_level=level,
        readiness=tuple(readiness(change.plans)),
        required_approvals=APPROVAL_POLICY[level],
    )


def readiness(plans: Plans) -> list[ReadinessItem]:
    """One item per required plan: it passes when the plan has text."""
    missing = set(plans.missing())
    return [
        ReadinessItem(
            name=f"plan.{name}",
            status="fail" if name in missing else "pass",
            reason=f"the {name} plan is {'missing' if name in missing else 'present'}",
        )
        for name in Plans.REQUIRED
    ]


def impact_level(*, environment: str, emergency: bool) -> ImpactLevel:
    """The first rule set; the risk engine of issue 4 replaces it."""
    if emergency:
        return ImpactLevel.URGENT
    if environment.strip().lower() in PRODUCTION_ENVIRONMENTS:
        return ImpactLevel.IMPORTANT
    return ImpactLevel.STANDARD


def decide(review: Review, *, approver: str, roles: frozenset[Role], decision: Decision) -> Verdict:
    """Judge one approver's decision; raises when it may not be recorded."""
    if review.status is not ReviewStatus.PENDING:
        raise InvalidTransition(
            f"The review is {review.status.value}; only a pending review takes decisions.",
            current_status=review.status.value,
        )
    if not review.ready:
        raise InvalidTransition(
            "The change is not ready for approval: required plans are missing.",
            current_status=review.status.value,
        )
    if approver == review.requester:
        raise SelfApprovalForbidden(f"{approver} requested this change and cannot decide on it.")
    if any(vote.approver == approver for vote in review.votes):
        raise AlreadyDecided(f"{approver} has already decided on this change.")
    role = _counting_role(review.required_approvals, review.votes, roles)
    vote = Vote(approver=approver, role=role, decision=decision)
    return Verdict(vote=vote, status=status_after((*review.votes, vote), review.required_approvals))


def status_after(votes: Sequence[Vote], required: Sequence[RequiredApproval]) -> ReviewStatus:
    """Any rejection by a required approver rejects; every required count reached approves."""
    if any(vote.decision is Decision.REJECT for vote in votes):
        return ReviewStatus.REJECTED
    if all(_approvals_for(votes, need.role) >= need.count for need in required):
        return ReviewStatus.APPROVED
    return ReviewStatus.PENDING


def _counting_role(
    required: Sequence[RequiredApproval], votes: Sequence[Vote], roles: frozenset[Role]
) -> Role:
    """The required role this approver's vote counts toward.

    One person counts once: someone holding several required roles fills the
    first requirement still short of its count.
    """
    held = [need for need in required if need.role in roles]
    if not held:
        raise MissingRole(
            f"Deciding on this change needs one of the roles "
            f"{sorted(need.role.value for need in required)}; "
            f"the token has {sorted(role.value for role in roles)}.",
            required_roles=sorted(need.role.value for need in required),
        )
    short = [need for need in held if _approvals_for(votes, need.role) < need.count]
    return (short or held)[0].role


def _approvals_for(votes: Sequence[Vote], role: Role) -> int:
    return sum(1 for vote in votes if vote.role is role and vote.decision is Decision.APPROVE)


def status_on_cancel(status: ReviewStatus) -> ReviewStatus:
    """A pending review closes as cancelled; a decided one keeps its decision as history."""
    return ReviewStatus.CANCELLED if status is ReviewStatus.PENDING else status
