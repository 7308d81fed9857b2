"""Reviews in a given state, for the pure tests of review's decision rules."""

from __future__ import annotations

from services.review.domain import Review, ReviewStatus, Vote
from shared.auth import Role
from shared.contracts import RequiredApproval

REQUESTER = "alice"
ONE_CHANGE_MANAGER = (RequiredApproval(role=Role.CHANGE_MANAGER, count=1),)


def make_review(
    *,
    ready: bool = True,
    status: ReviewStatus = ReviewStatus.PENDING,
    required: tuple[RequiredApproval, ...] = ONE_CHANGE_MANAGER,
    votes: tuple[Vote, ...] = (),
) -> Review:
    return Review(
        requester=REQUESTER,
        ready=ready,
        status=status,
        required_approvals=required,
        votes=votes,
    )
