"""Checking an export offline, against its signed tree head and a trusted public key; no I/O.

Used by `changeward audit verify`. Every entry must hash to its leaf, chain to the entry
before it when they are consecutive, and be included in the signed tree. Each defective
entry is reported, not only the first.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.audit.domain import DEFECTS_LISTED, chain_hash
from services.audit.merkle import leaf_hash, verify_inclusion
from services.audit.signing import TreeHead, verifies


@dataclass(frozen=True)
class ExportDefect:
    line: int
    sequence: int | None
    reason: str


@dataclass(frozen=True)
class ExportReport:
    """`entries`: those that verified; `defects`: the first DEFECTS_LISTED of `defect_count`."""

    entries: int
    tree_head: TreeHead | None
    defect: ExportDefect | None
    defects: tuple[ExportDefect, ...] = ()
    defect_count: int = 0

    @property
    def ok(self) -> bool:
        return self.defect is None


class ExportVerifier:
    """Checks an export's records fed in order; goes on past a defective entry, so one pass
    names every one, and stops (`done`) only where nothing after can be checked: without a
    signed head to prove entries against, or once the export says it failed."""

    def __init__(self, public_key: Ed25519PublicKey) -> None:
        self._public_key = public_key
        self._head: TreeHead | None = None
        self._entries = 0
        self._entry_records = 0
        self._line = 0
        self._previous: tuple[int, str] | None = None
        self._ended = False
        self.done = False
        self._defects: list[ExportDefect] = []
        self._defect_count = 0

    def feed(self, record: Mapping[str, Any]) -> bool:
        """Check the next record of the export; False if it is defective or came `done`."""
        if self.done:
            return False
        self._line += 1
        try:
            reason, sequence = self._check(record)
        except (KeyError, TypeError, ValueError, binascii.Error) as error:
            reason, sequence = f"malformed record: {error!r}", record.get("sequence")
            self.done = self._head is None
        if reason is not None:
            self._defect(ExportDefect(self._line, sequence, reason))
        return reason is None

    def finish(self) -> ExportReport:
        defects = list(self._defects)
        count = self._defect_count
        if not self._ended and not self.done:
            defects.append(ExportDefect(self._line, None, "the export ends without its end record"))
            count += 1
        return ExportReport(
            entries=self._entries,
            tree_head=self._head,
            defect=defects[0] if defects else None,
            defects=tuple(defects[:DEFECTS_LISTED]),
            defect_count=count,
        )

    def _defect(self, defect: ExportDefect) -> None:
        self._defect_count += 1
        if len(self._defects) < DEFECTS_LISTED:
            self._defects.append(defect)

    def _check(self, record: Mapping[str, Any]) -> tuple[str | None, int | None]:
        kind = record["kind"]
        if kind == "error":
            # The server's own word that the export cannot go on, in place of its end record.
            self.done = True
            return (
                f"the export ended in an error: {record.get('code')}: {record.get('detail')}",
                None,
            )
        if self._ended:
            return "records after the end record", None
        if self._head is None:
            self.done = True
            if kind != "tree_head":
                return "the export does not start with its signed tree head", None
            reason = self._check_head(record)
            self.done = reason is not None
            return reason, None
        if kind == "entry":
            self._entry_records += 1
            return self._check_entry(record), int(record["sequence"])
        if kind == "end":
            self._ended = True
            if int(record["entries"]) != self._entry_records:
                return (
                    f"the end record counts {record['entries']} entries, not {self._entry_records}",
                    None,
                )
            return None, None
        return f"unexpected record kind {kind!r}", None

    def _check_head(self, record: Mapping[str, Any]) -> str | None:
        head = TreeHead(
            size=int(record["size"]),
            root=bytes.fromhex(record["root"]),
            timestamp=datetime.fromisoformat(record["timestamp"]),
        )
        if not verifies(self._public_key, head, base64.b64decode(record["signature"])):
            return "the tree head's signature does not verify with the given public key"
        self._head = head
        return None

    def _check_entry(self, record: Mapping[str, Any]) -> str | None:
        assert self._head is not None
        sequence = int(record["sequence"])
        previous, self._previous = self._previous, (sequence, record["hash"])
        entry: str = record["entry"]
        if previous is not None and sequence <= previous[0]:
            return "entries are not in ledger order"
        if chain_hash(record["prev_hash"], entry) != record["hash"]:
            return "hash does not match prev_hash and the entry"
        if previous and sequence == previous[0] + 1 and record["prev_hash"] != previous[1]:
            return "prev_hash does not match the previous entry's hash"
        leaf = leaf_hash(entry.encode("utf-8"))
        if int(record["leaf_index"]) != sequence - 1 or leaf.hex() != record["leaf_hash"]:
            return "the leaf does not match the entry"
        path = [bytes.fromhex(h) for h in record["audit_path"]]
        if not verify_inclusion(leaf, sequence - 1, self._head.size, path, self._head.root):
            return f"not included in the signed tree of {self._head.size} entries"
        self._entries += 1
        return None
