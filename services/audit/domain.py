"""The ledger's hash chain: canonical entries, their hashes, and verification; no I/O.

Entry n is the canonical JSON text of

    {"sequence": n, "recorded_at": "<UTC, ISO 8601, microseconds, Z>", "event": <CloudEvent>}

where the event is the CloudEvent as received, as a JSON object. Canonical JSON means keys
sorted at every level, no whitespace (separators "," and ":"), non-ASCII characters written
as they are rather than \\u-escaped, no NaN or Infinity, encoded as UTF-8.

Its hash is

    hash_n = hex(SHA-256(ascii(hash_{n-1}) || utf8(entry_n)))

with `hex` lowercase, `hash_{n-1}` the previous entry's hash as its 64 hex characters (the
ASCII text, not the 32 raw bytes), and hash_0, the genesis `prev_hash`, "0" * 64. In a shell:

    printf '%s%s' "$prev_hash" "$entry" | sha256sum
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from shared.events import TYPE_PREFIX

GENESIS_HASH = "0" * 64


def canonical_json(value: Mapping[str, Any]) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def chain_hash(prev_hash: str, entry: str) -> str:
    """The hash of `entry` chained to `prev_hash`, as defined in this module's docstring."""
    return hashlib.sha256(prev_hash.encode("ascii") + entry.encode("utf-8")).hexdigest()


def format_recorded_at(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("recorded_at needs a timezone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Head:
    """The ledger's size and the hash of its last entry (the genesis hash when empty)."""

    size: int
    hash: str

    @classmethod
    def genesis(cls) -> Head:
        return cls(0, GENESIS_HASH)


@dataclass(frozen=True)
class EntryColumns:
    """The row's copies of entry fields that queries filter on."""

    event_id: UUID
    event_type: str
    subject: str
    source: str
    source_sequence: int
    recorded_at: datetime
    actor: str


@dataclass(frozen=True)
class StoredEntry:
    """An entry as the ledger holds it. `columns`, when given, must agree with `entry`."""

    sequence: int
    entry: str
    prev_hash: str
    hash: str
    columns: EntryColumns | None = None

    @property
    def head(self) -> Head:
        """The ledger's head once this entry is its last."""
        return Head(self.sequence, self.hash)


def columns_of(entry: Mapping[str, Any]) -> EntryColumns:
    """The query columns of a parsed entry; KeyError, TypeError, ValueError or AttributeError
    if malformed."""
    event = entry["event"]
    return EntryColumns(
        event_id=UUID(event["id"]),
        event_type=event["type"].removeprefix(TYPE_PREFIX),
        subject=event["subject"],
        source=event["source"],
        source_sequence=int(event["sequence"]),
        recorded_at=datetime.fromisoformat(entry["recorded_at"]),
        actor=str(event["actor"]),
    )


def seal(head: Head, event: Mapping[str, Any], recorded_at: datetime) -> StoredEntry:
    """The entry that appends `event` to a ledger whose head is `head`."""
    sequence = head.size + 1
    content = {"sequence": sequence, "recorded_at": format_recorded_at(recorded_at), "event": event}
    entry = canonical_json(content)
    return StoredEntry(
        sequence=sequence,
        entry=entry,
        prev_hash=head.hash,
        hash=chain_hash(head.hash, entry),
        columns=columns_of(content),
    )


@dataclass(frozen=True)
class Defect:
    """An entry that does not verify, and why."""

    sequence: int
    reason: str


# Enough to show an investigator the extent of tampering; every defect is still counted.
DEFECTS_LISTED = 100


class Defects:
    """Every defect counted; the DEFECTS_LISTED of them earliest in the ledger kept."""

    def __init__(self) -> None:
        self.count = 0
        self.first: Defect | None = None
        self._kept: list[Defect] = []

    def add(self, defect: Defect) -> None:
        self.count += 1
        self.first = self.first or defect
        self._kept.append(defect)
        if len(self._kept) >= 2 * DEFECTS_LISTED:
            self._kept = earliest(self._kept)

    def listed(self, *more: Defect) -> tuple[Defect, ...]:
        return tuple(earliest([*self._kept, *more]))


def earliest(defects: Iterable[Defect]) -> list[Defect]:
    """The DEFECTS_LISTED defects earliest in the ledger; of one entry's, those found first."""
    return sorted(defects, key=lambda defect: defect.sequence)[:DEFECTS_LISTED]


@dataclass(frozen=True)
class Verification:
    """The outcome of checking a ledger from its first entry.

    `entries` and `head` describe the prefix that verified: the whole ledger when ok,
    else the entries before `first_bad`, the first defect found. `defects` lists the
    DEFECTS_LISTED earliest in the ledger of the `defect_count` found.
    """

    entries: int
    head: str
    first_bad: Defect | None = None
    defects: tuple[Defect, ...] = ()
    defect_count: int = 0

    @property
    def ok(self) -> bool:
        return self.first_bad is None


class ChainVerifier:
    """Checks a ledger's entries fed in ledger order, in as many batches as convenient.

    With the head the ledger records, it also catches a truncated tail, entries appended
    behind the head's back, and a tail rewritten consistently without updating the head.
    It goes on past a defect, from the entry as stored: each later entry is checked
    against the one before it as it is, so one tampered entry is one defect, not a
    defect for every entry after it.
    """

    def __init__(self, recorded_head: Head | None = None) -> None:
        self._recorded_head = recorded_head
        self._verified = Head.genesis()  # the last entry checked, sound or not
        self._prefix: Head | None = None  # the entries before the first defect
        self._defects = Defects()

    @property
    def failed(self) -> bool:
        return self._defects.count > 0

    def feed(self, entries: Iterable[StoredEntry]) -> bool:
        """Check the next `entries`; False if any defect was found so far."""
        for stored in entries:
            for defect in self._defects_of(stored):
                self._found(defect)
            self._verified = stored.head
        return not self.failed

    def finish(self) -> Verification:
        verified = self._verified
        recorded = self._recorded_head
        last: Defect | None = None
        if recorded is not None and recorded.size > verified.size:
            last = Defect(
                verified.size + 1,
                f"missing: the ledger head records {recorded.size} entries, "
                f"the ledger holds {verified.size}",
            )
        elif recorded is not None and verified.size == 0 and recorded != verified:
            last = Defect(1, "the ledger is empty but its head is not the genesis hash")
        defects = self._defects
        prefix = self._prefix or verified
        first_bad = defects.first or last
        return Verification(
            entries=prefix.size,
            head=prefix.hash,
            first_bad=first_bad,
            defects=defects.listed(*(() if last is None else (last,))),
            defect_count=defects.count + (last is not None),
        )

    def _found(self, defect: Defect) -> None:
        if self._prefix is None:
            self._prefix = self._verified
        self._defects.add(defect)

    def _defects_of(self, stored: StoredEntry) -> list[Defect]:
        """The entry's first defect, after the gap before it if there is one."""
        previous = self._verified
        expected = previous.size + 1
        if stored.sequence != expected:
            # The link to a missing entry cannot be checked; the entry itself still can.
            gap = Defect(expected, f"sequence break: expected {expected}, found {stored.sequence}")
            defect = self._entry_defect(stored)
            return [gap] if defect is None else [gap, defect]
        defect = _link_defect(previous, stored) or self._entry_defect(stored)
        return [] if defect is None else [defect]

    def _entry_defect(self, stored: StoredEntry) -> Defect | None:
        return (
            _hash_defect(stored)
            or _content_defect(stored)
            or _head_defect(self._recorded_head, stored)
        )


def _link_defect(previous: Head, stored: StoredEntry) -> Defect | None:
    if stored.prev_hash != previous.hash:
        linked_to = f"entry {previous.size}" if previous.size else "the genesis hash"
        return Defect(stored.sequence, f"prev_hash does not match the hash of {linked_to}")
    return None


def _hash_defect(stored: StoredEntry) -> Defect | None:
    if chain_hash(stored.prev_hash, stored.entry) != stored.hash:
        return Defect(stored.sequence, "hash does not match the entry's content")
    return None


def _content_defect(stored: StoredEntry) -> Defect | None:
    try:
        content = json.loads(stored.entry)
        columns = columns_of(content)
        recorded_sequence = content["sequence"]
    except (KeyError, TypeError, ValueError, AttributeError):
        return Defect(stored.sequence, "the entry is not a well-formed ledger entry")
    if recorded_sequence != stored.sequence:
        return Defect(stored.sequence, f"the entry records sequence {recorded_sequence}")
    if stored.columns is not None and stored.columns != columns:
        differing = [
            field.name
            for field in fields(EntryColumns)
            if getattr(stored.columns, field.name) != getattr(columns, field.name)
        ]
        return Defect(
            stored.sequence, f"row columns that differ from the entry: {', '.join(differing)}"
        )
    return None


def _head_defect(recorded: Head | None, stored: StoredEntry) -> Defect | None:
    if recorded is None:
        return None
    if stored.sequence > recorded.size:
        return Defect(
            stored.sequence, f"beyond the ledger head, which records {recorded.size} entries"
        )
    if stored.sequence == recorded.size and stored.hash != recorded.hash:
        # The chain verifies on its own, so it was rebuilt from some entry on;
        # without a signed head, the last entry is as close as we can point.
        return Defect(
            stored.sequence,
            "the ledger head's hash differs from this entry's: "
            "the chain was rewritten at or before this entry",
        )
    return None


def verify_chain(entries: Iterable[StoredEntry], recorded_head: Head | None = None) -> Verification:
    """Check `entries`, in ledger order, against each other and against `recorded_head`."""
    verifier = ChainVerifier(recorded_head)
    verifier.feed(entries)
    return verifier.finish()
