"""Request and response bodies of the incident API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from shared.contracts import NonBlank, Severity
from shared.wire import AwareTimestamp


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IncidentCreate(_Strict):
    service: NonBlank = Field(max_length=200)
    environment: NonBlank = Field(max_length=64)
    severity: Severity
    title: NonBlank = Field(max_length=500)
    started_at: AwareTimestamp
    resolved_at: AwareTimestamp | None = None
    external_url: HttpUrl | None = Field(default=None, description="The incident in your pager.")
    external_id: str | None = Field(
        default=None, max_length=200, description="The pager's id; a repeat finds the incident."
    )
    change_id: UUID | None = Field(default=None, description="The change known to have caused it.")

    @model_validator(mode="after")
    def _resolved_after_start(self) -> IncidentCreate:
        if self.resolved_at is not None and self.resolved_at < self.started_at:
            raise ValueError("resolved_at must not be before started_at")
        return self


class IncidentUpdate(_Strict):
    """Resolve an incident (`resolved_at` defaults to now)."""

    resolved_at: AwareTimestamp | None = None


class LinkCreate(_Strict):
    change_id: UUID
    reason: str | None = Field(
        default=None,
        max_length=1000,
        description="Why the change caused it; a confirmed suggestion keeps its own reason.",
    )


class LinkRead(BaseModel):
    change_id: UUID
    origin: Literal["explicit", "suggested"]
    reason: str
    linked_by: str
    linked_at: datetime


class SuggestedLinkRead(BaseModel):
    change_id: UUID
    reason: str = Field(description='E.g. "deployed to checkout in production 12 minutes before".')
    rolled_out_at: datetime


class IncidentRead(BaseModel):
    id: UUID
    service: str
    environment: str
    severity: Severity
    title: str
    started_at: datetime
    resolved_at: datetime | None
    external_url: str | None
    source: str = Field(description="`api` or `pagerduty`.")
    external_id: str | None
    recorded_by: str
    version: int
    created_at: datetime
    links: list[LinkRead] = Field(description="Changes confirmed as its cause.")
    suggested_links: list[SuggestedLinkRead] | None = Field(
        description="Changes rolled out on its service and environment shortly before it, "
        "nearest first; confirm one with POST /v1/incidents/{id}/links. Computed for one "
        "incident at a time: null in lists."
    )
