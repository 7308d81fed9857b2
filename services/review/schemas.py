"""Request and response bodies of the review API."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.review.domain import ReviewStatus
from shared.auth import Role
from shared.contracts import Decision, ImpactLevel, ReadinessItem, RequiredApproval


class ApprovalCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"decision": "approve", "comment": "ok"}]},
    )

    decision: Decision
    comment: str | None = Field(default=None, max_length=2000)


class ApprovalRead(BaseModel):
    approver: str
    role: Role
    decision: Decision
    comment: str | None
    recorded_at: datetime


class Readiness(BaseModel):
    ready: bool
    items: list[ReadinessItem]


class ReviewRead(BaseModel):
    change_id: UUID
    impact_level: ImpactLevel
    readiness: Readiness
    required_approvals: list[RequiredApproval]
    approvals: list[ApprovalRead]
    status: ReviewStatus
    assessed_at: datetime
    decided_at: datetime | None
