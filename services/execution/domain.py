"""The execution and stage state machines: what may happen next, with no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Generic, TypeVar

from shared.errors import Conflict, InvalidTransition


class ExecutionStatus(StrEnum):
    READY = "ready"
    IN_PROGRESS = "in_progress"
    ROLLING_BACK = "rolling_back"
    COMPLETED = "completed"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"


class Action(StrEnum):
    START = "start"
    COMPLETE = "complete"
    FAIL = "fail"
    ROLLBACK = "rollback"
    FINISH_ROLLBACK = "finish_rollback"
    ACCEPT = "accept"
    CANCEL = "cancel"


class StageStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    # Never reached: the rollout stopped before it (a failure or a rollback).
    SKIPPED = "skipped"
    # Running when a rollback was asked for.
    ABORTED = "aborted"


class StageAction(StrEnum):
    START = "start"
    VERIFY = "verify"
    COMPLETE = "complete"
    FAIL = "fail"
    SKIP = "skip"
    ABORT = "abort"


CLOSED = frozenset({ExecutionStatus.ACCEPTED, ExecutionStatus.CANCELLED})
# Executions whose changes are touching production now: they conflict with others.
ACTIVE = frozenset({ExecutionStatus.IN_PROGRESS, ExecutionStatus.ROLLING_BACK})


class ChangeNotApproved(Conflict):
    code = "change-not-approved"
    title = "The change is not approved for execution"


class GateDenied(Conflict):
    code = "gate-denied"
    title = "The deploy gate does not allow this now"


class BakeTimeNotElapsed(Conflict):
    code = "bake-time-not-elapsed"
    title = "The stage has not baked long enough"


class ChecksIncomplete(Conflict):
    code = "checks-incomplete"
    title = "The stage's verification checks are not all reported"


class StageRunning(Conflict):
    code = "stage-running"
    title = "A stage is still running"


class StagesIncomplete(Conflict):
    code = "stages-incomplete"
    title = "The rollout has stages that are not completed"


class PlanLocked(Conflict):
    code = "plan-locked"
    title = "The rollout plan cannot change once the execution has started"


S = TypeVar("S", bound=StrEnum)
A = TypeVar("A", bound=StrEnum)


@dataclass(frozen=True)
class Rule(Generic[S]):
    allowed_from: frozenset[S]
    target: S
    requirement: str


@dataclass(frozen=True)
class Machine(Generic[S, A]):
    rules: dict[A, Rule[S]]

    def allowed_from(self, action: A) -> frozenset[S]:
        return self.rules[action].allowed_from

    def transition(self, current: S, action: A) -> S:
        """The status after `action`; raises InvalidTransition when `current` forbids it."""
        rule = self.rules[action]
        if current not in rule.allowed_from:
            raise InvalidTransition(
                f"{rule.requirement}; this one is {current.value}.",
                current_status=current.value,
                action=action.value,
                allowed_statuses=sorted(status.value for status in rule.allowed_from),
            )
        return rule.target


def _rule(allowed: set[S], target: S, requirement: str) -> Rule[S]:
    return Rule(frozenset(allowed), target, requirement)


_E = ExecutionStatus
EXECUTION: Machine[ExecutionStatus, Action] = Machine(
    {
        Action.START: _rule({_E.READY}, _E.IN_PROGRESS, "Only a ready execution can be started"),
        Action.COMPLETE: _rule(
            {_E.IN_PROGRESS}, _E.COMPLETED, "Only an execution in progress can be completed"
        ),
        Action.FAIL: _rule({_E.IN_PROGRESS}, _E.FAILED, "Only an execution in progress can fail"),
        # A rollback may start from any stage, even after completion, and is never undone.
        Action.ROLLBACK: _rule(
            {_E.IN_PROGRESS, _E.COMPLETED, _E.FAILED},
            _E.ROLLING_BACK,
            "Only an execution that has started and is not rolled back can be rolled back",
        ),
        Action.FINISH_ROLLBACK: _rule(
            {_E.ROLLING_BACK}, _E.ROLLED_BACK, "Only a rollback in progress can finish"
        ),
        Action.ACCEPT: _rule(
            {_E.COMPLETED, _E.FAILED, _E.ROLLED_BACK},
            _E.ACCEPTED,
            "Only a completed, failed or rolled-back execution can be accepted",
        ),
        Action.CANCEL: _rule(
            {_E.READY}, _E.CANCELLED, "Only an execution that has not started can be cancelled"
        ),
    }
)

_S = StageStatus
STAGE: Machine[StageStatus, StageAction] = Machine(
    {
        StageAction.START: _rule({_S.PENDING}, _S.RUNNING, "Only a pending stage can start"),
        # Verifying a stage leaves it running; the rule only says when results are taken.
        StageAction.VERIFY: _rule(
            {_S.RUNNING}, _S.RUNNING, "Verification results are taken while the stage runs"
        ),
        StageAction.COMPLETE: _rule(
            {_S.RUNNING}, _S.COMPLETED, "Only a running stage can complete"
        ),
        StageAction.FAIL: _rule({_S.RUNNING}, _S.FAILED, "Only a running stage can fail"),
        StageAction.SKIP: _rule({_S.PENDING}, _S.SKIPPED, "Only a pending stage can be skipped"),
        StageAction.ABORT: _rule({_S.RUNNING}, _S.ABORTED, "Only a running stage can be aborted"),
    }
)


def allowed_from(action: Action) -> frozenset[ExecutionStatus]:
    return EXECUTION.allowed_from(action)


def transition(current: ExecutionStatus, action: Action) -> ExecutionStatus:
    """The execution's status after `action`; raises InvalidTransition (409) when forbidden."""
    return EXECUTION.transition(current, action)


def stage_transition(current: StageStatus, action: StageAction) -> StageStatus:
    return STAGE.transition(current, action)


def bake_ends_at(started_at: datetime, bake_seconds: int) -> datetime:
    return started_at + timedelta(seconds=bake_seconds)


def check_bake_time(started_at: datetime, bake_seconds: int, now: datetime) -> None:
    ends_at = bake_ends_at(started_at, bake_seconds)
    if now < ends_at:
        remaining = int((ends_at - now).total_seconds()) + 1
        raise BakeTimeNotElapsed(
            f"The stage bakes for {bake_seconds} s; it can complete at {ends_at.isoformat()} "
            f"(in {remaining} s).",
            bake_ends_at=ends_at.isoformat(),
        )


def check_results_complete(planned: list[str], reported: set[str]) -> None:
    """Every planned check of a stage needs a result before the stage completes."""
    missing = [name for name in planned if name not in reported]
    if missing:
        raise ChecksIncomplete(
            f"Report these checks before completing the stage: {', '.join(missing)}.",
            missing_checks=missing,
        )
