"""Payloads of the events review publishes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from shared.auth import Role
from shared.contracts.change import (
    Window,
)
from shared.contracts.enums import (
    Decision,
    ImpactLevel,
    RiskDimension,
)


class RequiredApproval(BaseModel):
    role: Role
    count: int = Field(ge=1)


class ReadinessItem(BaseModel):
    name: str
    status: str = Field(pattern="^(pass|fail|waived)$")
    reason: str


class RiskBreakdown(BaseModel):
    """Points per risk dimension; they add up to the score before it is capped at 100."""

    architecture: int = Field(default=0, ge=0)
    performance: int = Field(default=0, ge=0)
    business: int = Field(default=0, ge=0)
    compliance: int = Field(default=0, ge=0)


class RuleFired(BaseModel):
    """One risk rule that matched the change, and what it added to the score."""

    rule: str = Field(description="The rule's id in the risk policy.")
    dimension: RiskDimension
    points: int = Field(ge=0)
    reason: str = Field(description="The rule's description, with the facts it matched.")


class ImpactOverride(BaseModel):
    """A change_manager raised the impact level above what the rules gave."""

    level: ImpactLevel
    reason: str
    overridden_by: str


class ChangeAssessed(BaseModel):
    impact_level: ImpactLevel
    ready: bool
    readiness: list[ReadinessItem]
    required_approvals: list[RequiredApproval]
    risk_score: int = Field(default=0, ge=0, le=100)
    risk_breakdown: RiskBreakdown = Field(default_factory=RiskBreakdown)
    rules_fired: list[RuleFired] = Field(default_factory=list)
    conflicts: list[UUID] = Field(
        default_factory=list,
        description="Open changes of the same service and environment with overlapping windows.",
    )
    assessed_version: int | None = Field(
        default=None,
        description="The change version assessed; an assessment older than the change is stale.",
    )
    rule_impact_level: ImpactLevel | None = Field(
        default=None, description="The level the rules gave, before any upward override."
    )
    impact_override: ImpactOverride | None = None
    pre_approved: bool = Field(
        default=False, description="A standard change from a template: approved without a vote."
    )
    risk_policy_version: int | None = Field(
        default=None, description="The risk policy version applied (0: the built-in default)."
    )


class ReadinessWaived(BaseModel):
    """A change_manager accepted a failing readiness item, with the reason."""

    item: str
    reason: str
    waived_by: str
    change_version: int


class PolicyUpdated(BaseModel):
    """A new version of a review policy (`risk`, `approvals` or `services`) is in force.

    Subject: `policy:<name>`.
    """

    policy: str
    version: int = Field(ge=1)
    updated_by: str
    document: dict[str, Any]


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
    emergency: bool = Field(
        default=False, description="An urgent change approved to start before its review completes."
    )
    retrospective_required: bool = Field(
        default=False, description="A post-change review is mandatory (every emergency change)."
    )
    approval_expires_at: datetime | None = Field(
        default=None, description="After this instant the approval no longer lets the change start."
    )
    freeze_override: str | None = Field(
        default=None, description="Why an urgent change may run during a freeze window, if it must."
    )


class FreezeWindowDeclared(BaseModel):
    """A blackout period: non-emergency changes may not be approved or executed inside it.

    Published by review (subject: the freeze window id) so execution's deploy gate can keep
    its own copy; empty `services` means every service, `environment` None every environment.
    """

    freeze_window_id: UUID
    services: list[str] = Field(default_factory=list)
    environment: str | None = None
    start: datetime
    end: datetime
    reason: str
    declared_by: str


class FreezeWindowLifted(BaseModel):
    freeze_window_id: UUID
    lifted_by: str


class ChangeRejected(BaseModel):
    rejected_by: str
    comment: str | None = None
