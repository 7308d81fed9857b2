"""The ledger's append path and chain reads; tree and search queries live beside it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, Text, cast, func, select, text, type_coerce, update
from sqlalchemy.dialects.postgresql import JSON, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.domain import EntryColumns, Head, StoredEntry
from services.audit.facets import Facets
from services.audit.merkle import Frontier, Node
from services.audit.models import (
    HEAD_ID,
    WRITER_ROLE,
    LedgerEntry,
    LedgerHead,
    LedgerSubject,
    MerkleNode,
)

# The entry exactly as stored: `json` keeps its text, and casting to text returns it unchanged.
ENTRY_TEXT = cast(LedgerEntry.entry, Text)

# Statements are immutable: each query builds on this one.
STORED_ENTRIES = select(
    LedgerEntry.sequence,
    ENTRY_TEXT.label("entry"),
    LedgerEntry.prev_hash,
    LedgerEntry.hash,
    LedgerEntry.event_id,
    LedgerEntry.event_type,
    LedgerEntry.subject,
    LedgerEntry.source,
    LedgerEntry.source_sequence,
    LedgerEntry.recorded_at,
    LedgerEntry.actor,
)


@dataclass
class LedgerTip:
    """The ledger's chain head and Merkle frontier, as the head row records them."""

    head: Head
    frontier: Frontier


def _as_json(entry: str) -> ColumnElement[Any]:
    """The entry's text handed to PostgreSQL as is, bypassing the JSON type's serializer."""
    return cast(type_coerce(entry, Text), JSON)


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> LedgerRepository:
        return cls(session)

    async def act_as_writer(self) -> None:
        """Run the rest of this transaction as the role that may only append to the ledger."""
        await self.session.execute(text(f"SET LOCAL ROLE {WRITER_ROLE}"))

    async def lock_tip(self) -> LedgerTip:
        """The ledger's tip, locked until the transaction ends: appends happen one at a time."""
        tip = await self._tip(for_update=True)
        if tip is not None:
            return tip
        # The very first append creates the head; a concurrent first append waits on the
        # primary key, then finds the row, locks it and sees the other's append.
        await self.session.execute(
            insert(LedgerHead)
            .values(id=HEAD_ID, size=0, head_hash=Head.genesis().hash)
            .on_conflict_do_nothing(index_elements=[LedgerHead.id])
        )
        tip = await self._tip(for_update=True)
        assert tip is not None
        return tip

    async def recorded_tip(self) -> LedgerTip | None:
        return await self._tip(for_update=False)

    async def add(self, entry: StoredEntry) -> bool:
        """Insert `entry`; False, inserting nothing, if its event is already in the ledger."""
        assert entry.columns is not None
        columns = entry.columns
        inserted = await self.session.scalar(
            insert(LedgerEntry)
            .values(
                sequence=entry.sequence,
                event_id=columns.event_id,
                event_type=columns.event_type,
                subject=columns.subject,
                source=columns.source,
                source_sequence=columns.source_sequence,
                entry=_as_json(entry.entry),
                prev_hash=entry.prev_hash,
                hash=entry.hash,
                recorded_at=columns.recorded_at,
                actor=columns.actor,
            )
            # Only a repeated event id is expected; a taken sequence must fail loudly.
            .on_conflict_do_nothing(index_elements=[LedgerEntry.event_id])
            .returning(LedgerEntry.sequence)
        )
        return inserted is not None

    async def add_nodes(self, nodes: Sequence[Node]) -> None:
        await self.session.execute(
            insert(MerkleNode),
            [{"level": n.id.level, "index": n.id.index, "hash": n.hash} for n in nodes],
        )

    async def move_tip(self, tip: LedgerTip) -> None:
        await self.session.execute(
            update(LedgerHead)
            .where(LedgerHead.id == HEAD_ID)
            .values(size=tip.head.size, head_hash=tip.head.hash, frontier=list(tip.frontier.hashes))
        )

    async def note_facets(self, subject: str, facets: Facets) -> None:
        """Remember what an event said about its subject; the latest value of each facet wins."""
        row = LedgerSubject.__table__
        statement = insert(LedgerSubject).values(
            subject=subject,
            services=list(facets.services),
            environment=facets.environment,
            impact_level=facets.impact_level,
            outcome=facets.outcome,
        )
        excluded = statement.excluded
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[LedgerSubject.subject],
                set_={
                    "services": func.coalesce(
                        func.nullif(excluded.services, text("'{}'::text[]")), row.c.services
                    ),
                    "environment": func.coalesce(excluded.environment, row.c.environment),
                    "impact_level": func.coalesce(excluded.impact_level, row.c.impact_level),
                    "outcome": func.coalesce(excluded.outcome, row.c.outcome),
                },
            )
        )

    async def entries_of_subject(self, subject: str) -> list[StoredEntry]:
        statement = STORED_ENTRIES.where(LedgerEntry.subject == subject)
        rows = await self.session.execute(statement.order_by(LedgerEntry.sequence))
        return [to_stored(row) for row in rows]

    async def entries_after(self, sequence: int, *, limit: int) -> list[StoredEntry]:
        """The next `limit` entries after `sequence`, in ledger order (keyset pagination)."""
        statement = (
            STORED_ENTRIES.where(LedgerEntry.sequence > sequence)
            .order_by(LedgerEntry.sequence)
            .limit(limit)
        )
        return [to_stored(row) for row in await self.session.execute(statement)]

    async def read_one_snapshot(self) -> None:
        """Make every later query of this transaction see the same committed ledger.

        Must run before the transaction's first query; reading in batches then cannot
        see an entry appended between two batches without its head, or the reverse.
        """
        await self.session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )

    async def _tip(self, *, for_update: bool) -> LedgerTip | None:
        statement = select(LedgerHead.size, LedgerHead.head_hash, LedgerHead.frontier).where(
            LedgerHead.id == HEAD_ID
        )
        if for_update:
            statement = statement.with_for_update()
        row = (await self.session.execute(statement)).one_or_none()
        if row is None:
            return None
        frontier = Frontier(row.size, [bytes(h) for h in row.frontier])
        return LedgerTip(Head(row.size, row.head_hash), frontier)


def to_stored(row: Row[*tuple[Any, ...]]) -> StoredEntry:
    return StoredEntry(
        sequence=row.sequence,
        entry=row.entry,
        prev_hash=row.prev_hash,
        hash=row.hash,
        columns=EntryColumns(
            event_id=row.event_id,
            event_type=row.event_type,
            subject=row.subject,
            source=row.source,
            source_sequence=row.source_sequence,
            recorded_at=row.recorded_at,
            actor=row.actor,
        ),
    )
