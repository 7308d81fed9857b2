"""What the deploy gate decides from: the facts of one question, and the shape of its answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from services.execution.domain import ExecutionStatus, StageStatus


class ReasonCode(StrEnum):
    APPROVED = "approved"
    NOT_APPROVED = "not_approved"
    APPROVAL_EXPIRED = "approval_expired"
    OUTSIDE_WINDOW = "outside_window"
    FREEZE_IN_FORCE = "freeze_in_force"
    FREEZE_UPCOMING = "freeze_upcoming"
    CONFLICTING_CHANGE = "conflicting_change"
    PREVIOUS_STAGE_NOT_VERIFIED = "previous_stage_not_verified"
    EMERGENCY = "emergency"
    SERVICE_NOT_IN_CHANGE = "service_not_in_change"
    ENVIRONMENT_MISMATCH = "environment_mismatch"
    UNKNOWN_STAGE = "unknown_stage"
    STAGE_NOT_PENDING = "stage_not_pending"
    EXECUTION_NOT_ACTIVE = "execution_not_active"


@dataclass(frozen=True)
class Reason:
    code: ReasonCode
    message: str
    blocking: bool = True


@dataclass(frozen=True)
class StageFacts:
    number: int
    name: str
    status: StageStatus


@dataclass(frozen=True)
class FreezeFacts:
    freeze_window_id: UUID
    start: datetime
    end: datetime
    reason: str

    def covers(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


@dataclass(frozen=True)
class ExecutionFacts:
    change_id: UUID
    status: ExecutionStatus
    services: Sequence[str]
    environment: str
    window_start: datetime
    window_end: datetime
    stages: Sequence[StageFacts]
    approval_expires_at: datetime | None = None
    emergency: bool = False
    freeze_override: str | None = None


@dataclass(frozen=True)
class GateFacts:
    """What the gate knows: the execution (None: never approved), and what surrounds it.

    `freezes` are the freeze windows covering the service and environment that have not
    ended or been lifted (future ones included: they decide `next_allowed_at`);
    `conflicts` the other changes active on the same service and environment.
    """

    now: datetime
    service: str
    environment: str
    execution: ExecutionFacts | None
    stage: int | None = None
    freezes: Sequence[FreezeFacts] = ()
    conflicts: Sequence[UUID] = ()


@dataclass(frozen=True)
class GateDecision:
    allow: bool
    reasons: list[Reason] = field(default_factory=list)
    next_allowed_at: datetime | None = None
