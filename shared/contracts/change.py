"""A change as intake knows it: the snapshot `change.requested` and `change.updated` carry."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shared.change_details import CategoryDetails, details_matching_category
from shared.change_evidence import Contact, ImplementationStep, TestEvidence, VerificationCheck
from shared.contracts.enums import (
    Category,
)
from shared.wire import NOT_BLANK, Timestamp


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


NonBlank = Annotated[str, AfterValidator(_non_blank), Field(json_schema_extra=NOT_BLANK)]


class Window(BaseModel):
    """When the change is planned to happen."""

    model_config = ConfigDict(extra="forbid")

    start: Timestamp
    end: Timestamp

    @model_validator(mode="after")
    def _ordered_and_aware(self) -> Window:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window times need a timezone, e.g. 2026-12-01T02:00:00Z")
        if self.end <= self.start:
            raise ValueError("window end must be after its start")
        return self


class Plans(BaseModel):
    """The implementation, rollback (emergency) and verification plans.

    Each plan is free text; the implementation and verification plans may also be
    structured as steps and checks, and either form counts as the plan being present.
    """

    model_config = ConfigDict(extra="forbid")

    REQUIRED: ClassVar[tuple[str, ...]] = ("implementation", "rollback", "verification")

    implementation: str | None = Field(default=None, description="How the change is made.")
    rollback: str | None = Field(
        default=None, description="The emergency plan: how the change is undone."
    )
    verification: str | None = Field(default=None, description="How the change is shown to work.")
    implementation_steps: list[ImplementationStep] = Field(
        default_factory=list,
        max_length=200,
        description="The implementation plan as ordered steps, each saying if it is automated.",
    )
    verification_checks: list[VerificationCheck] = Field(
        default_factory=list,
        max_length=200,
        description="The verification plan as checks with their expected results.",
    )

    def missing(self) -> list[str]:
        """The required plans that are absent (blank text and no structure)."""
        structured = {
            "implementation": bool(self.implementation_steps),
            "verification": bool(self.verification_checks),
        }
        return [
            name
            for name in self.REQUIRED
            if not (getattr(self, name) or "").strip() and not structured.get(name, False)
        ]


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
    details: CategoryDetails | None = Field(
        default=None,
        description="The category's own details (the model named after `category`); "
        "absent when the requester gave none.",
    )
    business_justification: str | None = Field(
        default=None, description="Why the business needs the change."
    )
    test_evidence: list[TestEvidence] = Field(
        default_factory=list, description="Test suite results; empty when none were given."
    )
    contacts: list[Contact] = Field(
        default_factory=list, description="Whom stakeholders reach about the change."
    )
    standard: bool = Field(
        default=False,
        description="Created from a standard-change template (a pre-approvable, known change).",
    )
    template_id: UUID | None = Field(
        default=None, description="The standard-change template it was created from."
    )

    @model_validator(mode="before")
    @classmethod
    def _details_of_category(cls, data: Any) -> Any:
        return details_matching_category(data, model=cls.__name__)


# The environment names every service treats as production.
PRODUCTION_ENVIRONMENTS = frozenset({"production", "prod", "prd", "live"})


def is_production(environment: str) -> bool:
    return environment.strip().lower() in PRODUCTION_ENVIRONMENTS
