"""Checking an export offline, against its signed tree head and a trusted public key; no I/O.

Used by `changeward audit verify`. Every entry must hash to its leaf, chain to the entry
before it when they are consecutive, and be included in the signed tree.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.audit.domain import chain_hash
from services.audit.merkle import leaf_hash, verify_inclusion
from services.audit.signing import TreeHead, verifies


@dataclass(frozen=True)
class ExportDefect:
    line: int
    sequence: int | None
    reason: str


@dataclass(frozen=True)
class ExportReport:
    entries: int
    tree_head: TreeHead | None
    defect: ExportDefect | None

    @property
    def ok(self) -> bool:
        return self.defect is None


class ExportVerifier:
    def __init__(self, public_key: Ed25519PublicKey) -> None:
        self._public_key = public_key
        self._head: TreeHead | None = None
        self._entries = 0
        self._line = 0
        self._previous: tuple[int, str] | None = None
        self._ended = False
        self._defect: ExportDefect | None = None

    def feed(self, record: Mapping[str, Any]) -> bool:
        """Check the next record of the export; False from the first defect on."""
        if self._defect is not None:
            return False
        self._line += 1
        try:
            reason, sequence = self._check(record)
        except (KeyError, TypeError, ValueError, binascii.Error) as error:
            reason, sequence = f"malformed record: {error!r}", record.get("sequence")
        if reason is not None:
            self._defect = ExportDefect(self._line, sequence, reason)
        return self._defect is None

    def finish(self) -> ExportReport:
        if self._defect is None and not self._ended:
            self._defect = ExportDefect(self._line, None, "the export ends without its end record")
        return ExportReport(self._entries, self._head, self._defect)

    def _check(self, record: Mapping[str, Any]) -> tuple[str | None, int | None]:
        kind = record["kind"]
        if self._ended:
            return "records after the end record", None
        if self._head is None:
            if kind != "tree_head":
                return "the export does not start with its signed tree head", None
            return self._check_head(record), None
        if kind == "entry":
            return self._check_entry(record), int(record["sequence"])
        if kind == "end":
            self._ended = True
            if int(record["entries"]) != self._entries:
                return (
                    f"the end record counts {record['entries']} entries, not {self._entries}",
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
        entry: str = record["entry"]
        if self._previous is not None and sequence <= self._previous[0]:
            return "entries are not in ledger order"
        if chain_hash(record["prev_hash"], entry) != record["hash"]:
            return "hash does not match prev_hash and the entry"
        previous = self._previous
        if previous and sequence == previous[0] + 1 and record["prev_hash"] != previous[1]:
            return "prev_hash does not match the previous entry's hash"
        leaf = leaf_hash(entry.encode("utf-8"))
        if int(record["leaf_index"]) != sequence - 1 or leaf.hex() != record["leaf_hash"]:
            return "the leaf does not match the entry"
        path = [bytes.fromhex(h) for h in record["audit_path"]]
        if not verify_inclusion(leaf, sequence - 1, self._head.size, path, self._head.root):
            return f"not included in the signed tree of {self._head.size} entries"
        self._previous = (sequence, record["hash"])
        self._entries += 1
        return None
