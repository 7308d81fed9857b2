"""The execution state machine: ready -> in_progress -> completed -> accepted, and nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from services.execution.domain import (
    CLOSED,
    Action,
    ChangeNotApproved,
    ExecutionStatus,
    allowed_from,
    transition,
)
from shared.errors import Conflict, InvalidTransition

ALLOWED: dict[tuple[ExecutionStatus, Action], ExecutionStatus] = {
    (ExecutionStatus.READY, Action.START): ExecutionStatus.IN_PROGRESS,
    (ExecutionStatus.IN_PROGRESS, Action.COMPLETE): ExecutionStatus.COMPLETED,
    (ExecutionStatus.COMPLETED, Action.ACCEPT): ExecutionStatus.ACCEPTED,
    (ExecutionStatus.READY, Action.CANCEL): ExecutionStatus.CANCELLED,
}

FORBIDDEN = [
    (status, action)
    for status in ExecutionStatus
    for action in Action
    if (status, action) not in ALLOWED
]


def test_the_thin_path_goes_from_ready_to_accepted() -> None:
    status = ExecutionStatus.READY
    for action in (Action.START, Action.COMPLETE, Action.ACCEPT):
        status = transition(status, action)
    assert status is ExecutionStatus.ACCEPTED


@pytest.mark.parametrize(("current", "action"), list(ALLOWED))
def test_each_allowed_transition_reaches_its_target(
    current: ExecutionStatus, action: Action
) -> None:
    assert transition(current, action) is ALLOWED[current, action]
    assert current in allowed_from(action)


@pytest.mark.parametrize(("current", "action"), FORBIDDEN)
def test_every_other_transition_is_a_409_naming_the_current_status(
    current: ExecutionStatus, action: Action
) -> None:
    with pytest.raises(InvalidTransition) as raised:
        transition(current, action)
    assert raised.value.status == 409
    assert raised.value.code == "invalid-transition"
    assert f"this one is {current.value}" in raised.value.detail
    assert raised.value.extensions["current_status"] == current.value


@pytest.mark.parametrize("closed", sorted(CLOSED))
def test_closed_executions_accept_no_action(closed: ExecutionStatus) -> None:
    for action in Action:
        with pytest.raises(InvalidTransition):
            transition(closed, action)


def test_change_not_approved_is_its_own_conflict() -> None:
    error = ChangeNotApproved("Change 42 is not approved for execution.")
    assert isinstance(error, Conflict)
    assert not isinstance(error, InvalidTransition)
    assert (error.status, error.code) == (409, "change-not-approved")


def _run(actions: list[Action]) -> tuple[ExecutionStatus, list[Action]]:
    """Apply `actions` from ready, skipping refused ones; returns the status and what applied."""
    status, applied = ExecutionStatus.READY, []
    for action in actions:
        try:
            status = transition(status, action)
        except InvalidTransition:
            continue
        applied.append(action)
    return status, applied


@given(st.lists(st.sampled_from(Action), max_size=30))
def test_no_sequence_reaches_accepted_without_start_then_complete(actions: list[Action]) -> None:
    status, applied = _run(actions)
    if status is ExecutionStatus.ACCEPTED:
        assert applied == [Action.START, Action.COMPLETE, Action.ACCEPT]


class ExecutionLifecycle(RuleBasedStateMachine):
    """Drives one execution with arbitrary actions and checks it against a model of the path."""

    def __init__(self) -> None:
        super().__init__()
        self.status = ExecutionStatus.READY
        self.history: list[Action] = []

    @rule(action=st.sampled_from(Action))
    def act(self, action: Action) -> None:
        expected = ALLOWED.get((self.status, action))
        if expected is None:
            with pytest.raises(InvalidTransition, match=f"this one is {self.status.value}"):
                transition(self.status, action)
            return
        self.status = transition(self.status, action)
        assert self.status is expected
        self.history.append(action)

    @invariant()
    def accepted_only_after_start_and_complete(self) -> None:
        if self.status is ExecutionStatus.ACCEPTED:
            assert self.history == [Action.START, Action.COMPLETE, Action.ACCEPT]

    @invariant()
    def cancelled_only_before_start(self) -> None:
        if self.status is ExecutionStatus.CANCELLED:
            assert self.history == [Action.CANCEL]

    @invariant()
    def each_action_applies_at_most_once(self) -> None:
        assert len(self.history) == len(set(self.history))


TestExecutionLifecycle = ExecutionLifecycle.TestCase
