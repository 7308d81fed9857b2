"""Intake's rules, without I/O: the state machine, edits, versions, deployment authorization."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from services.intake import domain
from services.intake.domain import Action
from shared.change_details import REDACTED, ConfigKeyChange
from shared.contracts import ChangeStatus, Plans
from shared.errors import InvalidTransition
from shared.pagination import InvalidCursor, decode_cursor, encode_cursor

STARTED = {
    ChangeStatus.IN_PROGRESS,
    ChangeStatus.COMPLETED,
    ChangeStatus.FAILED,
    ChangeStatus.ROLLED_BACK,
    ChangeStatus.ACCEPTED,
}

# What the other services may report about a change, in any order, any number of times.
REPORTS = [
    ChangeStatus.ASSESSED,
    ChangeStatus.APPROVED,
    ChangeStatus.REJECTED,
    ChangeStatus.IN_PROGRESS,
    ChangeStatus.COMPLETED,
    ChangeStatus.FAILED,
    ChangeStatus.ROLLED_BACK,
    ChangeStatus.ACCEPTED,
]


class IntakeLifecycle(RuleBasedStateMachine):
    """Intake's own actions interleaved with whatever the other services report."""

    def __init__(self) -> None:
        super().__init__()
        self.status = ChangeStatus.DRAFT
        self.ever_started = False

    def _act(self, action: Action) -> None:
        before = self.status
        try:
            after = domain.transition(before, action)
        except InvalidTransition:
            assert before not in domain.ALLOWED_FROM[action]
            return
        assert before in domain.ALLOWED_FROM[action]
        if action is Action.CANCEL:
            assert before not in STARTED
            assert after is ChangeStatus.CANCELLED
        if action is Action.EDIT:
            assert before in {ChangeStatus.DRAFT, ChangeStatus.SUBMITTED, ChangeStatus.ASSESSED}
        self.status = after

    @rule()
    def edit(self) -> None:
        self._act(Action.EDIT)

    @rule()
    def submit(self) -> None:
        self._act(Action.SUBMIT)

    @rule()
    def cancel(self) -> None:
        self._act(Action.CANCEL)

    @precondition(lambda self: self.status is not ChangeStatus.DRAFT)
    @rule(reported=st.sampled_from(REPORTS))
    def another_service_reports(self, reported: ChangeStatus) -> None:
        before = self.status
        self.status = domain.advanced_status(before, reported)
        assert domain.PROGRESS[self.status] >= domain.PROGRESS[before]
        if before in domain.CLOSED:
            assert self.status is before

    @invariant()
    def started_changes_are_never_cancelled_or_edited(self) -> None:
        if self.status in STARTED:
            self.ever_started = True
        if self.ever_started:
            assert self.status is not ChangeStatus.CANCELLED
            with pytest.raises(InvalidTransition):
                domain.transition(self.status, Action.EDIT)
            with pytest.raises(InvalidTransition):
                domain.transition(self.status, Action.CANCEL)

    @invariant()
    def closed_changes_accept_no_action(self) -> None:
        if self.status in domain.CLOSED:
            for action in Action:
                with pytest.raises(InvalidTransition):
                    domain.transition(self.status, action)


TestIntakeLifecycle = IntakeLifecycle.TestCase


def test_submit_needs_all_three_plans_in_either_form() -> None:
    with pytest.raises(domain.PlansMissing) as missing:
        domain.check_submittable(ChangeStatus.DRAFT, Plans(implementation="x"))
    assert "rollback" in missing.value.detail
    structured = Plans.model_validate(
        {
            "implementation_steps": [{"description": "scale", "automated": True}],
            "rollback": "scale back",
            "verification_checks": [{"name": "p99", "kind": "metric", "expected": "< 300 ms"}],
        }
    )
    domain.check_submittable(ChangeStatus.DRAFT, structured)


@pytest.mark.parametrize(
    ("if_match", "error"),
    [
        (None, domain.PreconditionRequired),
        ('"2"', domain.PreconditionFailed),
        ('W/"4"', domain.PreconditionFailed),
    ],
)
def test_if_match_must_name_the_current_version(
    if_match: str | None, error: type[Exception]
) -> None:
    with pytest.raises(error):
        domain.check_version(if_match, 3)


@pytest.mark.parametrize("if_match", ['"3"', 'W/"3"', '"1", "3"', "*"])
def test_if_match_of_the_current_version_passes(if_match: str) -> None:
    domain.check_version(if_match, 3)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=10,
)
documents = st.dictionaries(st.text(max_size=3), json_values, max_size=5)


@given(documents)
def test_an_empty_patch_changes_nothing(document: dict[str, Any]) -> None:
    assert domain.merge_patch(document, {}) == document


@given(documents, documents)
def test_a_patch_sets_what_it_names_and_keeps_the_rest(
    target: dict[str, Any], patch: dict[str, Any]
) -> None:
    merged = domain.merge_patch(target, patch)
    for name, value in patch.items():
        if value is None:
            assert name not in merged
        elif not isinstance(value, dict):
            assert merged[name] == value
    for name, value in target.items():
        if name not in patch:
            assert merged[name] == value


def test_a_new_category_replaces_the_details() -> None:
    current = {"category": "hardware", "details": {"kind": "cpu_upgrade", "assets": ["db1"]}}
    patch = {"category": "data", "details": {"kind": "cleanup"}}
    assert domain.apply_edit(current, patch)["details"] == {"kind": "cleanup"}
    same = domain.apply_edit(current, {"details": {"assets": ["db2"]}})
    assert same["details"] == {"kind": "cpu_upgrade", "assets": ["db2"]}


@pytest.mark.parametrize(
    ("environment", "change", "flagged"),
    [
        ("production", None, True),
        ("Prod", (ChangeStatus.SUBMITTED, False), True),
        ("production", (ChangeStatus.SUBMITTED, True), False),
        ("production", (ChangeStatus.APPROVED, False), False),
        ("production", (ChangeStatus.IN_PROGRESS, False), False),
        ("production", (ChangeStatus.REJECTED, False), True),
        ("production", (ChangeStatus.CANCELLED, True), True),
        ("staging", None, False),
    ],
)
def test_which_deployments_are_unauthorized(
    environment: str, change: tuple[ChangeStatus, bool] | None, flagged: bool
) -> None:
    assert domain.unauthorized(environment, change) is flagged


def test_approvals_count_once_per_approver() -> None:
    first = {"approver": "mona", "decision": "reject", "recorded_at": "2026-01-01T00:00:00Z"}
    second = {"approver": "mona", "decision": "approve", "recorded_at": "2026-01-01T00:01:00Z"}
    other = {"approver": "carl", "decision": "approve", "recorded_at": "2026-01-01T00:00:30Z"}
    approvals = domain.with_approval(domain.with_approval([first], other), second)
    assert [(a["approver"], a["decision"]) for a in approvals] == [
        ("carl", "approve"),
        ("mona", "approve"),
    ]


@given(st.datetimes(timezones=st.just(UTC)), st.uuids())
def test_cursors_round_trip(moment: datetime, identifier: uuid.UUID) -> None:
    cursor = encode_cursor([moment, identifier], [datetime, uuid.UUID])
    assert decode_cursor(cursor, [datetime, uuid.UUID]) == (moment, identifier)


@pytest.mark.parametrize("cursor", ["", "garbage!", "WyJ4Il0", "eyJhIjogMX0"])
def test_forged_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, [datetime, uuid.UUID])


@pytest.mark.parametrize(
    ("key", "secret", "redacted"),
    [
        ("db.password", False, True),
        ("API_KEY", False, True),
        ("tls.private-key", False, True),
        ("endpoint", True, True),
        ("max_connections", False, False),
    ],
)
def test_secret_values_are_redacted(key: str, secret: bool, redacted: bool) -> None:
    change = ConfigKeyChange(key=key, old_value="a", new_value="b", secret=secret)
    assert (change.new_value == REDACTED) is redacted
    assert change.secret is redacted
