"""Request and response bodies of the execution API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.execution.domain import ExecutionStatus, StageStatus
from services.execution.plan import CheckKind, PlannedCheck
from shared.change_details import Text
from shared.contracts import GateReason, ImpactLevel, NonBlank, Outcome, StagePhase
from shared.wire import JSON_INTEGER, PG_INTEGER_MAX, Boolean, Integer, Number

NOTES_MAX_LENGTH = 4000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CompletionCreate(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"notes": "Scaled to 12 pods; all healthy"}]},
    )

    notes: str | None = Field(default=None, max_length=NOTES_MAX_LENGTH)


class CheckResult(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


class VerificationResult(_Strict):
    name: Text = Field(description="A planned check's name, or a check of your own.")
    kind: CheckKind | None = Field(
        default=None, description="Defaults to the planned check's kind; required otherwise."
    )
    result: CheckResult
    measured: Number | str | None = Field(
        default=None, description="What was measured, e.g. `0.02` or `p99 212 ms`."
    )
    expected: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=NOTES_MAX_LENGTH)


class VerificationCreate(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "results": [
                        {"name": "5xx rate", "result": "pass", "measured": 0.02},
                        {"name": "checkout smoke", "kind": "smoke_test", "result": "warn"},
                    ]
                }
            ]
        },
    )

    results: list[VerificationResult] = Field(min_length=1, max_length=50)


class VerificationRead(BaseModel):
    id: UUID
    name: str
    kind: CheckKind
    result: CheckResult
    measured: float | str | None
    expected: str | None
    notes: str | None
    recorded_by: str
    recorded_at: datetime


class StageRead(BaseModel):
    number: int
    phase: StagePhase
    name: str
    target_percent: float | None
    bake_seconds: int
    bake_ends_at: datetime | None = Field(description="When a running stage may complete.")
    checks: list[PlannedCheck]
    status: StageStatus
    started_at: datetime | None
    started_by: str | None
    finished_at: datetime | None
    finished_by: str | None
    failure_reason: str | None
    notes: str | None
    verifications: list[VerificationRead]


class StageCompletion(CompletionCreate):
    pass


class RollbackCreate(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "5xx at 4% after stage 2", "stage_reached": 2}]},
    )

    reason: NonBlank = Field(max_length=NOTES_MAX_LENGTH)
    stage_reached: Annotated[int, Field(ge=0), JSON_INTEGER] | None = Field(
        default=None, description="The last stage rolled out; defaults to the last started."
    )


class RollbackRead(BaseModel):
    reason: str
    stage_reached: int | None
    requested_by: str
    started_at: datetime
    steps: list[StageRead]


class Signal(StrEnum):
    LOGS = "logs"
    METRICS = "metrics"
    LOAD = "load"


class Verdict(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    FAILED = "failed"


class FunctionalAcceptance(_Strict):
    passed: Boolean
    notes: str | None = Field(default=None, max_length=NOTES_MAX_LENGTH)


class RegressionResult(_Strict):
    suite: Text
    passed: Integer = Field(ge=0)
    failed: Integer = Field(ge=0)


class MonitoringCheck(_Strict):
    signal: Signal
    window_minutes: Integer = Field(ge=1, le=10_080, description="How long it was watched.")
    verdict: Verdict
    notes: str | None = Field(default=None, max_length=NOTES_MAX_LENGTH)


class AcceptanceCreate(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "outcome": "successful",
                    "notes": "p99 240 ms, no 5xx",
                    "functional_acceptance": {"passed": True},
                    "regression": [{"suite": "checkout-e2e", "passed": 212, "failed": 0}],
                    "monitoring": [
                        {"signal": "metrics", "window_minutes": 60, "verdict": "ok"},
                        {"signal": "logs", "window_minutes": 60, "verdict": "ok"},
                    ],
                }
            ]
        },
    )

    outcome: Outcome
    notes: str | None = Field(default=None, max_length=NOTES_MAX_LENGTH)
    functional_acceptance: FunctionalAcceptance | None = None
    regression: list[RegressionResult] = Field(default_factory=list, max_length=100)
    monitoring: list[MonitoringCheck] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _successful_means_clean(self) -> AcceptanceCreate:
        if self.outcome is not Outcome.SUCCESSFUL:
            return self
        problems = []
        if self.functional_acceptance is not None and not self.functional_acceptance.passed:
            problems.append("functional acceptance failed")
        if any(result.failed for result in self.regression):
            problems.append("regression tests failed")
        if any(check.verdict is Verdict.FAILED for check in self.monitoring):
            problems.append("a monitoring check failed")
        if problems:
            raise ValueError(f"outcome `successful` contradicts: {', '.join(problems)}")
        return self


class ExecutionRead(BaseModel):
    change_id: UUID
    status: ExecutionStatus
    services: list[str]
    environment: str
    impact_level: ImpactLevel
    executor: str | None = Field(description="Who started the execution.")
    outcome: Outcome | None
    notes: str | None = Field(description="The acceptance notes.")
    completion_notes: str | None = Field(description="What the executor noted on completion.")
    ready_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    accepted_at: datetime | None
    version: int
    window_start: datetime
    window_end: datetime
    emergency: bool = Field(description="Approved to start before its full review.")
    retrospective_required: bool
    approval_expires_at: datetime | None
    auto_rollback: bool
    plan_source: str = Field(description="`default` (from the change) or `custom`.")
    stages: list[StageRead]
    failure_reason: str | None
    rollback: RollbackRead | None
    paused: bool = Field(description="A freeze in force holds the rollout where it is.")
    paused_by: list[GateReason]
    acceptance: dict[str, Any] | None = Field(
        description="Functional acceptance, regression results and monitoring checks."
    )


class GateRead(BaseModel):
    allow: bool
    reasons: list[GateReason]
    next_allowed_at: datetime | None = Field(
        description="The earliest time it will be allowed, when only time stands in the way."
    )
    change_id: UUID
    service: str
    environment: str
    stage: int | None
    evaluated_at: datetime


class GateCheckCreate(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "change_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
                    "service": "checkout",
                    "environment": "production",
                    "stage": 2,
                    "pipeline_url": "https://ci.example.com/checkout/runs/4711",
                }
            ]
        },
    )

    change_id: UUID
    service: NonBlank = Field(max_length=200)
    environment: NonBlank = Field(max_length=64)
    stage: Annotated[int, Field(ge=1, le=PG_INTEGER_MAX), JSON_INTEGER] | None = None
    pipeline_url: str | None = Field(default=None, max_length=2000)


class GateCheckRead(GateRead):
    id: UUID
    pipeline_url: str | None
    asked_by: str


class DeploymentRead(BaseModel):
    id: UUID = Field(description="Intake's id of the deployment report.")
    change_id: UUID | None
    stage: int | None = Field(description="The rollout stage it belongs to.")
    provider: str
    service: str
    environment: str
    version: str | None
    status: str
    pipeline_url: str | None
    correlation: str
    unauthorized: bool
    reported_by: str
    received_at: datetime
