"""Checking the ledger's Merkle tree and signed tree heads against its entries; no I/O.

The hash chain (domain.ChainVerifier) pins each entry to the one before it; anyone
holding the database can still rewrite a tail and recompute every hash. What they
cannot recompute is a signed tree head: the tree over the first N entries must still
hash to the root the ledger signed at size N.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.audit.domain import Defect, StoredEntry
from services.audit.merkle import Frontier, leaf_hash
from services.audit.row_check import EntryRow, leaf_hashes
from services.audit.signing import SignedTreeHead, verifies


@dataclass(frozen=True)
class TreeVerification:
    size: int
    root: bytes
    heads_checked: int
    last_matching_head: SignedTreeHead | None
    first_bad: Defect | None


class TreeVerifier:
    """Rebuilds the tree from entries fed in ledger order and checks it as it grows.

    Checks each stored leaf hash, the signature and root of every signed tree head at
    its size, and at the end the head row's frontier and any head beyond the entries.
    A head whose signing time could not be read (`unreadable_heads`, their sizes) is a
    defect where the tree reaches its size.
    """

    def __init__(
        self,
        heads: Sequence[SignedTreeHead],
        public_key: Ed25519PublicKey,
        key_id: str,
        recorded_frontier: Frontier | None,
        unreadable_heads: Collection[int] = (),
    ) -> None:
        self._heads = sorted(heads, key=lambda signed: signed.head.size)
        self._unreadable_heads = sorted(unreadable_heads)
        self._public_key = public_key
        self._key_id = key_id
        self._recorded_frontier = recorded_frontier
        self._frontier = Frontier()
        self._next_head = 0
        self._last_matching: SignedTreeHead | None = None
        self._first_bad: Defect | None = None
        self._check_heads_at(0)

    @property
    def failed(self) -> bool:
        return self._first_bad is not None

    def feed(self, entries: Sequence[StoredEntry], stored_leaves: Mapping[int, bytes]) -> bool:
        """Check the next `entries`; `stored_leaves` maps leaf index to its stored hash."""
        for stored in entries:
            if self._first_bad is not None:
                return False
            leaf = leaf_hash(stored.entry.encode("utf-8"))
            index = self._frontier.size
            if stored_leaves.get(index) != leaf:
                self._first_bad = Defect(
                    stored.sequence, "the stored Merkle leaf hash does not match the entry"
                )
                return False
            self._frontier.append(leaf)
            self._check_heads_at(self._frontier.size)
        return self._first_bad is None

    def take_rows(self, rows: Sequence[EntryRow], stored_leaves: Mapping[int, bytes]) -> bool:
        """`feed` for plain rows if every stored leaf matches; else take nothing, return False
        (feed them then, to find which). A signed head's defect is found here as in `feed`."""
        if self._first_bad is not None:
            return False
        start = self._frontier.size
        leaves = leaf_hashes(rows)
        if leaves != [stored_leaves.get(index) for index in range(start, start + len(rows))]:
            return False
        fed = 0
        while fed < len(leaves) and self._first_bad is None:
            # Up to the next signed head's size, where that head must be checked.
            until = fed + self._leaves_to_next_head(len(leaves) - fed)
            self._frontier.extend(leaves[fed:until])
            fed = until
            self._check_heads_at(self._frontier.size)
        return True

    def _leaves_to_next_head(self, at_most: int) -> int:
        """How many leaves until the next signed head applies, up to `at_most`."""
        size = self._frontier.size
        if self._next_head < len(self._heads) and self._heads[self._next_head].head.size > size:
            at_most = min(at_most, self._heads[self._next_head].head.size - size)
        if self._unreadable_heads and self._unreadable_heads[0] > size:
            at_most = min(at_most, self._unreadable_heads[0] - size)
        return at_most

    def finish(self) -> TreeVerification:
        size = self._frontier.size
        if self._first_bad is None and self._unreadable_heads:
            self._first_bad = _unreadable_head_defect(size + 1, self._unreadable_heads[0])
        if self._first_bad is None and self._next_head < len(self._heads):
            beyond = self._heads[-1]
            self._first_bad = Defect(
                size + 1,
                f"missing: a tree head signed at {beyond.head.timestamp.isoformat()} covers "
                f"{beyond.head.size} entries, the ledger holds {size}",
            )
        recorded = self._recorded_frontier
        if (
            self._first_bad is None
            and recorded is not None
            and size > 0
            and (recorded.size != size or recorded.root() != self._frontier.root())
        ):
            self._first_bad = Defect(
                size, "the ledger head's Merkle frontier does not match the entries"
            )
        return TreeVerification(
            size=size,
            root=self._frontier.root(),
            heads_checked=self._next_head,
            last_matching_head=self._last_matching,
            first_bad=self._first_bad,
        )

    def _check_heads_at(self, size: int) -> None:
        if self._unreadable_heads and self._unreadable_heads[0] <= size:
            self._first_bad = self._first_bad or _unreadable_head_defect(
                max(size, 1), self._unreadable_heads[0]
            )
        while (
            self._first_bad is None
            and self._next_head < len(self._heads)
            and self._heads[self._next_head].head.size == size
        ):
            signed = self._heads[self._next_head]
            self._next_head += 1
            self._first_bad = self._head_defect(signed)
            if self._first_bad is None:
                self._last_matching = signed

    def _head_defect(self, signed: SignedTreeHead) -> Defect | None:
        head = signed.head
        matched = self._last_matching.head.size if self._last_matching else 0
        if signed.key_id != self._key_id or not verifies(self._public_key, head, signed.signature):
            return Defect(
                max(head.size, 1),
                f"the tree head of size {head.size} signed at {head.timestamp.isoformat()} "
                "does not verify with the ledger's public key",
            )
        if head.root != self._frontier.root():
            return Defect(
                matched + 1,
                f"the signed tree head no longer matches: the tree over entries 1..{head.size} "
                f"differs from the root signed at {head.timestamp.isoformat()}; entries "
                f"1..{matched} still match a signed tree head, so the rewrite starts after "
                f"entry {matched}",
            )
        return None


def _unreadable_head_defect(sequence: int, size: int) -> Defect:
    return Defect(
        sequence,
        f"the tree head of size {size} cannot be checked: its signing time is not a "
        "representable timestamp (infinite, or beyond years 1 to 9999)",
    )
