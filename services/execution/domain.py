"""The execution state machine: what may happen next to an execution, with no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.errors import Conflict, InvalidTransition


class ExecutionStatus(StrEnum):
    READY = "ready"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"


class Action(StrEnum):
    START = "start"
    COMPLETE = "complete"
    ACCEPT = "accept"
    CANCEL = "cancel"


CLOSED = frozenset({ExecutionStatus.ACCEPTED, ExecutionStatus.CANCELLED})


class ChangeNotApproved(Conflict):
    code = "change-not-approved"
    title = "The change is not approved for execution"


@dataclass(frozen=True)
class _Rule:
    allowed_from: frozenset[ExecutionStatus]
    target: ExecutionStatus
    requirement: str


# Failed and rolled-back executions become acceptable once stages and rollbacks
# can put an execution in those states (the staged-rollout issue).
_RULES: dict[Action, _Rule] = {
    Action.START: _Rule(
        frozenset({ExecutionStatus.READY}),
        ExecutionStatus.IN_PROGRESS,
        "Only a ready execution can be started",
    ),
    Action.COMPLETE: _Rule(
        frozenset({ExecutionStatus.IN_PROGRESS}),
        ExecutionStatus.COMPLETED,
        "Only an execution in progress can be completed",
    ),
    Action.ACCEPT: _Rule(
        frozenset({ExecutionStatus.COMPLETED}),
        ExecutionStatus.ACCEPTED,
        "Only a completed execution can be accepted",
    ),
    Action.CANCEL: _Rule(
        frozenset({ExecutionStatus.READY}),
        ExecutionStatus.CANCELLED,
        "Only an execution that has not started can be cancelled",
    ),
}


def allowed_from(action: Action) -> frozenset[ExecutionStatus]:
    return _RULES[action].allowed_from


def transition(current: ExecutionStatus, action: Action) -> ExecutionStatus:
    """The status after `action`; raises InvalidTransition when `current` does not allow it."""
    rule = _RULES[action]
    if current not in rule.allowed_from:
        raise InvalidTransition(
            f"{rule.requirement}; this one is {current.value}.",
            current_status=current.value,
            allowed_statuses=sorted(status.value for status in rule.allowed_from),
        )
    return rule.target
