"""The review rules: readiness, impact level, approval policy and decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from services.review import domain
from services.review.approval_policy import DEFAULT_APPROVAL_POLICY
from services.review.assessing import Policies, assess
from services.review.catalog import EMPTY_CATALOG
from services.review.domain import (
    AlreadyDecided,
    Review,
    ReviewStatus,
    Vote,
)
from services.review.readiness import checklist
from services.review.risk.defaults import DEFAULT_RISK_POLICY
from services.review.risk.facts import Context
from shared.auth import Role
from shared.contracts import (
    Category,
    ChangeSnapshot,
    Decision,
    ImpactLevel,
    ImpactOverride,
    Plans,
    RequiredApproval,
    Window,
)
from shared.errors import InvalidTransition, MissingRole, SelfApprovalForbidden
from tests.support.review_factories import ONE_CHANGE_MANAGER, REQUESTER, make_review

ALL_PLANS = Plans(
    implementation="scale up to 12 pods",
    rollback="scale down to 6 pods",
    verification="p99 under 300 ms",
)


def make_change(
    *,
    environment: str = "production",
    emergency: bool = False,
    plans: Plans = ALL_PLANS,
    standard: bool = False,
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
        standard=standard,
        details={"kind": "pod_count_change", "assets": ["checkout"]} if standard else None,
    )


NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def approve(review: Review, approver: str, *roles: Role) -> domain.Verdict:
    return domain.decide(
        review,
        approver=approver,
        roles=frozenset(roles or {Role.CHANGE_MANAGER}),
        decision=Decision.APPROVE,
        now=NOW,
    )


# Assessment (the rules themselves are tested in test_review_risk.py)


def default_policies() -> Policies:
    return Policies(
        risk=DEFAULT_RISK_POLICY,
        risk_version=0,
        approvals=DEFAULT_APPROVAL_POLICY,
        catalog=EMPTY_CATALOG,
    )


def context(**overrides: Any) -> Context:
    values: dict[str, Any] = {
        "now": datetime(2026, 11, 20, tzinfo=UTC),
        "production_environments": frozenset({"production", "prod"}),
        "top_tier": 3,
        **overrides,
    }
    return Context(**values)


def test_readiness_passes_each_present_plan() -> None:
    items = checklist(
        make_change(),
        level=ImpactLevel.IMPORTANT,
        settings=DEFAULT_RISK_POLICY.readiness,
        catalog=EMPTY_CATALOG,
    )

    assert [item.name for item in items][:3] == [
        "plan.implementation",
        "plan.rollback",
        "plan.verification",
    ]
    assert {item.status for item in items} == {"pass"}


def test_readiness_fails_missing_and_thin_plans() -> None:
    change = make_change(plans=Plans(implementation="scale checkout up", rollback="tbd"))
    items = checklist(
        change,
        level=ImpactLevel.IMPORTANT,
        settings=DEFAULT_RISK_POLICY.readiness,
        catalog=EMPTY_CATALOG,
    )

    statuses = {item.name: item.status for item in items}
    assert statuses["plan.implementation"] == "pass"
    assert statuses["plan.rollback"] == "fail"
    assert statuses["plan.verification"] == "fail"
    reasons = {item.name: item.reason for item in items}
    assert "too thin" in reasons["plan.rollback"]
    assert "missing" in reasons["plan.verification"]


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
def test_impact_level_of_a_plain_hardware_change(
    environment: str, emergency: bool, expected: ImpactLevel
) -> None:
    outcome = assess(
        make_change(environment=environment, emergency=emergency), default_policies(), context()
    )

    assert outcome.level is expected


@pytest.mark.parametrize(
    ("level", "required"),
    [
        (ImpactLevel.STANDARD, ONE_CHANGE_MANAGER),
        (ImpactLevel.IMPORTANT, ONE_CHANGE_MANAGER),
        (ImpactLevel.URGENT, ONE_CHANGE_MANAGER),
        (
            ImpactLevel.CRITICAL,
            (
                RequiredApproval(role=Role.CHANGE_LEAD, count=1),
                RequiredApproval(role=Role.CAB_MEMBER, count=2),
            ),
        ),
    ],
)
def test_default_approval_policy_follows_the_design(
    level: ImpactLevel, required: tuple[RequiredApproval, ...]
) -> None:
    assert tuple(DEFAULT_APPROVAL_POLICY.of(level).required) == required


def test_assess_a_complete_production_change() -> None:
    outcome = assess(make_change(), default_policies(), context())

    assert outcome.level is ImpactLevel.IMPORTANT
    assert outcome.ready
    assert outcome.required_approvals == ONE_CHANGE_MANAGER
    assert not outcome.pre_approved


def test_a_change_missing_a_plan_is_not_ready() -> None:
    change = make_change(plans=Plans(implementation="scale up now", rollback="scale back down"))

    assert not assess(change, default_policies(), context()).ready


def test_a_waiver_turns_a_failing_item_into_waived_and_the_change_ready() -> None:
    change = make_change(plans=Plans(implementation="scale up now", rollback="scale back down"))
    outcome = assess(
        change, default_policies(), context(), waivers={"plan.verification": "dashboards"}
    )

    waived = next(item for item in outcome.readiness if item.name == "plan.verification")
    assert waived.status == "waived"
    assert "dashboards" in waived.reason
    assert outcome.ready


def test_an_override_counts_only_above_the_rules() -> None:
    above = ImpactOverride(level=ImpactLevel.CRITICAL, reason="peak", overridden_by="mona")
    below = ImpactOverride(level=ImpactLevel.STANDARD, reason="meh", overridden_by="mona")

    assert assess(make_change(), default_policies(), context(), override=above).level is (
        ImpactLevel.CRITICAL
    )
    assert assess(make_change(), default_policies(), context(), override=below).level is (
        ImpactLevel.IMPORTANT
    )


def test_a_standard_template_change_is_pre_approved_unless_frozen_or_conflicting() -> None:
    change = make_change(standard=True)

    assert assess(change, default_policies(), context()).pre_approved
    assert not assess(change, default_policies(), context(in_freeze=True)).pre_approved
    assert not assess(change, default_policies(), context(conflicts=1)).pre_approved


# Decisions


def test_one_change_manager_approval_approves() -> None:
    verdict = approve(make_review(), "bob")

    assert verdict.vote == Vote(
        approver="bob", role=Role.CHANGE_MANAGER, decision=Decision.APPROVE, recorded_at=NOW
    )
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


def test_no_decision_after_the_window_ended() -> None:
    review = make_review()
    ended = Review(**{**review.__dict__, "window_end": NOW - timedelta(minutes=1)})

    with pytest.raises(domain.WindowPassed):
        approve(ended, "bob")


def test_a_change_that_is_not_ready_can_still_be_rejected() -> None:
    verdict = domain.decide(
        make_review(ready=False),
        approver="bob",
        roles=frozenset({Role.CHANGE_MANAGER}),
        decision=Decision.REJECT,
        now=NOW,
    )

    assert verdict.status is ReviewStatus.REJECTED


def test_an_emergency_is_approved_before_its_readiness_completes() -> None:
    unready = Review(**{**make_review(ready=False).__dict__, "emergency": True})

    assert approve(unready, "bob").status is ReviewStatus.APPROVED


def test_a_freeze_blocks_an_ordinary_change() -> None:
    with pytest.raises(domain.ChangeFrozen):
        domain.check_freeze(frozen_by=["f1"], emergency=False, override_reason="please")


def test_a_freeze_lets_an_emergency_through_only_with_a_reason() -> None:
    with pytest.raises(domain.FreezeOverrideRequired):
        domain.check_freeze(frozen_by=["f1"], emergency=True, override_reason="  ")
    domain.check_freeze(frozen_by=["f1"], emergency=True, override_reason="outage fix")
    domain.check_freeze(frozen_by=[], emergency=False, override_reason=None)


def test_a_vote_older_than_the_policy_allows_has_expired() -> None:
    vote = Vote("bob", Role.CHANGE_MANAGER, Decision.APPROVE, recorded_at=NOW - timedelta(days=8))

    assert domain.expired(vote, now=NOW, valid_for=timedelta(days=7))
    assert not domain.expired(vote, now=NOW, valid_for=timedelta(days=9))
    assert not domain.expired(vote, now=NOW, valid_for=None)


def test_awaiting_counts_down_per_role() -> None:
    required = (
        RequiredApproval(role=Role.CHANGE_LEAD, count=1),
        RequiredApproval(role=Role.CAB_MEMBER, count=2),
    )
    votes = (Vote("carol", Role.CAB_MEMBER, Decision.APPROVE),)

    assert domain.awaiting(required, votes) == [
        RequiredApproval(role=Role.CHANGE_LEAD, count=1),
        RequiredApproval(role=Role.CAB_MEMBER, count=1),
    ]


@pytest.mark.parametrize(
    ("subject", "roles", "expected"),
    [
        ("bob", {Role.CHANGE_MANAGER}, True),
        ("bob", {Role.CAB_MEMBER}, False),
        (REQUESTER, {Role.CHANGE_MANAGER}, False),
        ("carol", {Role.CHANGE_MANAGER}, False),
    ],
)
def test_can_act_is_what_the_queue_shows(subject: str, roles: set[Role], expected: bool) -> None:
    required = (RequiredApproval(role=Role.CHANGE_MANAGER, count=2),)
    review = make_review(
        required=required, votes=(Vote("carol", Role.CHANGE_MANAGER, Decision.APPROVE),)
    )

    assert domain.can_act(review, subject=subject, roles=frozenset(roles)) is expected
