"""Request and response bodies of the intake API."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import Category, ChangeStatus, ImpactLevel, NonBlank, Outcome, Plans, Window


class ChangeCreate(BaseModel):
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
                    "plans": {
                        "implementation": "Scale checkout from 6 to 12 pods",
                        "rollback": "Scale back to 6 pods",
                        "verification": "p99 under 300 ms and no 5xx for 15 minutes",
                    },
                }
            ]
        },
    )

    title: NonBlank = Field(max_length=200)
    category: Category
    services: list[NonBlank] = Field(min_length=1, max_length=50)
    environment: NonBlank = Field(max_length=64)
    window: Window
    plans: Plans = Field(default_factory=Plans)
    emergency: bool = Field(
        default=False, description="An urgent change that may start before full approval."
    )


class ChangeRead(BaseModel):
    id: UUID
    title: str
    category: Category
    services: list[str]
    environment: str
    window: Window
    plans: Plans
    requester: str
    emergency: bool
    status: ChangeStatus
    impact_level: ImpactLevel | None
    outcome: Outcome | None
    version: int
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
