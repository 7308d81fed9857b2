"""Every query of the audit service."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Row, Text, cast, select, type_coerce, update
from sqlalchemy.dialects.postgresql import JSON, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.domain import EntryColumns, Head, StoredEntry
from services.audit.models import HEAD_ID, LedgerEntry, LedgerHead

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
)


def _as_json(entry: str) -> ColumnElement[Any]:
    """The entry's text handed to PostgreSQL as is, bypassing the JSON type's serializer."""
    return cast(type_coerce(entry, Text), JSON)


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> LedgerRepository:
        return cls(session)

    async def lock_head(self) -> Head:
        """The ledger's head, locked until the transaction ends: appends happen one at a time."""
        head = await self._head(for_update=True)
        if head is not None:
            return head
        # The very first append creates the head; a concurrent first append waits on the
        # primary key, then finds the row, locks it and sees the other's append.
        await self.session.execute(
            insert(LedgerHead)
            .values(id=HEAD_ID, size=0, head_hash=Head.genesis().hash)
            .on_conflict_do_nothing(index_elements=[LedgerHead.id])
        )
        head = await self._head(for_update=True)
        assert head is not None
        return head

    async def recorded_head(self) -> Head | None:
        return await self._head(for_update=False)

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
            )
            # Only a repeated event id is expected; a taken sequence must fail loudly.
            .on_conflict_do_nothing(index_elements=[LedgerEntry.event_id])
            .returning(LedgerEntry.sequence)
        )
        return inserted is not None

    async def move_head(self, head: Head) -> None:
        await self.session.execute(
            update(LedgerHead)
            .where(LedgerHead.id == HEAD_ID)
            .values(size=head.size, head_hash=head.hash)
        )

    async def entries_of_subject(self, subject: str) -> list[StoredEntry]:
        statement = STORED_ENTRIES.where(LedgerEntry.subject == subject)
        rows = await self.session.execute(statement.order_by(LedgerEntry.sequence))
        return [_to_stored(row) for row in rows]

    async def entries_after(self, sequence: int, *, limit: int) -> list[StoredEntry]:
        """The next `limit` entries after `sequence`, in ledger order (keyset pagination)."""
        statement = (
            STORED_ENTRIES.where(LedgerEntry.sequence > sequence)
            .order_by(LedgerEntry.sequence)
            .limit(limit)
        )
        return [_to_stored(row) for row in await self.session.execute(statement)]

    async def read_one_snapshot(self) -> None:
        """Make every later query of this transaction see the same committed ledger.

        Must run before the transaction's first query; reading in batches then cannot
        see an entry appended between two batches without its head, or the reverse.
        """
        await self.session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )

    async def _head(self, *, for_update: bool) -> Head | None:
        statement = select(LedgerHead.size, LedgerHead.head_hash).where(LedgerHead.id == HEAD_ID)
        if for_update:
            statement = statement.with_for_update()
        row = (await self.session.execute(statement)).one_or_none()
        return None if row is None else Head(row.size, row.head_hash)


def _to_stored(row: Row[*tuple[Any, ...]]) -> StoredEntry:
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
        ),
    )
