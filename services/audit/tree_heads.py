"""Signed tree heads and proofs: issuing heads, now and every interval, and RFC 9162 proofs."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.domain import Head
from services.audit.errors import (
    InvalidQueryParameter,
    LedgerInconsistent,
    TreeHeadTampered,
    TreeNodesMissing,
)
from services.audit.merkle import (
    Frontier,
    NodeId,
    consistency_spans,
    inclusion_spans,
    nodes_needed,
    proof_from,
    verify_consistency,
)
from services.audit.models import tables
from services.audit.repository import LedgerRepository, LedgerTip
from services.audit.schemas import ConsistencyProofRead, InclusionProofRead, TreeHeadRead
from services.audit.signing import (
    SignedTreeHead,
    TreeHead,
    TreeHeadSigner,
    load_signer,
    verifies,
)
from services.audit.tree_repository import LatestHead, TreeRepository
from shared.contracts import EventType, TreeHeadPublished
from shared.db import Database
from shared.outbox import record_event
from shared.settings import Settings

log = structlog.get_logger(__name__)

# The subject (and Kafka key) of every tree-head event: one ordered stream of heads.
TREE_HEAD_SUBJECT = "audit-ledger"
SIGNER_ACTOR = "changeward-audit"


async def current_tree_head(session: AsyncSession, signer: TreeHeadSigner) -> SignedTreeHead:
    """The latest signed head if it covers the whole ledger, else one signed now."""
    tip = await _tip(session)
    latest = _unaltered(await TreeRepository.from_session(session).latest_head(), signer)
    if latest is not None and latest.head.size == tip.head.size and latest.key_id == signer.key_id:
        return latest
    return await _sign(session, signer, tip, latest)


async def sign_if_grown(session: AsyncSession, signer: TreeHeadSigner) -> SignedTreeHead | None:
    """Sign a head if entries arrived since the latest one; None if there is nothing new."""
    tip = await _tip(session)
    latest = await TreeRepository.from_session(session).latest_head()
    # Checked only when there is something to sign: an idle signer repeats no refusal.
    if latest is not None and latest.size >= tip.head.size:
        return None
    if latest is None and tip.head.size == 0:
        return None
    return await _sign(session, signer, tip, _unaltered(latest, signer))


def _unaltered(latest: LatestHead | None, signer: TreeHeadSigner) -> SignedTreeHead | None:
    """The latest signed head; TreeHeadTampered if its row was altered.

    Never skipped for an older one: a new head would then look like the ledger's latest
    word while the one it follows can no longer be checked, its root perhaps forged too.
    Signing waits until the row is restored, as it waits for a ledger that no longer
    extends its last head; entries are still recorded meanwhile.
    """
    if latest is None:
        return None
    signed = latest.signed
    if signed is None:
        raise _altered(
            latest,
            "its signing time is not a representable timestamp "
            "(infinite, or beyond years 1 to 9999)",
        )
    # A head of an earlier key cannot be checked here; a new head is then signed over it
    # only if the ledger extends its root (see _require_extension).
    if signed.key_id == signer.key_id and not verifies(
        signer.public_key, signed.head, signed.signature
    ):
        raise _altered(latest, "its signature does not verify with the ledger's public key")
    return signed


def _altered(latest: LatestHead, defect: str) -> TreeHeadTampered:
    log.error(
        "refusing to serve or sign over an altered tree head",
        tree_head_id=latest.id,
        size=latest.size,
        defect=defect,
    )
    return TreeHeadTampered(
        f"The signed tree head #{latest.id} (size {latest.size}, root {latest.root.hex()}) "
        f"was altered in the database: {defect}. No tree head is served or signed over it "
        "until it is restored (witnesses and the audit.tree_head_published event hold the "
        "signed original); run GET /v1/audit/verify to see what else changed.",
        tree_head={
            "id": latest.id,
            "size": latest.size,
            "root": latest.root.hex(),
            "key_id": latest.key_id,
        },
    )


async def require_stored_tree(session: AsyncSession, size: int) -> None:
    """TreeNodesMissing unless every node a proof in the tree of `size` entries may need
    is stored."""
    missing = await TreeRepository.from_session(session).missing_nodes(size)
    if missing is not None:
        raise nodes_missing(size, missing.count, missing.first)


def nodes_missing(size: int, count: int, first: NodeId) -> TreeNodesMissing:
    span = 1 << first.level
    entries = f"{first.index * span + 1}..{(first.index + 1) * span}"
    return TreeNodesMissing(
        f"{count} stored Merkle node(s) of the tree of {size} entries are missing, e.g. "
        f"level {first.level} index {first.index} (entries {entries}): rows were deleted, "
        "and inclusion proofs cannot be built; run GET /v1/audit/verify.",
        missing_nodes=count,
        first_missing={"level": first.level, "index": first.index},
    )


async def _sign(
    session: AsyncSession, signer: TreeHeadSigner, tip: LedgerTip, latest: SignedTreeHead | None
) -> SignedTreeHead:
    root = tip.frontier.root()
    if latest is not None:
        await _require_extension(session, latest, tip.head.size, root)
    await LedgerRepository.from_session(session).act_as_writer()
    signed = signer.sign(TreeHead(tip.head.size, root, datetime.now(UTC)))
    await TreeRepository.from_session(session).add_head(signed)
    await record_event(
        session,
        tables,
        EventType.TREE_HEAD_PUBLISHED,
        subject=TREE_HEAD_SUBJECT,
        data=TreeHeadPublished(**to_tree_head_read(signed).model_dump()),
        actor=SIGNER_ACTOR,
    )
    return signed


async def _require_extension(
    session: AsyncSession, latest: SignedTreeHead, size: int, root: bytes
) -> None:
    """Never sign a tree that does not extend the last signed one: that would bless tampering."""
    old = latest.head
    proof = None
    if old.size <= size:
        spans = consistency_spans(old.size, size)
        nodes = await TreeRepository.from_session(session).nodes(nodes_needed(spans))
        if nodes.keys() >= nodes_needed(spans):
            proof = proof_from(spans, nodes)
    if proof is None or not verify_consistency(old.size, size, old.root, root, proof):
        log.error("refusing to sign a tree head", signed_size=old.size, ledger_size=size)
        raise LedgerInconsistent(
            f"The ledger ({size} entries) does not extend the tree head signed at "
            f"{old.timestamp.isoformat()} ({old.size} entries); run GET /v1/audit/verify."
        )


async def run_tree_head_signer(database: Database, settings: Settings) -> None:
    """Sign a tree head every interval while entries arrive; outlives any failure."""
    signer = load_signer(settings.audit_signing_key, settings.data_dir)
    while True:
        try:
            async with database.sessionmaker() as session, session.begin():
                await sign_if_grown(session, signer)
        except LedgerInconsistent:
            pass  # logged where detected; signing resumes only once the ledger is repaired
        except Exception as error:  # noqa: BLE001 - the signer must outlive any outage
            log.warning("tree head signing failed; will retry", error=repr(error))
        await asyncio.sleep(settings.tree_head_interval_seconds)


async def inclusion_proof(
    session: AsyncSession, entry: int, size: int | None
) -> InclusionProofRead:
    ledger_size = (await _tip(session)).head.size
    tree_size = ledger_size if size is None else size
    if tree_size > ledger_size:
        raise InvalidQueryParameter("size", f"the ledger holds {ledger_size} entries")
    if not 1 <= entry <= tree_size:
        raise InvalidQueryParameter("entry", f"must be between 1 and the tree size {tree_size}")
    spans = inclusion_spans(entry - 1, tree_size)
    leaf = NodeId(0, entry - 1)
    nodes = await _stored_nodes(session, tree_size, nodes_needed(spans) | {leaf})
    return InclusionProofRead(
        entry=entry,
        leaf_index=entry - 1,
        tree_size=tree_size,
        leaf_hash=nodes[leaf].hex(),
        audit_path=[h.hex() for h in proof_from(spans, nodes)],
    )


async def consistency_proof(
    session: AsyncSession, from_size: int, to_size: int
) -> ConsistencyProofRead:
    ledger_size = (await _tip(session)).head.size
    if to_size > ledger_size:
        raise InvalidQueryParameter("to", f"the ledger holds {ledger_size} entries")
    if from_size > to_size:
        raise InvalidQueryParameter("from", "must not exceed `to`")
    spans = consistency_spans(from_size, to_size)
    nodes = await _stored_nodes(session, to_size, nodes_needed(spans))
    return ConsistencyProofRead(
        from_size=from_size, to_size=to_size, proof=[h.hex() for h in proof_from(spans, nodes)]
    )


async def _stored_nodes(
    session: AsyncSession, size: int, wanted: set[NodeId]
) -> dict[NodeId, bytes]:
    nodes = await TreeRepository.from_session(session).nodes(wanted)
    missing = wanted - nodes.keys()
    if missing:
        raise nodes_missing(size, len(missing), min(missing))
    return nodes


async def _tip(session: AsyncSession) -> LedgerTip:
    tip = await LedgerRepository.from_session(session).recorded_tip()
    return tip or LedgerTip(Head.genesis(), Frontier())


def to_tree_head_read(signed: SignedTreeHead) -> TreeHeadRead:
    return TreeHeadRead(
        size=signed.head.size,
        root=signed.head.root.hex(),
        timestamp=signed.head.timestamp,
        signature=base64.b64encode(signed.signature).decode("ascii"),
        key_id=signed.key_id,
    )
