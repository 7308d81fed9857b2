"""The intake side of a change's lifecycle: what may happen next, with no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from shared.concurrency import PreconditionFailed as PreconditionFailed
from shared.concurrency import PreconditionRequired as PreconditionRequired
from shared.concurrency import check_version as check_version
from shared.contracts import ChangeStatus, Plans, is_production
from shared.errors import InvalidRequest, InvalidTransition

CLOSED = frozenset({ChangeStatus.ACCEPTED, ChangeStatus.REJECTED, ChangeStatus.CANCELLED})

# How far along the lifecycle each status is; the read model only moves forward,
# so an event that arrives late or twice cannot move a change back.
PROGRESS: dict[ChangeStatus, int] = {
    ChangeStatus.DRAFT: 0,
    ChangeStatus.SUBMITTED: 1,
    ChangeStatus.ASSESSED: 2,
    ChangeStatus.APPROVED: 3,
    ChangeStatus.IN_PROGRESS: 4,
    ChangeStatus.COMPLETED: 5,
    ChangeStatus.FAILED: 5,
    ChangeStatus.ROLLED_BACK: 5,
    ChangeStatus.ACCEPTED: 6,
    ChangeStatus.REJECTED: 6,
    ChangeStatus.CANCELLED: 6,
}


class Action(StrEnum):
    """What intake's API can do to a change."""

    EDIT = "edit"
    SUBMIT = "submit"
    CANCEL = "cancel"


# Edits are allowed until approval: an edit after submission sends the change back to
# review (`change.updated`), so what is approved is always what was last assessed.
ALLOWED_FROM: dict[Action, frozenset[ChangeStatus]] = {
    Action.EDIT: frozenset({ChangeStatus.DRAFT, ChangeStatus.SUBMITTED, ChangeStatus.ASSESSED}),
    Action.SUBMIT: frozenset({ChangeStatus.DRAFT}),
    # Once execution has started the change is finished or rolled back, not abandoned.
    Action.CANCEL: frozenset(
        {
            ChangeStatus.DRAFT,
            ChangeStatus.SUBMITTED,
            ChangeStatus.ASSESSED,
            ChangeStatus.APPROVED,
        }
    ),
}


class PlansMissing(InvalidRequest):
    code = "plans-missing"
    title = "The change lacks required plans"


def transition(status: ChangeStatus, action: Action) -> ChangeStatus:
    """The status after `action`, or InvalidTransition (409) when the machine forbids it."""
    if status not in ALLOWED_FROM[action]:
        allowed = ", ".join(sorted(s.value for s in ALLOWED_FROM[action]))
        raise InvalidTransition(
            f"A change cannot {action.value} while {status.value}; it can while: {allowed}.",
            current_status=status.value,
            action=action.value,
        )
    if action is Action.CANCEL:
        return ChangeStatus.CANCELLED
    if action is Action.SUBMIT:
        return ChangeStatus.SUBMITTED
    return ChangeStatus.DRAFT if status is ChangeStatus.DRAFT else ChangeStatus.SUBMITTED


def check_submittable(status: ChangeStatus, plans: Plans) -> None:
    transition(status, Action.SUBMIT)
    missing = plans.missing()
    if missing:
        raise PlansMissing(
            f"Submit needs the implementation, rollback and verification plans; missing: "
            f"{', '.join(missing)}.",
            errors=[
                {"loc": ["body", "plans", name], "msg": "required to submit", "type": "missing"}
                for name in missing
            ],
        )


def advanced_status(current: ChangeStatus, reported: ChangeStatus) -> ChangeStatus:
    """The status after another service reports `reported`; never moves backwards."""
    if current in CLOSED:
        return current
    return reported if PROGRESS[reported] > PROGRESS[current] else current


def merge_patch(target: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7396 JSON merge patch: objects merge, `null` removes, anything else replaces."""
    merged = dict(target)
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(name), Mapping):
            merged[name] = merge_patch(merged[name], value)
        else:
            merged[name] = value
    return merged


def apply_edit(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """A change's fields after `patch`; a new category brings its own details, never merged."""
    if "category" in patch and patch["category"] != current.get("category"):
        current = {name: value for name, value in current.items() if name != "details"}
    return merge_patch(current, patch)


# -- the status read model ---------------------------------------------------------------------


def with_approval(approvals: Sequence[Mapping[str, Any]], approval: Mapping[str, Any]) -> list[Any]:
    """Approvals so far, one per approver, in the order they were recorded."""
    others = [dict(a) for a in approvals if a.get("approver") != approval.get("approver")]
    return sorted([*others, dict(approval)], key=lambda a: str(a.get("recorded_at")))


# -- CI/CD deployments -------------------------------------------------------------------------

# A change in one of these has been approved; deploying it is authorized.
APPROVED_STATUSES = frozenset(
    {
        ChangeStatus.APPROVED,
        ChangeStatus.IN_PROGRESS,
        ChangeStatus.COMPLETED,
        ChangeStatus.FAILED,
        ChangeStatus.ROLLED_BACK,
        ChangeStatus.ACCEPTED,
    }
)
# An emergency (urgent) change may start before its approval completes.
EMERGENCY_STATUSES = frozenset({ChangeStatus.SUBMITTED, ChangeStatus.ASSESSED})


def authorizes(status: ChangeStatus, *, emergency: bool) -> bool:
    """Whether a change in `status` covers a deployment made now."""
    return status in APPROVED_STATUSES or (emergency and status in EMERGENCY_STATUSES)


def unauthorized(environment: str, change: tuple[ChangeStatus, bool] | None) -> bool:
    """A production deployment with no change that authorizes it (status, emergency)."""
    if not is_production(environment):
        return False
    return change is None or not authorizes(change[0], emergency=change[1])
