"""Verifying the whole ledger: its hash chain, its Merkle tree and its signed tree heads."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.domain import DEFECTS_LISTED, Head, StoredEntry, Verification
from services.audit.repository import LedgerRepository
from services.audit.row_check import SEQUENCE, EntryRow, RowChainVerifier
from services.audit.schemas import DefectRead, TreeVerificationRead, VerificationRead
from services.audit.signing import TreeHeadSigner
from services.audit.tree_check import TreeVerification, TreeVerifier
from services.audit.tree_heads import to_tree_head_read
from services.audit.tree_repository import TreeRepository

VERIFY_BATCH_SIZE = 10_000
# Rows checked between two turns of the event loop, about a millisecond of hashing: each
# turn reads up to 256 KiB of the next batch, more rows than a slice holds.
CHECK_SLICE = 250


async def verify_ledger(
    session: AsyncSession, signer: TreeHeadSigner, *, batch_size: int = VERIFY_BATCH_SIZE
) -> VerificationRead:
    """Recompute chain and tree from the entries, streamed in batches, in one snapshot.

    The chain pins down each entry that no longer links; the signed tree heads catch what
    the chain cannot: a tail rewritten consistently by someone without the signing key.
    Both go on to the end, past any defect, so one pass shows the extent of tampering.
    """
    ledger = LedgerRepository.from_session(session)
    trees = TreeRepository.from_session(session)
    await ledger.read_one_snapshot()
    tip = await ledger.recorded_tip()
    chain = RowChainVerifier(tip.head if tip else Head.genesis())
    tree = TreeVerifier(
        await trees.heads_by_size(),
        signer.public_key,
        signer.key_id,
        tip.frontier if tip else None,
        unreadable_heads=await trees.sizes_of_unreadable_heads(),
    )
    batches = _Batches(ledger, trees, batch_size)
    try:
        while True:
            batch = await batches.next()
            if not batch.rows:
                break
            for start in range(0, len(batch.rows), CHECK_SLICE):
                await _check(chain, tree, batch, start, batches)
                # Lets the event loop serve others, and read the next batch as it arrives.
                await asyncio.sleep(0)
    finally:
        await batches.close()
    return to_verification_read(chain.finish(), tree.finish())


@dataclass
class _Batch:
    after: int
    rows: list[EntryRow]
    leaves: dict[int, bytes]


class _Batches:
    """The ledger's entries in batches, each read while the one before is checked:
    PostgreSQL and Python side by side."""

    def __init__(self, ledger: LedgerRepository, trees: TreeRepository, size: int) -> None:
        self._ledger = ledger
        self._trees = trees
        # Short batches first, each twice the one before: checking starts at once, and
        # reading a batch takes PostgreSQL about as long as checking the one before.
        self._size = min(size, 4 * CHECK_SLICE)
        self._largest = size
        self._reading = asyncio.create_task(self._read(0, self._size))

    async def next(self) -> _Batch:
        batch = await self._reading
        if batch.rows:
            self._size = min(2 * self._size, self._largest)
            self._reading = asyncio.create_task(self._read(batch.rows[-1][SEQUENCE], self._size))
        return batch

    async def entries(self, after: int, limit: int) -> list[StoredEntry]:
        """The same entries as objects, once the batch being read is in."""
        await self.close()  # one query at a time on a connection
        return await self._ledger.entries_after(after, limit=limit)

    async def close(self) -> None:
        # Awaited, never cancelled: cancelling a query would abort the transaction.
        await asyncio.wait([self._reading])

    async def _read(self, after: int, limit: int) -> _Batch:
        rows = await self._ledger.rows_after(after, limit=limit)
        if not rows:
            return _Batch(after, rows, {})
        first, last = rows[0][SEQUENCE], rows[-1][SEQUENCE]
        return _Batch(after, rows, await self._trees.leaves_between(first - 1, last - 1))


async def _check(
    chain: RowChainVerifier, tree: TreeVerifier, batch: _Batch, start: int, batches: _Batches
) -> None:
    """Check the slice of `batch` from `start` on."""
    rows = batch.rows[start : start + CHECK_SLICE]
    chain_took = chain.take_rows(rows)
    tree_took = tree.take_rows(rows, batch.leaves)
    if chain_took and tree_took:
        return
    # Something is amiss here: feed it entry by entry to find what.
    after = batch.rows[start - 1][SEQUENCE] if start else batch.after
    entries = await batches.entries(after, len(rows))
    if not chain_took:
        chain.feed(entries)
    if not tree_took:
        tree.feed(entries, batch.leaves)


def to_verification_read(chain: Verification, tree: TreeVerification) -> VerificationRead:
    # The chain names the exact entry; a signed head only bounds where a rewrite began.
    first_bad = chain.first_bad or tree.first_bad
    last = tree.last_matching_head
    found = [DefectRead(**vars(defect), check="chain") for defect in chain.defects]
    found += [DefectRead(**vars(defect), check="tree") for defect in tree.defects]
    return VerificationRead(
        ok=first_bad is None,
        entries=chain.entries if first_bad is None else first_bad.sequence - 1,
        head=chain.head,
        first_bad=None
        if first_bad is None
        else DefectRead(**vars(first_bad), check="chain" if chain.first_bad else "tree"),
        defects=sorted(found, key=lambda defect: defect.sequence)[:DEFECTS_LISTED],
        defect_count=chain.defect_count + tree.defect_count,
        tree=TreeVerificationRead(
            ok=tree.first_bad is None,
            size=tree.size,
            root=tree.root.hex(),
            signed_heads_checked=tree.heads_checked,
            last_matching_head=None if last is None else to_tree_head_read(last),
        ),
    )
