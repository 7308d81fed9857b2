"""The review rules: readiness, impact level, approval policy and decisions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.review import domain
from services.review.domain import (
    AlreadyDecided,
    Review,
    ReviewStatus,
    Vote,
)
from shared.auth import Role
from shared.contracts import (
    Category,
    ChangeSnapshot,
    Decision,
    ImpactLevel,
    Plans,
    RequiredApproval,
    Window,
)
from shared.errors import InvalidTransition, MissingRole, SelfApprovalForbidden

REQUESTER = "alice"
ONE_CHANGE_MANAGER = (RequiredApproval(role=Role.CHANGE_MANAGER, count=1),)
ALL_PLANS = Plans(implementation="scale up", rollback="scale down", verification="p99 ok")


def make_change(
    *, environment: str = "production", emergency: bool = False, plans: Plans = ALL_PLANS
) -> ChangeSnapshot:
    start = datetime(2026, 12, 1, 2, tzinfo=UTC)
    return ChangeSnapshot(
        change_id=uuid4(),
        title="Double checkout pods",
        category=Category.HARDWARE,
        services=["checkout"],
        environment=environment,
        window=Window(start=start, end=start + timedelta(hours=1)),
        plans=plans,
        requester=REQUESTER,
        emergency=emergency,
        version=2,
    )


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


def approve(review: Review, approver: str, *roles: Role) -> domain.Verdict:
    return domain.decide(
        review,
        approver=approver,
        roles=frozenset(roles or {Role.CHANGE_MANAGER}),
        decision=Decision.APPROVE,
    )


# Assessment


def test_readiness_passes_each_present_plan() -> None:
    items = domain.readiness(ALL_PLANS)

    assert [item.name for item in items] == [
        "plan.implementation",
        "plan.rollback",
        "plan.verification",
    ]
    assert {item.status for item in items} == {"pass"}


def test_readiness_fails_missing_and_blank_plans() -> None:
    items = domain.readiness(Plans(implementation="scale up", rollback="   "))

    assert {item.name: item.status for item in items} == {
        "plan.implementation": "pass",
        "plan.rollback": "fail",
        "plan.verification": "fail",
    }
    assert all("missing" in item.reason for item in items if item.status == "fail")


@pytest.mark.parametrize(
    ("environment", "emergency", "expected"),
    [
        ("production", True, ImpactLevel.URGENT),
        ("staging", True, ImpactLevel.URGENT),
        ("production", False, ImpactLevel.IMPORTANT),
        (" Prod ", False, ImpactLevel.IMPORTANT),
        ("staging", False, ImpactLevel.STANDARD),
        ("production-eu", False, ImpactLevel.STANDARD),
    ],
)
def test_impact_level(environment: str, emergency: bool, expected: ImpactLevel) -> None:
    assert domain.impact_level(environment=environment, emergency=emergency) is expected


@pytest.mark.parametrize("level", list(ImpactLevel))
def test_every_level_needs_one_change_manager_for_now(level: ImpactLevel) -> None:
    assert domain.APPROVAL_POLICY[level] == ONE_CHANGE_MANAGER


def test_assess_a_complete_production_change() -> None:
    assessment = domain.assess(make_change())

    assert assessment.impact_level is ImpactLevel.IMPORTANT
    assert assessment.ready
    assert assessment.required_approvals == ONE_CHANGE_MANAGER


def test_a_change_missing_a_plan_is_not_ready() -> None:
    assessment = domain.assess(make_change(plans=Plans(implementation="x", rollback="y")))

    assert not assessment.ready


# Decisions


def test_one_change_manager_approval_approves() -> None:
    verdict = approve(make_review(), "bob")

    assert verdict.vote == Vote(approver="bob", role=Role.CHANGE_MANAGER, decision=Decision.APPROVE)
    assert verdict.status is ReviewStatus.APPROVED


def test_a_rejection_rejects() -> None:
    verdict = domain.decide(
        make_review(),
        approver="bob",
        roles=frozenset({Role.CHANGE_MANAGER}),
        decision=Decision.REJECT,
    )

    assert verdict.status is ReviewStatus.REJECTED


def test_the_requester_cannot_approve_even_with_the_role() -> None:
    with pytest.raises(SelfApprovalForbidden):
        approve(make_review(), REQUESTER, Role.CHANGE_MANAGER)


def test_an_approver_without_a_required_role_is_refused() -> None:
    with pytest.raises(MissingRole):
        approve(make_review(), "carol", Role.CAB_MEMBER, Role.CHANGE_LEAD)


def test_the_same_approver_cannot_decide_twice() -> None:
    required = (RequiredApproval(role=Role.CHANGE_MANAGER, count=2),)
    first = approve(make_review(required=required), "bob")
    assert first.status is ReviewStatus.PENDING

    with pytest.raises(AlreadyDecided):
        approve(make_review(required=required, votes=(first.vote,)), "bob")


def test_a_quorum_needs_distinct_approvers() -> None:
    required = (RequiredApproval(role=Role.CHANGE_MANAGER, count=2),)
    first = approve(make_review(required=required), "bob")
    second = approve(make_review(required=required, votes=(first.vote,)), "carol")

    assert second.status is ReviewStatus.APPROVED


def test_a_person_with_two_required_roles_fills_the_one_still_short() -> None:
    required = (
        RequiredApproval(role=Role.CHANGE_LEAD, count=1),
        RequiredApproval(role=Role.CAB_MEMBER, count=1),
    )
    lead = approve(make_review(required=required), "dave", Role.CHANGE_LEAD)
    after_lead = make_review(required=required, votes=(lead.vote,))
    both = approve(after_lead, "erin", Role.CHANGE_LEAD, Role.CAB_MEMBER)

    assert both.vote.role is Role.CAB_MEMBER
    assert both.status is ReviewStatus.APPROVED


@pytest.mark.parametrize(
    "status", [ReviewStatus.APPROVED, ReviewStatus.REJECTED, ReviewStatus.CANCELLED]
)
def test_a_closed_review_takes_no_decision(status: ReviewStatus) -> None:
    with pytest.raises(InvalidTransition):
        approve(make_review(status=status), "bob")


def test_a_change_that_is_not_ready_cannot_be_decided() -> None:
    with pytest.raises(InvalidTransition):
        approve(make_review(ready=False), "bob")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (ReviewStatus.PENDING, ReviewStatus.CANCELLED),
        (ReviewStatus.APPROVED, ReviewStatus.APPROVED),
        (ReviewStatus.REJECTED, ReviewStatus.REJECTED),
        (ReviewStatus.CANCELLED, ReviewStatus.CANCELLED),
    ],
)
def test_cancelling_closes_only_a_pending_review(
    status: ReviewStatus, expected: ReviewStatus
) -> None:
    assert domain.status_on_cancel(status) is expected


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
