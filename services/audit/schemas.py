"""Response bodies of the audit API."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field


class LedgerEntryRead(BaseModel):
    """One event as the ledger recorded it, with its place in the hash chain."""

    sequence: int = Field(description="Position in the ledger: 1, 2, 3... with no gaps.")
    type: str = Field(description="The event type, e.g. `change.requested`.")
    event_id: UUID
    source: str = Field(description="The publishing service, e.g. `/changeward/intake`.")
    source_sequence: int = Field(description="The event's sequence per change and source.")
    actor: str
    time: datetime = Field(description="When the event happened, per its source.")
    data: dict[str, Any]
    hash: str = Field(description="SHA-256 (hex) of `prev_hash` and this entry's canonical JSON.")
    prev_hash: str = Field(description="The previous entry's hash; 64 zeros for the first.")
    recorded_at: datetime = Field(description="When the ledger recorded the event.")


class ChangeTimelineRead(BaseModel):
    change_id: UUID
    entries: list[LedgerEntryRead] = Field(
        description="Every ledger entry about the change, in ledger order; empty if none yet."
    )


class DefectRead(BaseModel):
    sequence: int = Field(description="The first entry that does not verify.")
    reason: str


class VerificationRead(BaseModel):
    ok: bool
    entries: int = Field(
        description="How many entries verified, from the first: all of them when ok, "
        "else those before `first_bad`."
    )
    head: str = Field(description="The hash of the last verified entry (64 zeros if none).")
    first_bad: DefectRead | None = Field(default=None, description="Present only when not ok.")
