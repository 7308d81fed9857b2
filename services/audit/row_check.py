"""A full verification's inner loop: entries as plain rows, checked a batch at a time; no I/O.

Verifying the ledger reads every entry, and making objects of each costs more than hashing
it. So a batch of rows, as the driver returns them, is checked as a whole, with
whole-column comparisons and a parse of only the fields compared, for exactly what
`ChainVerifier` and `TreeVerifier` check. A batch is taken only if nothing in it is amiss;
otherwise the caller feeds it again as `StoredEntry` objects, and the verifiers name each
of its defects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec

from services.audit.domain import ChainVerifier, Defect, Head, StoredEntry, format_recorded_at
from shared.events import TYPE_PREFIX

SEQUENCE, ENTRY, PREV_HASH, HASH, COLUMNS = range(5)
# Joins the query columns into one text; counted, so that no column may hide one.
SEPARATOR = "\x1f"
COLUMN_COUNT = 7
UNREPRESENTABLE_TIME = (
    "recorded_at is not a representable timestamp (infinite, or beyond years 1 to 9999)"
)


class EntryRow(Protocol):
    """One entry as read for verification: sequence, entry, prev_hash, hash, and `columns`,
    the row's query columns in one text, as `columns_text` renders them."""

    def __getitem__(self, index: int, /) -> Any: ...


def columns_text(stored: StoredEntry) -> str | None:
    """The query columns of `stored` as a verification reads them (see the repository):
    None for an entry read without them, its time being one no datetime can hold."""
    columns = stored.columns
    if columns is None:
        return None
    return SEPARATOR.join(
        (
            str(columns.event_id),
            TYPE_PREFIX + columns.event_type,
            columns.subject,
            columns.source,
            str(columns.source_sequence),
            format_recorded_at(columns.recorded_at),
            columns.actor,
        )
    )


def row_of(stored: StoredEntry) -> tuple[int, str, str, str, str | None]:
    return (stored.sequence, stored.entry, stored.prev_hash, stored.hash, columns_text(stored))


class RowChainVerifier(ChainVerifier):
    """A `ChainVerifier` of the ledger's rows, each read with its columns: an entry read
    without them is a row whose time no datetime can hold (see the repository), a defect."""

    def take_rows(self, rows: Sequence[EntryRow]) -> bool:
        """`feed` for plain rows if it would find no defect in them; else take nothing, return
        False (feed them then, to find each)."""
        if not rows:
            return True
        try:
            sound = self._links_hold(rows) and all(map(_columns_agree, rows))
        except ValueError:  # a malformed entry (msgspec.DecodeError), a non-ASCII hash
            sound = False
        if sound:
            self._verified = Head(rows[-1][SEQUENCE], rows[-1][HASH])
        return sound

    def _entry_defect(self, stored: StoredEntry) -> Defect | None:
        defect = super()._entry_defect(stored)
        if defect is None and stored.columns is None:
            return Defect(stored.sequence, UNREPRESENTABLE_TIME)
        return defect

    def _links_hold(self, rows: Sequence[EntryRow]) -> bool:
        """Sequences, links, hashes, and the recorded head, as `_defects_of` checks them."""
        previous = self._verified
        sequences = [row[SEQUENCE] for row in rows]
        if sequences != list(range(previous.size + 1, previous.size + 1 + len(rows))):
            return False
        hashes = [row[HASH] for row in rows]
        if [row[PREV_HASH] for row in rows] != [previous.hash, *hashes[:-1]]:
            return False
        sha256 = hashlib.sha256
        recomputed = [
            sha256(row[PREV_HASH].encode("ascii") + row[ENTRY].encode("utf-8")).hexdigest()
            for row in rows
        ]
        recorded = self._recorded_head
        return recomputed == hashes and (
            recorded is None
            or recorded.size > sequences[-1]
            or recorded == Head(sequences[-1], hashes[-1])
        )


# Untracked by the cycle collector (they hold only strings and ints): one verification
# makes millions, and every tracked one brings the next collection nearer.
class _Event(msgspec.Struct, gc=False):
    id: str
    type: str
    subject: str
    source: str
    sequence: int
    actor: str


class _Entry(msgspec.Struct, gc=False):
    """What `_content_defect` reads of an entry; the parser skips everything else."""

    event: _Event
    recorded_at: str
    sequence: int


_decode_entry = msgspec.json.Decoder(_Entry).decode


def _columns_agree(row: EntryRow) -> bool:
    """The entry is well formed and its row's columns are its own, as `_content_defect` checks.

    Stricter than `json.loads` and `columns_of` (exact types), never looser: the same JSON
    grammar, and a repeated key's last value wins as there. Equal texts of exactly
    COLUMN_COUNT parts mean equal columns: an integer's digits name only that integer, and
    the canonical text of a time (`format_recorded_at`) only that instant (the query
    renders none outside years 1 to 9999, where its text would be ambiguous).
    """
    content = _decode_entry(row[ENTRY])
    event = content.event
    entry_columns = SEPARATOR.join(
        (
            event.id,
            event.type,
            event.subject,
            event.source,
            str(event.sequence),
            content.recorded_at,
            event.actor,
        )
    )
    return (
        content.sequence == row[SEQUENCE]
        and entry_columns == row[COLUMNS]
        and entry_columns.count(SEPARATOR) == COLUMN_COUNT - 1
    )


def leaf_hashes(rows: Sequence[EntryRow]) -> list[bytes]:
    sha256 = hashlib.sha256
    return [sha256(b"\x00" + row[ENTRY].encode("utf-8")).digest() for row in rows]
