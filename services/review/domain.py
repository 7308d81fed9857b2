"""The review decisions: who may decide, what a decision does to the review; no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from shared.auth import Role
from shared.contracts import Decision, RequiredApproval
from shared.errors import (
    Conflict,
    InvalidRequest,
    InvalidTransition,
    MissingRole,
    SelfApprovalForbidden,
)


class ReviewStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class AlreadyDecided(Conflict):
    code = "already-decided"
    title = "This approver has already decided on the change"


class WindowPassed(InvalidTransition):
    code = "window-passed"
    title = "The change's window has ended; reschedule it before approval"


class NotReady(InvalidTransition):
    code = "not-ready"
    title = "The change is not ready for approval"


class ChangeFrozen(Conflict):
    code = "change-frozen"
    title = "The change's window overlaps a freeze window"


class FreezeOverrideRequired(InvalidRequest):
    code = "freeze-override-reason-required"
    title = "An urgent change approved during a freeze needs the override's reason"


@dataclass(frozen=True)
class Vote:
    """One approver's decision, counted toward one required role."""

    approver: str
    role: Role
    decision: Decision
    recorded_at: datetime | None = None


@dataclass(frozen=True)
class Review:
    """The state a decision is judged against."""

    requester: str
    ready: bool
    status: ReviewStatus
    required_approvals: tuple[RequiredApproval, ...]
    votes: tuple[Vote, ...] = ()
    emergency: bool = False
    window_end: datetime | None = None
    failing_items: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Verdict:
    """The vote to record and the review's status after it."""

    vote: Vote
    status: ReviewStatus


def decide(
    review: Review,
    *,
    approver: str,
    roles: frozenset[Role],
    decision: Decision,
    now: datetime | None = None,
) -> Verdict:
    """Judge one approver's decision; raises when it may not be recorded."""
    now = now or datetime.now(UTC)
    if review.status is not ReviewStatus.PENDING:
        raise InvalidTransition(
            f"The review is {review.status.value}; only a pending review takes decisions.",
            current_status=review.status.value,
        )
    if review.window_end is not None and review.window_end <= now:
        raise WindowPassed(
            f"The window ended at {review.window_end.isoformat()}; "
            "the requester must reschedule the change.",
            window_end=review.window_end.isoformat(),
        )
    if not review.ready and not review.emergency and decision is Decision.APPROVE:
        raise NotReady(
            "Failing readiness items must be fixed or waived by a change_manager first: "
            f"{', '.join(review.failing_items) or 'see the readiness checklist'}.",
            failing=list(review.failing_items),
        )
    if approver == review.requester:
        raise SelfApprovalForbidden(f"{approver} requested this change and cannot decide on it.")
    if any(vote.approver == approver for vote in review.votes):
        raise AlreadyDecided(f"{approver} has already decided on this change.")
    role = _counting_role(review.required_approvals, review.votes, roles)
    vote = Vote(approver=approver, role=role, decision=decision, recorded_at=now)
    return Verdict(vote=vote, status=status_after((*review.votes, vote), review.required_approvals))


def status_after(votes: Sequence[Vote], required: Sequence[RequiredApproval]) -> ReviewStatus:
    """Any rejection by a required approver rejects; every required count reached approves."""
    if any(vote.decision is Decision.REJECT for vote in votes):
        return ReviewStatus.REJECTED
    if all(_approvals_for(votes, need.role) >= need.count for need in required):
        return ReviewStatus.APPROVED
    return ReviewStatus.PENDING


def awaiting(required: Sequence[RequiredApproval], votes: Sequence[Vote]) -> list[RequiredApproval]:
    """The approvals still missing, per role."""
    return [
        RequiredApproval(role=need.role, count=need.count - have)
        for need in required
        if (have := _approvals_for(votes, need.role)) < need.count
    ]


def expired(vote: Vote, *, now: datetime, valid_for: timedelta | None) -> bool:
    """A decision older than the policy's `vote_valid_for` no longer counts."""
    return (
        valid_for is not None
        and vote.recorded_at is not None
        and now - vote.recorded_at > valid_for
    )


def can_act(review: Review, *, subject: str, roles: frozenset[Role]) -> bool:
    """Whether `subject` could record a decision that counts: the CAB queue's test."""
    if review.status is not ReviewStatus.PENDING or subject == review.requester:
        return False
    if not (review.ready or review.emergency):
        return False
    if any(vote.approver == subject for vote in review.votes):
        return False
    return any(need.role in roles for need in awaiting(review.required_approvals, review.votes))


def check_freeze(*, frozen_by: Sequence[str], emergency: bool, override_reason: str | None) -> None:
    """A freeze blocks approval unless the change is an emergency and says why it must run."""
    if not frozen_by:
        return
    if not emergency:
        raise ChangeFrozen(
            f"Freeze windows {', '.join(frozen_by)} cover the change's window; "
            "only an urgent change may be approved inside a freeze.",
            freeze_windows=list(frozen_by),
        )
    if not (override_reason or "").strip():
        raise FreezeOverrideRequired(
            "This urgent change falls in a freeze window: give `freeze_override_reason`.",
            freeze_windows=list(frozen_by),
            errors=[
                {
                    "loc": ["body", "freeze_override_reason"],
                    "msg": "required when approving during a freeze",
                    "type": "missing",
                }
            ],
        )


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
