"""Keeps each change's overall status current from the other services' events.

Events may arrive late or twice (with different ids after a producer's retry): the
status only moves forward, approvals count once per approver, and the impact level
follows the latest assessment by its sequence.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain
from services.intake.models import ChangeRequest
from services.intake.repository import ChangeRepository
from shared.contracts import (
    STATUS_AFTER,
    ApprovalRecorded,
    ChangeAccepted,
    ChangeAssessed,
    ChangeStatus,
    EventType,
    ExecutionStarted,
    StageReport,
)
from shared.events import CloudEvent
from shared.inbox import EventHandler

log = structlog.get_logger(__name__)

_FINISHED = {EventType.CHANGE_COMPLETED, EventType.CHANGE_FAILED, EventType.CHANGE_ROLLED_BACK}


async def on_lifecycle_event(session: AsyncSession, event: CloudEvent) -> None:
    repository = ChangeRepository.from_session(session)
    change = await repository.get(UUID(event.subject), for_update=True)
    if change is None:
        log.warning(
            "event for an unknown change", event_type=event.event_type, subject=event.subject
        )
        return
    event_type = EventType(event.event_type)
    if event_type is EventType.CHANGE_ASSESSED and _assesses_an_older_version(change, event):
        log.info("ignoring the assessment of an earlier version", change_id=event.subject)
        return
    if event_type in STATUS_AFTER:
        change.status = domain.advanced_status(
            ChangeStatus(change.status), STATUS_AFTER[event_type]
        ).value
    _apply_details(change, event_type, event)
    await session.flush()


def _assesses_an_older_version(change: ChangeRequest, event: CloudEvent) -> bool:
    """An edit sent the change back to review; an assessment of what it was no longer counts."""
    assessed_version = ChangeAssessed.model_validate(event.data).assessed_version
    return assessed_version is not None and assessed_version < change.version


def _apply_details(change: ChangeRequest, event_type: EventType, event: CloudEvent) -> None:
    if event_type is EventType.CHANGE_ASSESSED:
        if change.impact_level_sequence is None or event.sequence > change.impact_level_sequence:
            change.impact_level = ChangeAssessed.model_validate(event.data).impact_level.value
            change.impact_level_sequence = event.sequence
    elif event_type is EventType.CHANGE_APPROVAL_RECORDED:
        approval = ApprovalRecorded.model_validate(event.data)
        change.approvals = domain.with_approval(
            change.approvals,
            {**approval.model_dump(mode="json"), "recorded_at": event.time.isoformat()},
        )
    elif event_type is EventType.CHANGE_EXECUTION_STARTED:
        started = ExecutionStarted.model_validate(event.data)
        change.execution = {
            **(change.execution or {}),
            "executor": started.executor,
            "started_at": event.time.isoformat(),
        }
    elif event_type in _FINISHED:
        execution: dict[str, Any] = dict(change.execution or {})
        execution.setdefault("finished_at", event.time.isoformat())
        change.execution = execution
    elif event_type is EventType.CHANGE_ACCEPTED:
        change.outcome = ChangeAccepted.model_validate(event.data).outcome.value
    elif event_type in _STAGE_STATUS:
        change.execution = _with_stage(change.execution, event_type, event)


# What each stage event says of the stage it names.
_STAGE_STATUS = {
    EventType.CHANGE_STAGE_STARTED: "running",
    EventType.CHANGE_STAGE_COMPLETED: "completed",
    EventType.CHANGE_STAGE_FAILED: "failed",
}


def _with_stage(
    execution: dict[str, Any] | None, event_type: EventType, event: CloudEvent
) -> dict[str, Any]:
    """The execution with its latest stage; an older stage event arriving late changes nothing."""
    current: dict[str, Any] = dict(execution or {})
    if (current.get("stage") or {}).get("sequence", 0) >= event.sequence:
        return current
    report = StageReport.model_validate(event.data)
    current["stage"] = {
        "number": report.stage,
        "of": report.stages,
        "name": report.name,
        "phase": report.phase.value,
        "target_percent": report.target_percent,
        "status": _STAGE_STATUS[event_type],
        "sequence": event.sequence,
    }
    return current


# Intake publishes these itself and has already applied them.
_OWN_EVENTS = {EventType.CHANGE_REQUESTED, EventType.CHANGE_UPDATED, EventType.CHANGE_CANCELLED}

HANDLERS: dict[EventType, EventHandler] = {
    event_type: on_lifecycle_event
    for event_type in (*STATUS_AFTER, *_STAGE_STATUS, EventType.CHANGE_APPROVAL_RECORDED)
    if event_type not in _OWN_EVENTS
}
