"""Request and response bodies of the execution API."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.execution.domain import ExecutionStatus
from shared.contracts import ImpactLevel, Outcome

NOTES_MAX_LENGTH = 4000


class CompletionCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"notes": "Scaled to 12 pods; all healthy"}]},
    )

    notes: str | None = Field(default=None, max_length=NOTES_MAX_LENGTH)


class AcceptanceCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"outcome": "successful", "notes": "p99 240 ms, no 5xx"}]},
    )

    outcome: Outcome
    notes: str | None = Field(default=None, max_length=NOTES_MAX_LENGTH)


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
