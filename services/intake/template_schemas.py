"""Request and response bodies of the standard-change template API."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import ConfigDict, Field

from services.intake.schemas import DetailsFollowCategory
from shared.change_details import CategoryDetails
from shared.change_evidence import Contact
from shared.contracts import Category, NonBlank, Plans


class TemplateFields(DetailsFollowCategory):
    """What a change created from the template inherits; the request may override any of it."""

    model_config = ConfigDict(extra="forbid")

    name: NonBlank = Field(max_length=100, description="Unique, e.g. `scale-out-web-tier`.")
    description: str | None = Field(default=None, max_length=4000)
    title: NonBlank | None = Field(default=None, max_length=200)
    category: Category
    details: CategoryDetails | None = None
    services: list[NonBlank] | None = Field(default=None, min_length=1, max_length=50)
    environment: NonBlank | None = Field(default=None, max_length=64)
    plans: Plans = Field(default_factory=Plans)
    business_justification: str | None = Field(default=None, max_length=4000)
    contacts: list[Contact] = Field(default_factory=list, max_length=20)


class TemplateCreate(TemplateFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "scale-out-checkout",
                    "title": "Scale out checkout",
                    "category": "hardware",
                    "details": {"kind": "pod_count_change", "assets": ["checkout"]},
                    "services": ["checkout"],
                    "environment": "production",
                    "plans": {
                        "implementation": "kubectl scale deploy/checkout --replicas=N",
                        "rollback": "Scale back to the previous replica count",
                        "verification": "p99 under 300 ms for 15 minutes",
                    },
                }
            ]
        },
    )


class TemplateRead(TemplateFields):
    id: UUID
    created_by: str
    created_at: datetime
