"""The life of a post-change review's action item, tracked to closure; no I/O."""

from __future__ import annotations

from datetime import date

from shared.contracts import ActionItemStatus
from shared.errors import InvalidRequest, InvalidTransition

OPEN = frozenset({ActionItemStatus.OPEN, ActionItemStatus.IN_PROGRESS})
CLOSED = frozenset({ActionItemStatus.DONE, ActionItemStatus.WONT_DO})

# A closed item may only be reopened (the fix did not hold), never moved between closures.
ALLOWED: dict[ActionItemStatus, frozenset[ActionItemStatus]] = {
    ActionItemStatus.OPEN: frozenset(
        {ActionItemStatus.IN_PROGRESS, ActionItemStatus.DONE, ActionItemStatus.WONT_DO}
    ),
    ActionItemStatus.IN_PROGRESS: frozenset(
        {ActionItemStatus.OPEN, ActionItemStatus.DONE, ActionItemStatus.WONT_DO}
    ),
    ActionItemStatus.DONE: frozenset({ActionItemStatus.OPEN}),
    ActionItemStatus.WONT_DO: frozenset({ActionItemStatus.OPEN}),
}


def check_transition(
    current: ActionItemStatus, wanted: ActionItemStatus, *, note: str | None
) -> None:
    """409 when the move is not allowed; 422 when dropping an item without saying why."""
    if wanted is current:
        return
    if wanted not in ALLOWED[current]:
        allowed = ", ".join(sorted(s.value for s in ALLOWED[current]))
        raise InvalidTransition(
            f"An action item cannot go from {current.value} to {wanted.value}; "
            f"from {current.value} it can go to: {allowed}.",
            current_status=current.value,
            requested_status=wanted.value,
        )
    if wanted is ActionItemStatus.WONT_DO and not (note or "").strip():
        raise InvalidRequest(
            "Invalid fields: body.note",
            errors=[
                {
                    "loc": ["body", "note"],
                    "msg": "say why the item will not be done",
                    "type": "missing",
                }
            ],
        )


def is_overdue(status: ActionItemStatus, due_on: date, today: date) -> bool:
    return status in OPEN and due_on < today
