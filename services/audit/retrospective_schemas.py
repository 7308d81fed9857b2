"""Request and response bodies of the post-change review API."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import ActionItemStatus, NonBlank
from shared.wire import Day


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActionItemCreate(_Strict):
    title: NonBlank = Field(max_length=500)
    owner: NonBlank = Field(max_length=200, description="Who sees it through.")
    due_on: Day


class RetrospectiveCreate(_Strict):
    change_id: UUID
    findings: NonBlank = Field(max_length=20_000, description="What happened and why.")
    process_gaps: list[NonBlank] = Field(
        default_factory=list, max_length=50, description="Where the process let it through."
    )
    action_items: list[ActionItemCreate] = Field(default_factory=list, max_length=100)


class ActionItemUpdate(_Strict):
    """Move an item on; `wont_do` needs a `note` saying why."""

    status: ActionItemStatus | None = None
    owner: NonBlank | None = Field(default=None, max_length=200)
    due_on: Day | None = None
    note: str | None = Field(default=None, max_length=2000)


class ActionItemRead(BaseModel):
    id: UUID
    retrospective_id: UUID
    change_id: UUID
    title: str
    owner: str
    due_on: date
    status: ActionItemStatus
    note: str | None
    overdue: bool = Field(description="Still open (or in progress) after its due date.")
    version: int
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class RetrospectiveRead(BaseModel):
    id: UUID
    change_id: UUID
    services: list[str] = Field(description="The change's services, as the ledger knows them.")
    findings: str
    process_gaps: list[str]
    recorded_by: str
    created_at: datetime
    action_items: list[ActionItemRead]
