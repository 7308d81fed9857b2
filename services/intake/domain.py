"""The intake side of a change's lifecycle: what may happen next, with no I/O."""

from __future__ import annotations

from shared.contracts import ChangeStatus, Plans
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


class PlansMissing(InvalidRequest):
    code = "plans-missing"
    title = "The change lacks required plans"


def check_submittable(status: ChangeStatus, plans: Plans) -> None:
    if status is not ChangeStatus.DRAFT:
        raise InvalidTransition(
            f"Only a draft can be submitted; this change is {status.value}.",
            current_status=status.value,
        )
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
