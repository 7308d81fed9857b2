"""The execution and stage state machines: every allowed move, and a 409 for every other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from services.execution.domain import (
    CLOSED,
    Action,
    BakeTimeNotElapsed,
    ChangeNotApproved,
    ChecksIncomplete,
    ExecutionStatus,
    StageAction,
    StageStatus,
    allowed_from,
    check_bake_time,
    check_results_complete,
    stage_transition,
    transition,
)
from shared.errors import Conflict, InvalidTransition

_E = ExecutionStatus
ALLOWED: dict[tuple[ExecutionStatus, Action], ExecutionStatus] = {
    (_E.READY, Action.START): _E.IN_PROGRESS,
    (_E.IN_PROGRESS, Action.COMPLETE): _E.COMPLETED,
    (_E.IN_PROGRESS, Action.FAIL): _E.FAILED,
    (_E.IN_PROGRESS, Action.ROLLBACK): _E.ROLLING_BACK,
    (_E.COMPLETED, Action.ROLLBACK): _E.ROLLING_BACK,
    (_E.FAILED, Action.ROLLBACK): _E.ROLLING_BACK,
    (_E.ROLLING_BACK, Action.FINISH_ROLLBACK): _E.ROLLED_BACK,
    (_E.COMPLETED, Action.ACCEPT): _E.ACCEPTED,
    (_E.FAILED, Action.ACCEPT): _E.ACCEPTED,
    (_E.ROLLED_BACK, Action.ACCEPT): _E.ACCEPTED,
    (_E.READY, Action.CANCEL): _E.CANCELLED,
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
def test_no_sequence_reaches_accepted_without_starting_and_finishing(actions: list[Action]) -> None:
    status, applied = _run(actions)
    if status is ExecutionStatus.ACCEPTED:
        assert applied[0] is Action.START
        assert applied[-1] is Action.ACCEPT
        assert set(applied[1:-1]) & {Action.COMPLETE, Action.FAIL, Action.FINISH_ROLLBACK}


@given(st.lists(st.sampled_from(Action), max_size=30))
def test_a_rollback_is_never_undone(actions: list[Action]) -> None:
    """Once a rollback starts, the only way on is to finish it, then to accept."""
    _, applied = _run(actions)
    if Action.ROLLBACK in applied:
        after = applied[applied.index(Action.ROLLBACK) + 1 :]
        assert after in ([], [Action.FINISH_ROLLBACK], [Action.FINISH_ROLLBACK, Action.ACCEPT])


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
    def accepted_only_after_start_and_an_ending(self) -> None:
        if self.status is ExecutionStatus.ACCEPTED:
            assert self.history[0] is Action.START
            assert self.history[-1] is Action.ACCEPT

    @invariant()
    def cancelled_only_before_start(self) -> None:
        if self.status is ExecutionStatus.CANCELLED:
            assert self.history == [Action.CANCEL]

    @invariant()
    def each_action_applies_at_most_once(self) -> None:
        assert len(self.history) == len(set(self.history))


TestExecutionLifecycle = ExecutionLifecycle.TestCase


# -- stages ----------------------------------------------------------------------------------

_S = StageStatus
STAGE_ALLOWED: dict[tuple[StageStatus, StageAction], StageStatus] = {
    (_S.PENDING, StageAction.START): _S.RUNNING,
    (_S.PENDING, StageAction.SKIP): _S.SKIPPED,
    (_S.RUNNING, StageAction.VERIFY): _S.RUNNING,
    (_S.RUNNING, StageAction.COMPLETE): _S.COMPLETED,
    (_S.RUNNING, StageAction.FAIL): _S.FAILED,
    (_S.RUNNING, StageAction.ABORT): _S.ABORTED,
}


@pytest.mark.parametrize(("current", "action"), [(s, a) for s in StageStatus for a in StageAction])
def test_the_stage_machine_allows_exactly_its_table(
    current: StageStatus, action: StageAction
) -> None:
    expected = STAGE_ALLOWED.get((current, action))
    if expected is None:
        with pytest.raises(InvalidTransition) as raised:
            stage_transition(current, action)
        assert raised.value.status == 409
        assert raised.value.extensions["action"] == action.value
    else:
        assert stage_transition(current, action) is expected


def test_a_stage_completes_only_after_its_bake_time() -> None:
    started = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    with pytest.raises(BakeTimeNotElapsed) as raised:
        check_bake_time(started, 600, started + timedelta(seconds=599))
    assert raised.value.status == 409
    assert raised.value.extensions["bake_ends_at"] == "2026-12-01T02:10:00+00:00"
    check_bake_time(started, 600, started + timedelta(seconds=600))


def test_a_stage_completes_only_with_every_planned_check_reported() -> None:
    with pytest.raises(ChecksIncomplete) as raised:
        check_results_complete(["5xx rate", "p99", "smoke"], {"p99"})
    assert raised.value.extensions["missing_checks"] == ["5xx rate", "smoke"]
    check_results_complete(["p99"], {"p99", "extra"})
