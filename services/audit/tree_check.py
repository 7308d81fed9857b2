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

from services.audit.domain import Defect, Defects, StoredEntry
from services.audit.merkle import Frontier, leaf_hash
from services.audit.row_check import SEQUENCE, EntryRow, leaf_hashes
from services.audit.signing import SignedTreeHead, verifies


@dataclass(frozen=True)
class TreeVerification:
    size: int
    root: bytes
    heads_checked: int
    last_matching_head: SignedTreeHead | None
    first_bad: Defect | None
    defects: tuple[Defect, ...] = ()
    defect_count: int = 0


class TreeVerifier:
    """Rebuilds the tree from entries fed in ledger order and checks it as it grows.

    Checks each entry against its stored leaf hash (leaf index: sequence - 1), the
    signature and root of every signed tree head at its size, and at the end any head
    beyond the entries and, if nothing else was amiss, the head row's frontier. A head
    whose signing time could not be read (`unreadable_heads`, their sizes) is a defect
    where the tree reaches its size. It goes on past a defect; a root that no longer
    matches is one defect where heads stop matching, not one for every later head over
    the same rewritten entries.
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
        self._next_unreadable = 0
        self._last_matching: SignedTreeHead | None = None
        self._diverged = False
        self._defects = Defects()
        self._check_heads_at(0)

    @property
    def failed(self) -> bool:
        return self._defects.count > 0

    def feed(self, entries: Sequence[StoredEntry], stored_leaves: Mapping[int, bytes]) -> bool:
        """Check the next `entries`; `stored_leaves` maps leaf index to its stored hash.
        False if any defect was found so far."""
        for stored in entries:
            leaf = leaf_hash(stored.entry.encode("utf-8"))
            stored_leaf = stored_leaves.get(stored.sequence - 1)
            if stored_leaf != leaf:
                self._defects.add(_leaf_defect(stored.sequence, stored_leaf))
            self._frontier.append(leaf)
            self._check_heads_at(self._frontier.size)
        return not self.failed

    def take_rows(self, rows: Sequence[EntryRow], stored_leaves: Mapping[int, bytes]) -> bool:
        """`feed` for plain rows if every stored leaf matches; else take nothing, return False
        (feed them then, to find which). A signed head's defect is found here as in `feed`."""
        leaves = leaf_hashes(rows)
        if leaves != [stored_leaves.get(row[SEQUENCE] - 1) for row in rows]:
            return False
        fed = 0
        while fed < len(leaves):
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
        unreadable, next_unreadable = self._unreadable_heads, self._next_unreadable
        if next_unreadable < len(unreadable) and unreadable[next_unreadable] > size:
            at_most = min(at_most, unreadable[next_unreadable] - size)
        return at_most

    def finish(self) -> TreeVerification:
        size = self._frontier.size
        last = [
            _unreadable_head_defect(size + 1, unreadable)
            for unreadable in self._unreadable_heads[self._next_unreadable :]
        ]
        if self._next_head < len(self._heads):
            beyond = self._heads[-1]
            last.append(
                Defect(
                    size + 1,
                    f"missing: a tree head signed at {beyond.head.timestamp.isoformat()} covers "
                    f"{beyond.head.size} entries, the ledger holds {size}",
                )
            )
        recorded = self._recorded_frontier
        if (
            not self.failed
            and not last
            and recorded is not None
            and size > 0
            and (recorded.size != size or recorded.root() != self._frontier.root())
        ):
            # Checked only when all else holds: any other defect would explain it.
            last.append(
                Defect(size, "the ledger head's Merkle frontier does not match the entries")
            )
        defects = self._defects
        return TreeVerification(
            size=size,
            root=self._frontier.root(),
            heads_checked=self._next_head,
            last_matching_head=self._last_matching,
            first_bad=defects.first or (last[0] if last else None),
            defects=defects.listed(*last),
            defect_count=defects.count + len(last),
        )

    def _check_heads_at(self, size: int) -> None:
        unreadable = self._unreadable_heads
        while self._next_unreadable < len(unreadable) and unreadable[self._next_unreadable] <= size:
            self._defects.add(
                _unreadable_head_defect(max(size, 1), unreadable[self._next_unreadable])
            )
            self._next_unreadable += 1
        while self._next_head < len(self._heads) and self._heads[self._next_head].head.size == size:
            self._check_head(self._heads[self._next_head])
            self._next_head += 1

    def _check_head(self, signed: SignedTreeHead) -> None:
        head = signed.head
        if signed.key_id != self._key_id or not verifies(self._public_key, head, signed.signature):
            self._defects.add(
                Defect(
                    max(head.size, 1),
                    f"the tree head of size {head.size} signed at {head.timestamp.isoformat()} "
                    "does not verify with the ledger's public key",
                )
            )
        elif head.root == self._frontier.root():
            self._last_matching = signed
            self._diverged = False
        elif not self._diverged:
            # Later heads cover the same rewritten entries: this one defect says it for them.
            self._diverged = True
            matched = self._last_matching.head.size if self._last_matching else 0
            self._defects.add(
                Defect(
                    matched + 1,
                    f"the signed tree head no longer matches: the tree over entries "
                    f"1..{head.size} differs from the root signed at "
                    f"{head.timestamp.isoformat()}; entries 1..{matched} still match a signed "
                    f"tree head, so the rewrite starts after entry {matched}",
                )
            )


def _leaf_defect(sequence: int, stored_leaf: bytes | None) -> Defect:
    if stored_leaf is None:
        return Defect(sequence, "the entry's Merkle leaf hash is missing from the stored tree")
    return Defect(sequence, "the stored Merkle leaf hash does not match the entry")


def _unreadable_head_defect(sequence: int, size: int) -> Defect:
    return Defect(
        sequence,
        f"the tree head of size {size} cannot be checked: its signing time is not a "
        "representable timestamp (infinite, or beyond years 1 to 9999)",
    )
