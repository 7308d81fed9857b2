"""Verifying the whole ledger: its hash chain, its Merkle tree and its signed tree heads."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.domain import ChainVerifier, Head, StoredEntry, Verification
from services.audit.repository import LedgerRepository
from services.audit.schemas import DefectRead, TreeVerificationRead, VerificationRead
from services.audit.signing import TreeHeadSigner
from services.audit.tree_check import TreeVerification, TreeVerifier
from services.audit.tree_heads import to_tree_head_read
from services.audit.tree_repository import TreeRepository

VERIFY_BATCH_SIZE = 5_000


async def verify_ledger(
    session: AsyncSession, signer: TreeHeadSigner, *, batch_size: int = VERIFY_BATCH_SIZE
) -> VerificationRead:
    """Recompute chain and tree from the entries, streamed in batches, in one snapshot.

    The chain pins down the first entry that no longer links; the signed tree heads catch
    what the chain cannot: a tail rewritten consistently by someone without the signing key.
    """
    ledger = LedgerRepository.from_session(session)
    trees = TreeRepository.from_session(session)
    await ledger.read_one_snapshot()
    tip = await ledger.recorded_tip()
    chain = ChainVerifier(tip.head if tip else Head.genesis())
    tree = TreeVerifier(
        await trees.heads_by_size(),
        signer.public_key,
        signer.key_id,
        tip.frontier if tip else None,
    )
    last_sequence = 0
    while batch := await ledger.entries_after(last_sequence, limit=batch_size):
        leaves = await trees.leaves_between(batch[0].sequence - 1, batch[-1].sequence - 1)
        # Hashing millions of entries is CPU work: in a thread, the event loop keeps serving.
        if not await asyncio.to_thread(_feed_both, chain, tree, batch, leaves):
            break
        last_sequence = batch[-1].sequence
    return to_verification_read(chain.finish(), tree.finish())


def _feed_both(
    chain: ChainVerifier, tree: TreeVerifier, batch: list[StoredEntry], leaves: dict[int, bytes]
) -> bool:
    chain_ok = chain.feed(batch)
    tree_ok = tree.feed(batch, leaves)
    return chain_ok and tree_ok


def to_verification_read(chain: Verification, tree: TreeVerification) -> VerificationRead:
    # The chain names the exact entry; a signed head only bounds where a rewrite began.
    first_bad = chain.first_bad or tree.first_bad
    last = tree.last_matching_head
    return VerificationRead(
        ok=first_bad is None,
        entries=chain.entries if first_bad is None else first_bad.sequence - 1,
        head=chain.head,
        first_bad=None if first_bad is None else DefectRead(**vars(first_bad)),
        tree=TreeVerificationRead(
            ok=tree.first_bad is None,
            size=tree.size,
            root=tree.root.hex(),
            signed_heads_checked=tree.heads_checked,
            last_matching_head=None if last is None else to_tree_head_read(last),
        ),
    )
