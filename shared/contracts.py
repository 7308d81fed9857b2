"""What the services agree on: enums, the change snapshot, and each event's payload.

Every payload here is a pydantic model, so each event type has a JSON Schema.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shared.auth import Role


class Category(StrEnum):
    HARDWARE = "hardware"
    SOFTWARE_CONFIG = "software_config"
    APPLICATION = "application"
    DATA = "data"
    TRAFFIC = "traffic"


class ImpactLevel(StrEnum):
    STANDARD = "standard"
    IMPORTANT = "important"
    URGENT = "urgent"
    CRITICAL = "critical"


class ChangeStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    ASSESSED = "assessed"
    APPROVED = "approved"
    REJECTED = "rejected"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"


class Outcome(StrEnum):
    SUCCESSFUL = "successful"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class EventType(StrEnum):
    CHANGE_REQUESTED = "change.requested"
    CHANGE_UPDATED = "change.updated"
    CHANGE_CANCELLED = "change.cancelled"
    CHANGE_ASSESSED = "change.assessed"
    CHANGE_APPROVAL_RECORDED = "change.approval_recorded"
    CHANGE_APPROVED = "change.approved"
    CHANGE_REJECTED = "change.rejected"
    CHANGE_EXECUTION_STARTED = "change.execution_started"
    CHANGE_COMPLETED = "change.completed"
    CHANGE_FAILED = "change.failed"
    CHANGE_ROLLED_BACK = "change.rolled_back"
    CHANGE_ACCEPTED = "change.accepted"
    DEPLOYMENT_REPORTED = "deployment.reported"


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


NonBlank = Annotated[str, AfterValidator(_non_blank)]


class Window(BaseModel):
    """When the change is planned to happen."""

    model_config = ConfigDict(extra="forbid")

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered_and_aware(self) -> Window:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window times need a timezone, e.g. 2026-12-01T02:00:00Z")
        if self.end <= self.start:
            raise ValueError("window end must be after its start")
        return self


class Plans(BaseModel):
    """The implementation, rollback (emergency) and verification plans."""

    model_config = ConfigDict(extra="forbid")

    implementation: str | None = None
    rollback: str | None = None
    verification: str | None = None

    def missing(self) -> list[str]:
        return [name for name, text in self.model_dump().items() if not (text or "").strip()]


class ChangeSnapshot(BaseModel):
    """A change as intake knows it; carried by `change.requested` and `change.updated`."""

    change_id: UUID
    title: str
    category: Category
    services: list[str]
    environment: str
    window: Window
    plans: Plans
    requester: str
    emergency: bool = False
    version: int


class RequiredApproval(BaseModel):
    role: Role
    count: int = Field(ge=1)


class ReadinessItem(BaseModel):
    name: str
    status: str = Field(pattern="^(pass|fail|waived)$")
    reason: str


class ChangeAssessed(BaseModel):
    impact_level: ImpactLevel
    ready: bool
    readiness: list[ReadinessItem]
    required_approvals: list[RequiredApproval]


class ApprovalRecorded(BaseModel):
    approver: str
    role: Role
    decision: Decision
    comment: str | None = None


class ChangeApproved(BaseModel):
    impact_level: ImpactLevel
    approvers: list[str]
    services: list[str]
    environment: str
    window: Window


class ChangeRejected(BaseModel):
    rejected_by: str
    comment: str | None = None


class ChangeCancelled(BaseModel):
    reason: str | None = None


class ExecutionStarted(BaseModel):
    executor: str
    services: list[str]
    environment: str


class ExecutionFinished(BaseModel):
    executor: str
    notes: str | None = None


class ChangeAccepted(BaseModel):
    outcome: Outcome
    accepted_by: str
    notes: str | None = None


EVENT_PAYLOADS: dict[EventType, type[BaseModel]] = {
    EventType.CHANGE_REQUESTED: ChangeSnapshot,
    EventType.CHANGE_UPDATED: ChangeSnapshot,
    EventType.CHANGE_CANCELLED: ChangeCancelled,
    EventType.CHANGE_ASSESSED: ChangeAssessed,
    EventType.CHANGE_APPROVAL_RECORDED: ApprovalRecorded,
    EventType.CHANGE_APPROVED: ChangeApproved,
    EventType.CHANGE_REJECTED: ChangeRejected,
    EventType.CHANGE_EXECUTION_STARTED: ExecutionStarted,
    EventType.CHANGE_COMPLETED: ExecutionFinished,
    EventType.CHANGE_FAILED: ExecutionFinished,
    EventType.CHANGE_ROLLED_BACK: ExecutionFinished,
    EventType.CHANGE_ACCEPTED: ChangeAccepted,
}

# The overall status each lifecycle event moves a change to.
STATUS_AFTER: dict[EventType, ChangeStatus] = {
    EventType.CHANGE_REQUESTED: ChangeStatus.SUBMITTED,
    EventType.CHANGE_ASSESSED: ChangeStatus.ASSESSED,
    EventType.CHANGE_APPROVED: ChangeStatus.APPROVED,
    EventType.CHANGE_REJECTED: ChangeStatus.REJECTED,
    EventType.CHANGE_CANCELLED: ChangeStatus.CANCELLED,
    EventType.CHANGE_EXECUTION_STARTED: ChangeStatus.IN_PROGRESS,
    EventType.CHANGE_COMPLETED: ChangeStatus.COMPLETED,
    EventType.CHANGE_FAILED: ChangeStatus.FAILED,
    EventType.CHANGE_ROLLED_BACK: ChangeStatus.ROLLED_BACK,
    EventType.CHANGE_ACCEPTED: ChangeStatus.ACCEPTED,
}
