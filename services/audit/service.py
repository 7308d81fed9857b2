"""Audit use cases: append events to the ledger and read a change's timeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.domain import StoredEntry, seal
from services.audit.facets import facets_of
from services.audit.merkle import leaf_hash
from services.audit.repository import LedgerRepository, LedgerTip
from services.audit.schemas import ChangeTimelineRead, LedgerEntryRead
from shared.events import CloudEvent

log = structlog.get_logger(__name__)


async def append_event(session: AsyncSession, event: CloudEvent) -> StoredEntry | None:
    """Append `event` to the ledger in the caller's transaction; None if it is already there.

    Chain and tree advance together under the head row's lock: one entry, its leaf and
    the perfect nodes it completes (O(log n)), and the new frontier.
    """
    repository = LedgerRepository.from_session(session)
    await repository.act_as_writer()
    tip = await repository.lock_tip()
    entry = seal(tip.head, event.model_dump(mode="json"), recorded_at=datetime.now(UTC))
    if not await repository.add(entry):
        log.warning("event already in the ledger; not appended again", event_id=str(event.id))
        return None
    await repository.add_nodes(tip.frontier.append(leaf_hash(entry.entry.encode("utf-8"))))
    await repository.move_tip(LedgerTip(entry.head, tip.frontier))
    facets = facets_of(event.data)
    if not facets.empty:
        await repository.note_facets(event.subject, facets)
    return entry


async def change_timeline(session: AsyncSession, change_id: UUID) -> ChangeTimelineRead:
    entries = await LedgerRepository.from_session(session).entries_of_subject(str(change_id))
    return ChangeTimelineRead(change_id=change_id, entries=[to_entry_read(e) for e in entries])


def to_entry_read(stored: StoredEntry) -> LedgerEntryRead:
    content = json.loads(stored.entry)
    event = CloudEvent.model_validate(content["event"])
    return LedgerEntryRead(
        sequence=stored.sequence,
        type=event.event_type,
        event_id=event.id,
        subject=event.subject,
        source=event.source,
        source_sequence=event.sequence,
        actor=event.actor,
        time=event.time,
        data=event.data,
        hash=stored.hash,
        prev_hash=stored.prev_hash,
        recorded_at=content["recorded_at"],
    )
