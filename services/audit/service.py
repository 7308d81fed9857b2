"""Audit use cases: append events to the ledger and read a change's timeline."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.domain import StoredEntry, seal
from services.audit.facets import Facets, facets_of
from services.audit.merkle import Node, leaf_hash
from services.audit.repository import LedgerRepository, LedgerTip
from services.audit.schemas import ChangeTimelineRead, LedgerEntryRead
from shared.events import CloudEvent

log = structlog.get_logger(__name__)


async def append_events(session: AsyncSession, events: Sequence[CloudEvent]) -> list[StoredEntry]:
    """Append `events`, in order, in the caller's transaction; skip those already in the ledger.

    Chain and tree advance together under the head row's lock, in a fixed number of
    statements whatever the batch size: the entries are sealed and the tree grown in
    memory, then written with one insert per table (entries, the perfect nodes they
    complete, subject facets) and one update of the tip.
    """
    repository = LedgerRepository.from_session(session)
    await repository.act_as_writer()
    tip = await repository.lock_tip()
    recorded = await repository.recorded_event_ids([event.id for event in events])
    head, frontier = tip.head, tip.frontier
    entries: list[StoredEntry] = []
    nodes: list[Node] = []
    facets: dict[str, Facets] = {}
    for event in events:
        if event.id in recorded:
            log.warning("event already in the ledger; not appended again", event_id=str(event.id))
            continue
        recorded.add(event.id)
        entry = seal(head, event.model_dump(mode="json"), recorded_at=datetime.now(UTC))
        nodes += frontier.append(leaf_hash(entry.entry.encode("utf-8")))
        entries.append(entry)
        head = entry.head
        found = facets_of(event.data)
        if not found.empty:
            known = facets.get(event.subject)
            facets[event.subject] = found if known is None else known.updated_by(found)
    if not entries:
        return []
    await repository.add_entries(entries)
    await repository.add_nodes(nodes)
    await repository.move_tip(LedgerTip(head, frontier))
    if facets:
        await repository.note_facets(facets)
    return entries


async def append_event(session: AsyncSession, event: CloudEvent) -> StoredEntry | None:
    """Append `event` in the caller's transaction; None if it is already in the ledger."""
    appended = await append_events(session, [event])
    return appended[0] if appended else None


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
