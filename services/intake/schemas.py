"""Request and response bodies of the change API."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.change_details import CategoryDetails, details_matching_category
from shared.change_evidence import Contact, TestEvidence
from shared.contracts import (
    Category,
    ChangeStatus,
    Decision,
    ImpactLevel,
    NonBlank,
    Outcome,
    Plans,
    Window,
)
from shared.errors import InvalidRequest
from shared.wire import Boolean

DETAILS_DESCRIPTION = (
    "The category's own details: HardwareDetails, SoftwareConfigDetails, ApplicationDetails, "
    "DataDetails or TrafficDetails, matching `category` (see the ChangeRead schema)."
)


class DetailsFollowCategory(BaseModel):
    """Parses `details` with the model of `category`, naming `details.<field>` on errors."""

    @model_validator(mode="before")
    @classmethod
    def _details_of_category(cls, data: Any) -> Any:
        return details_matching_category(data, model=cls.__name__)


class ChangeSpec(DetailsFollowCategory):
    """Everything a requester says about a change; what a create or an edit must leave valid."""

    model_config = ConfigDict(extra="forbid")

    title: NonBlank = Field(max_length=200)
    category: Category
    services: list[NonBlank] = Field(min_length=1, max_length=50)
    environment: NonBlank = Field(max_length=64)
    window: Window
    plans: Plans = Field(default_factory=Plans)
    emergency: Boolean = False
    details: CategoryDetails | None = None
    business_justification: str | None = Field(default=None, max_length=4000)
    test_evidence: list[TestEvidence] = Field(default_factory=list, max_length=50)
    contacts: list[Contact] = Field(default_factory=list, max_length=20)


class ChangeFields(BaseModel):
    """A change's fields, each optional; what a create or edit body may set."""

    model_config = ConfigDict(extra="forbid")

    title: NonBlank | None = Field(default=None, max_length=200)
    category: Category | None = None
    services: list[NonBlank] | None = Field(default=None, min_length=1, max_length=50)
    environment: NonBlank | None = Field(default=None, max_length=64)
    window: Window | None = None
    plans: Plans | None = None
    emergency: Boolean | None = Field(
        default=None, description="An urgent change that may start before full approval."
    )
    details: dict[str, Any] | None = Field(default=None, description=DETAILS_DESCRIPTION)
    business_justification: str | None = Field(
        default=None, max_length=4000, description="Why the business needs the change."
    )
    test_evidence: list[TestEvidence] | None = Field(default=None, max_length=50)
    contacts: list[Contact] | None = Field(
        default=None, max_length=20, description="Whom stakeholders reach about the change."
    )


class ChangeCreate(ChangeFields):
    """A new draft. `title`, `category`, `services`, `environment` and `window` are required
    unless `template_id` names a standard-change template that provides them."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "Double checkout pods for the sale",
                    "category": "hardware",
                    "services": ["checkout"],
                    "environment": "production",
                    "window": {"start": "2026-12-01T02:00:00Z", "end": "2026-12-01T03:00:00Z"},
                    "details": {"kind": "pod_count_change", "assets": ["checkout"]},
                    "plans": {
                        "implementation": "Scale checkout from 6 to 12 pods",
                        "rollback": "Scale back to 6 pods",
                        "verification": "p99 under 300 ms and no 5xx for 15 minutes",
                    },
                }
            ]
        },
    )

    template_id: UUID | None = Field(
        default=None,
        description="Start from this standard-change template; fields given here win.",
    )


class ChangeUpdate(ChangeFields):
    """A JSON merge patch (RFC 7396) of a change: objects merge, `null` removes."""


class ChangeCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=2000)


class ApprovalSummary(BaseModel):
    approver: str
    role: str
    decision: Decision
    comment: str | None = None
    recorded_at: datetime


class StageSummary(BaseModel):
    """The latest stage execution reported: a rollout stage or a rollback step."""

    number: int
    of: int
    name: str
    phase: str = Field(description="`rollout` or `rollback`.")
    target_percent: float | None = None
    status: str = Field(description="`running`, `completed` or `failed`.")


class ExecutionSummary(BaseModel):
    executor: str | None = None
    stage: StageSummary | None = Field(default=None, description="The latest stage, if any.")
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ChangeRead(DetailsFollowCategory):
    id: UUID
    title: str
    category: Category
    services: list[str]
    environment: str
    window: Window
    plans: Plans
    requester: str
    emergency: bool
    details: CategoryDetails | None = None
    business_justification: str | None = None
    test_evidence: list[TestEvidence] = Field(default_factory=list)
    contacts: list[Contact] = Field(default_factory=list)
    standard: bool = Field(description="Created from a standard-change template.")
    template_id: UUID | None
    status: ChangeStatus
    impact_level: ImpactLevel | None
    approvals: list[ApprovalSummary] = Field(description="Decisions recorded so far.")
    execution: ExecutionSummary | None
    outcome: Outcome | None
    cancel_reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    cancelled_at: datetime | None


def invalid_body(error: ValidationError, *, under: tuple[str, ...] = ("body",)) -> InvalidRequest:
    """A 422 problem naming each failing field, as request validation would."""
    errors = [
        {"loc": [*under, *detail["loc"]], "msg": detail["msg"], "type": detail["type"]}
        for detail in error.errors()
    ]
    fields = ", ".join(".".join(str(part) for part in e["loc"]) for e in errors)
    return InvalidRequest(f"Invalid fields: {fields}", errors=errors)


def spec_from(fields: dict[str, Any]) -> ChangeSpec:
    try:
        return ChangeSpec.model_validate(fields)
    except ValidationError as error:
        raise invalid_body(error) from None
