"""Audit use cases: append events to the ledger, read a change's timeline, verify the chain."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.domain import ChainVerifier, Head, StoredEntry, Verification, seal
from services.audit.repository import LedgerRepository
from services.audit.schemas import (
    ChangeTimelineRead,
    DefectRead,
    LedgerEntryRead,
    VerificationRead,
)
from shared.events import CloudEvent

log = structlog.get_logger(__name__)

VERIFY_BATCH_SIZE = 5_000


async def append_event(session: AsyncSession, event: CloudEvent) -> StoredEntry | None:
    """Append `event` to the ledger in the caller's transaction; None if it is already there."""
    repository = LedgerRepository.from_session(session)
    head = await repository.lock_head()
    entry = seal(head, event.model_dump(mode="json"), recorded_at=datetime.now(UTC))
    if not await repository.add(entry):
        log.warning("event already in the ledger; not appended again", event_id=str(event.id))
        return None
    await repository.move_head(entry.head)
    return entry


async def change_timeline(session: AsyncSession, change_id: UUID) -> ChangeTimelineRead:
    entries = await LedgerRepository.from_session(session).entries_of_subject(str(change_id))
    return ChangeTimelineRead(change_id=change_id, entries=[to_entry_read(e) for e in entries])


async def verify_ledger(
    session: AsyncSession, *, batch_size: int = VERIFY_BATCH_SIZE
) -> VerificationRead:
    """Recompute the whole chain, streamed in batches, against the ledger's recorded head."""
    repository = LedgerRepository.from_session(session)
    await repository.read_one_snapshot()
    verifier = ChainVerifier(await repository.recorded_head() or Head.genesis())
    last_sequence = 0
    while batch := await repository.entries_after(last_sequence, limit=batch_size):
        # Hashing millions of entries is CPU work: in a thread, the event loop keeps serving.
        if not await asyncio.to_thread(verifier.feed, batch):
            break
        last_sequence = batch[-1].sequence
    return to_verification_read(verifier.finish())


def to_entry_read(stored: StoredEntry) -> LedgerEntryRead:
    content = json.loads(stored.entry)
    event = CloudEvent.model_validate(content["event"])
    return LedgerEntryRead(
        sequence=stored.sequence,
        type=event.event_type,
        event_id=event.id,
        source=event.source,
        source_sequence=event.sequence,
        actor=event.actor,
        time=event.time,
        data=event.data,
        hash=stored.hash,
        prev_hash=stored.prev_hash,
        recorded_at=content["recorded_at"],
    )


def to_verification_read(verification: Verification) -> VerificationRead:
    first_bad = verification.first_bad
    return VerificationRead(
        ok=verification.ok,
        entries=verification.entries,
        head=verification.head,
        first_bad=None if first_bad is None else DefectRead(**vars(first_bad)),
    )
