"""Request and response bodies of the review API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.review.domain import ReviewStatus
from shared.auth import Role
from shared.contracts import (
    Category,
    Decision,
    ImpactLevel,
    ImpactOverride,
    ReadinessItem,
    RequiredApproval,
    RiskBreakdown,
    RuleFired,
    Window,
)
from shared.wire import NOT_BLANK


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Reason = Annotated[
    str, AfterValidator(_non_blank), Field(max_length=2000, json_schema_extra=NOT_BLANK)
]


class ApprovalCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"decision": "approve", "comment": "ok"}]},
    )

    decision: Decision
    comment: str | None = Field(default=None, max_length=2000)
    freeze_override_reason: str | None = Field(
        default=None,
        max_length=2000,
        description="Required to approve an urgent change whose window is in a freeze window.",
    )


class WaiverCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"item": "data.reversible", "reason": "snapshot taken and restore tested"}]
        },
    )

    item: str = Field(min_length=1, max_length=200, description="The readiness item's name.")
    reason: Reason


class ImpactLevelOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    impact_level: ImpactLevel = Field(
        description="Above what the rules gave; never `urgent`.",
        json_schema_extra={
            "enum": [level.value for level in ImpactLevel if level is not ImpactLevel.URGENT]
        },
    )
    reason: Reason


class ApprovalRead(BaseModel):
    approver: str
    role: Role
    decision: Decision
    comment: str | None
    recorded_at: datetime
    invalidated_at: datetime | None = Field(
        default=None, description="When the decision stopped counting (re-assessment or age)."
    )
    invalidated_because: str | None = None


class WaiverRead(BaseModel):
    item: str
    reason: str
    waived_by: str
    change_version: int
    waived_at: datetime


class Readiness(BaseModel):
    ready: bool
    items: list[ReadinessItem]


class RiskRead(BaseModel):
    score: int = Field(description="0-100.")
    breakdown: RiskBreakdown
    rules_fired: list[RuleFired]
    policy_version: int | None


class ReviewRead(BaseModel):
    change_id: UUID
    impact_level: ImpactLevel
    readiness: Readiness
    required_approvals: list[RequiredApproval]
    approvals: list[ApprovalRead]
    status: ReviewStatus
    assessed_at: datetime
    decided_at: datetime | None
    title: str
    category: Category
    services: list[str]
    environment: str
    window: Window
    requester: str
    emergency: bool
    standard: bool
    assessed_version: int | None = Field(description="The change version this assessment is of.")
    rule_impact_level: ImpactLevel | None = Field(description="What the rules gave.")
    impact_override: ImpactOverride | None
    risk: RiskRead
    conflicts: list[UUID] = Field(description="Open changes overlapping on a service.")
    awaiting: list[RequiredApproval] = Field(description="Approvals still missing, per role.")
    waivers: list[WaiverRead]
    pre_approved: bool
    retrospective_required: bool
    approval_expires_at: datetime | None
    freeze_override: str | None
    created_at: datetime
