"""Properties of review's decisions over any sequence of attempts by anyone."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from services.review import domain
from services.review.domain import AlreadyDecided, Review, ReviewStatus, Vote
from shared.auth import Role
from shared.contracts import Decision, RequiredApproval
from shared.errors import InvalidTransition, MissingRole, SelfApprovalForbidden
from tests.support.review_factories import REQUESTER, make_review

# Properties over any sequence of decisions

people = st.sampled_from([REQUESTER, "bob", "carol", "dave", "erin"])
role_sets = st.frozensets(st.sampled_from(list(Role)), max_size=3)
decisions = st.sampled_from(list(Decision))
attempts = st.lists(st.tuples(people, role_sets, decisions), max_size=12)
requirements = st.lists(
    st.builds(
        RequiredApproval,
        role=st.sampled_from([Role.CHANGE_MANAGER, Role.CHANGE_LEAD, Role.CAB_MEMBER]),
        count=st.integers(min_value=1, max_value=3),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda need: need.role,
).map(tuple)


@dataclass(frozen=True)
class Replayed:
    review: Review
    accepted: list[tuple[frozenset[Role], Vote]]
    statuses: list[ReviewStatus]


def replay(
    required: tuple[RequiredApproval, ...],
    attempts: list[tuple[str, frozenset[Role], Decision]],
) -> Replayed:
    """Apply every attempt the rules accept, keeping what each accepted one recorded."""
    review = make_review(required=required)
    accepted: list[tuple[frozenset[Role], Vote]] = []
    statuses: list[ReviewStatus] = []
    for approver, roles, decision in attempts:
        try:
            verdict = domain.decide(review, approver=approver, roles=roles, decision=decision)
        except (InvalidTransition, MissingRole, SelfApprovalForbidden, AlreadyDecided):
            continue
        review = make_review(
            required=required, status=verdict.status, votes=(*review.votes, verdict.vote)
        )
        accepted.append((roles, verdict.vote))
        statuses.append(verdict.status)
    return Replayed(review, accepted, statuses)


@given(requirements, attempts)
def test_no_sequence_of_decisions_lets_the_requester_decide(
    required: tuple[RequiredApproval, ...],
    attempts: list[tuple[str, frozenset[Role], Decision]],
) -> None:
    replayed = replay(required, attempts)

    assert all(vote.approver != REQUESTER for vote in replayed.review.votes)


@given(requirements, attempts)
def test_each_person_counts_once_for_a_required_role_they_hold(
    required: tuple[RequiredApproval, ...],
    attempts: list[tuple[str, frozenset[Role], Decision]],
) -> None:
    replayed = replay(required, attempts)

    approvers = [vote.approver for vote in replayed.review.votes]
    assert len(approvers) == len(set(approvers))
    required_roles = {need.role for need in required}
    assert all(vote.role in roles & required_roles for roles, vote in replayed.accepted)


@given(requirements, attempts)
def test_a_review_is_decided_at_most_once_and_then_takes_nothing(
    required: tuple[RequiredApproval, ...],
    attempts: list[tuple[str, frozenset[Role], Decision]],
) -> None:
    statuses = replay(required, attempts).statuses

    closing = [i for i, status in enumerate(statuses) if status is not ReviewStatus.PENDING]
    assert closing in ([], [len(statuses) - 1])


@given(requirements, attempts)
def test_approved_means_every_requirement_met_and_no_rejection(
    required: tuple[RequiredApproval, ...],
    attempts: list[tuple[str, frozenset[Role], Decision]],
) -> None:
    review = replay(required, attempts).review

    if review.status is ReviewStatus.APPROVED:
        assert all(vote.decision is Decision.APPROVE for vote in review.votes)
        for need in required:
            assert sum(1 for vote in review.votes if vote.role is need.role) >= need.count
