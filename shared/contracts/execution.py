"""Payloads of the events execution publishes."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from shared.contracts.enums import (
    Outcome,
    StagePhase,
)


class ExecutionStarted(BaseModel):
    executor: str
    services: list[str]
    environment: str


class ExecutionFinished(BaseModel):
    executor: str
    notes: str | None = None


class StageReport(BaseModel):
    """One stage of an execution: a rollout stage (e.g. 10%) or a step of its rollback."""

    stage: int = Field(ge=1, description="The stage's number within its phase, from 1.")
    phase: StagePhase
    name: str
    target_percent: float | None = Field(
        default=None, description="The share the rollout reaches at this stage; none for rollback."
    )
    stages: int = Field(ge=1, description="How many stages the phase has.")


class StageStarted(StageReport):
    started_by: str
    emergency: bool = Field(default=False, description="Started under the emergency path.")


class StageCompleted(StageReport):
    completed_by: str
    verified: list[str] = Field(
        default_factory=list, description="The checks that passed (or warned) at this stage."
    )


class StageFailed(StageReport):
    """A rollout stage failed: the rollout stops here."""

    reason: str
    failed_checks: list[str] = Field(default_factory=list)
    deployment_id: UUID | None = Field(
        default=None, description="The pipeline-reported deployment whose failure failed it."
    )
    rollback_started: bool = Field(description="The plan started the rollback automatically.")


class GateReason(BaseModel):
    code: str = Field(description="Stable, machine-readable, e.g. `freeze_in_force`.")
    message: str
    blocking: bool = True


class GateChecked(BaseModel):
    """A pipeline asked the deploy gate and was told `allow` (recorded by execution)."""

    service: str
    environment: str
    stage: int | None = None
    allow: bool
    reasons: list[GateReason]
    next_allowed_at: datetime | None = None
    pipeline_url: str | None = None
    asked_by: str


class ChangeAccepted(BaseModel):
    outcome: Outcome
    accepted_by: str
    notes: str | None = None
