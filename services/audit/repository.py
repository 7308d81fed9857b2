"""The ledger's append path and chain reads; tree and search queries live beside it."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import (
    ColumnElement,
    Row,
    SQLColumnExpression,
    Text,
    and_,
    case,
    cast,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.domain import EntryColumns, Head, StoredEntry
from services.audit.facets import Facets
from services.audit.merkle import Frontier, Node
from services.audit.models import (
    HEAD_ID,
    WRITER_ROLE,
    LedgerEntry,
    LedgerHead,
)
from services.audit.row_check import EntryRow
from shared.events import TYPE_PREFIX

# The entry exactly as stored: `json` keeps its text, and casting to text returns it unchanged.
ENTRY_TEXT = cast(LedgerEntry.entry, Text)

# A datetime holds years 1 to 9999, and the driver fails on any other time (and reads
# ±infinity as the range's bounds): only someone rewriting the table writes one, so each
# query that verification relies on reads such a time as NULL, and verification reports it.
REPRESENTABLE_FROM = "'0001-01-01T00:00:00Z'"
REPRESENTABLE_BEFORE = "'10000-01-01T00:00:00Z'"


def representable(moment: SQLColumnExpression[datetime]) -> ColumnElement[bool]:
    """Whether the timestamptz `moment` is one a datetime can hold."""
    first: ColumnElement[datetime] = literal_column(f"timestamptz {REPRESENTABLE_FROM}")
    beyond: ColumnElement[datetime] = literal_column(f"timestamptz {REPRESENTABLE_BEFORE}")
    return and_(moment >= first, moment < beyond)


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
    case((representable(LedgerEntry.recorded_at), LedgerEntry.recorded_at)).label("recorded_at"),
    LedgerEntry.actor,
)

SELECT_RECORDED = text(
    "SELECT event_id FROM audit.ledger_entry WHERE event_id = ANY(CAST(:event_ids AS uuid[]))"
)
# Whole batches in one statement each: one array per column, unnested into rows.
ENTRY_ARRAYS = (
    "sequence",
    "event_id",
    "event_type",
    "subject",
    "source",
    "source_sequence",
    "entry",
    "prev_hash",
    "hash",
    "recorded_at",
    "actor",
)
INSERT_ENTRIES = text(
    "INSERT INTO audit.ledger_entry (sequence, event_id, event_type, subject, source,"
    " source_sequence, entry, prev_hash, hash, recorded_at, actor)"
    " SELECT sequence, event_id, event_type, subject, source, source_sequence,"
    " CAST(entry AS json), prev_hash, hash, recorded_at, actor FROM unnest("
    " CAST(:sequence AS bigint[]), CAST(:event_id AS uuid[]), CAST(:event_type AS text[]),"
    " CAST(:subject AS text[]), CAST(:source AS text[]), CAST(:source_sequence AS bigint[]),"
    " CAST(:entry AS text[]), CAST(:prev_hash AS text[]), CAST(:hash AS text[]),"
    " CAST(:recorded_at AS timestamptz[]), CAST(:actor AS text[]))"
    " AS batch(sequence, event_id, event_type, subject, source, source_sequence,"
    " entry, prev_hash, hash, recorded_at, actor)"
)
INSERT_NODES = text(
    "INSERT INTO audit.merkle_node (level, index, hash) SELECT * FROM unnest("
    " CAST(:level AS smallint[]), CAST(:index AS bigint[]), CAST(:hash AS bytea[]))"
)
# A facet an event does not name keeps the value an earlier event gave it.
_MERGED_FACETS = (
    "coalesce(nullif(excluded.services, '{}'), known.services),"
    " coalesce(excluded.environment, known.environment),"
    " coalesce(excluded.impact_level, known.impact_level),"
    " coalesce(excluded.outcome, known.outcome)"
)
UPSERT_FACETS = text(
    "INSERT INTO audit.ledger_subject AS known"
    " (subject, services, environment, impact_level, outcome)"
    " SELECT subject, ARRAY(SELECT jsonb_array_elements_text(services)),"
    " environment, impact_level, outcome FROM unnest("
    " CAST(:subject AS text[]), CAST(:services AS jsonb[]), CAST(:environment AS text[]),"
    " CAST(:impact_level AS text[]), CAST(:outcome AS text[]))"
    " AS batch(subject, services, environment, impact_level, outcome)"
    " ON CONFLICT (subject) DO UPDATE SET (services, environment, impact_level, outcome) ="
    f" ({_MERGED_FACETS})"
    # Events mostly repeat what is known: no new row version, no index entry, for nothing.
    " WHERE (known.services, known.environment, known.impact_level, known.outcome)"
    f" IS DISTINCT FROM ({_MERGED_FACETS})"
)


# Verification reads every entry: plain rows straight from the driver, no object per row,
# the query columns joined into one text exactly as `row_check.columns_text` renders them.
# Rendering the time costs PostgreSQL more than it would Python, but its core is idle; its
# year has no era and outgrows four digits, so beyond years 1 to 9999 the text is NULL.
SELECT_ROWS = (
    "SELECT sequence, entry::text, prev_hash, hash,"
    f" CASE WHEN recorded_at >= {REPRESENTABLE_FROM} AND recorded_at < {REPRESENTABLE_BEFORE}"
    f" THEN concat_ws(chr(31), event_id, '{TYPE_PREFIX}' || event_type, subject, source,"
    " source_sequence, to_char(recorded_at AT TIME ZONE 'UTC',"
    ' \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\'), actor) END'
    " FROM audit.ledger_entry WHERE sequence > $1 ORDER BY sequence LIMIT $2"
)


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The session's asyncpg connection, inside the session's transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    return driver


@dataclass
class LedgerTip:
    """The ledger's chain head and Merkle frontier, as the head row records them."""

    head: Head
    frontier: Frontier


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

    async def recorded_event_ids(self, event_ids: Collection[UUID]) -> set[UUID]:
        """Which of `event_ids` the ledger already holds."""
        rows = await self.session.scalars(SELECT_RECORDED, {"event_ids": list(event_ids)})
        return set(rows)

    async def add_entries(self, entries: Sequence[StoredEntry]) -> None:
        """Insert `entries` in one statement; a sequence or event id already taken fails it."""
        arrays: dict[str, list[Any]] = {name: [] for name in ENTRY_ARRAYS}
        for entry in entries:
            assert entry.columns is not None, "an entry to insert carries its query columns"
            for name, value in zip(ENTRY_ARRAYS, _row_of(entry, entry.columns), strict=True):
                arrays[name].append(value)
        await self.session.execute(INSERT_ENTRIES, arrays)

    async def add_nodes(self, nodes: Sequence[Node]) -> None:
        await self.session.execute(
            INSERT_NODES,
            {
                "level": [node.id.level for node in nodes],
                "index": [node.id.index for node in nodes],
                "hash": [node.hash for node in nodes],
            },
        )

    async def move_tip(self, tip: LedgerTip) -> None:
        await self.session.execute(
            update(LedgerHead)
            .where(LedgerHead.id == HEAD_ID)
            .values(size=tip.head.size, head_hash=tip.head.hash, frontier=list(tip.frontier.hashes))
        )

    async def note_facets(self, facets: Mapping[str, Facets]) -> None:
        """Remember what events said about their subjects; the latest value of each facet wins."""
        await self.session.execute(
            UPSERT_FACETS,
            {
                "subject": list(facets),
                # One JSON array per subject: PostgreSQL arrays cannot be ragged.
                "services": [json.dumps(found.services) for found in facets.values()],
                "environment": [found.environment for found in facets.values()],
                "impact_level": [found.impact_level for found in facets.values()],
                "outcome": [found.outcome for found in facets.values()],
            },
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

    async def rows_after(self, sequence: int, *, limit: int) -> list[EntryRow]:
        """`entries_after` as plain rows (see row_check), for reading the whole ledger."""
        driver = await driver_connection(self.session)
        rows: list[EntryRow] = await driver.fetch(SELECT_ROWS, sequence, limit)
        return rows

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


def _row_of(entry: StoredEntry, columns: EntryColumns) -> tuple[Any, ...]:
    """`entry`'s values in ENTRY_ARRAYS order."""
    return (
        entry.sequence,
        columns.event_id,
        columns.event_type,
        columns.subject,
        columns.source,
        columns.source_sequence,
        entry.entry,
        entry.prev_hash,
        entry.hash,
        columns.recorded_at,
        columns.actor,
    )


def to_stored(row: Row[*tuple[Any, ...]]) -> StoredEntry:
    """The entry of a STORED_ENTRIES row; without columns if its time reads as NULL."""
    return StoredEntry(
        sequence=row.sequence,
        entry=row.entry,
        prev_hash=row.prev_hash,
        hash=row.hash,
        columns=None
        if row.recorded_at is None
        else EntryColumns(
            event_id=row.event_id,
            event_type=row.event_type,
            subject=row.subject,
            source=row.source,
            source_sequence=row.source_sequence,
            recorded_at=row.recorded_at,
            actor=row.actor,
        ),
    )
