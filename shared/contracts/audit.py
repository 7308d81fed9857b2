"""Payloads of the audit service's events: tree heads, incidents, post-change reviews."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, Field

from shared.contracts.enums import (
    ActionItemStatus,
    Severity,
)


class TreeHeadPublished(BaseModel):
    """A signed head of the audit ledger's Merkle tree, for outside witnesses to keep."""

    size: int = Field(ge=0)
    root: str = Field(description="The RFC 9162 Merkle tree hash, lowercase hex.")
    timestamp: datetime
    signature: str = Field(description="Ed25519 signature, base64; see GET /v1/audit/public-key.")
    key_id: str


class IncidentRecorded(BaseModel):
    """An incident on a service and environment (subject: the incident id)."""

    incident_id: UUID
    service: str
    environment: str
    severity: Severity
    title: str
    started_at: datetime
    resolved_at: datetime | None = None
    external_url: str | None = None
    source: str = Field(description="`api`, or the paging tool that reported it: `pagerduty`.")
    external_id: str | None = Field(default=None, description="The paging tool's incident id.")
    recorded_by: str


class IncidentResolved(BaseModel):
    """An incident is over (subject: the incident id)."""

    incident_id: UUID
    resolved_at: datetime
    resolved_by: str


class IncidentLinked(BaseModel):
    """An incident attributed to the change that caused it (subject: the change id).

    Carries no service or environment field on purpose: the ledger indexes those of the
    subject, and the subject here is the change, not the incident.
    """

    incident_id: UUID
    change_id: UUID
    origin: str = Field(description="`explicit`, or `suggested` (a suggestion confirmed).")
    reason: str
    linked_by: str


class ActionItemRecord(BaseModel):
    action_item_id: UUID
    title: str
    owner: str
    due_on: date
    status: ActionItemStatus


class RetrospectiveRecorded(BaseModel):
    """A post-change review with its action items (subject: the change id)."""

    retrospective_id: UUID
    change_id: UUID
    findings: str
    process_gaps: list[str]
    action_items: list[ActionItemRecord]
    recorded_by: str


class ActionItemUpdated(BaseModel):
    """An action item of a post-change review moved on (subject: the change id)."""

    action_item_id: UUID
    retrospective_id: UUID
    change_id: UUID
    status: ActionItemStatus
    previous_status: ActionItemStatus
    owner: str
    due_on: date
    note: str | None = None
    version: int
    updated_by: str
