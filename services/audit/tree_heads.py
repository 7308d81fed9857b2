"""Signed tree heads and proofs: issuing heads, now and every interval, and RFC 9162 proofs."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.domain import Head
from services.audit.errors import InvalidQueryParameter, LedgerInconsistent
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
from services.audit.signing import SignedTreeHead, TreeHead, TreeHeadSigner, load_signer
from services.audit.tree_repository import TreeRepository
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
    latest = await TreeRepository.from_session(session).latest_head()
    if latest is not None and latest.head.size == tip.head.size and latest.key_id == signer.key_id:
        return latest
    return await _sign(session, signer, tip, latest)


async def sign_if_grown(session: AsyncSession, signer: TreeHeadSigner) -> SignedTreeHead | None:
    """Sign a head if entries arrived since the latest one; None if there is nothing new."""
    tip = await _tip(session)
    latest = await TreeRepository.from_session(session).latest_head()
    if latest is not None and latest.head.size >= tip.head.size:
        return None
    if latest is None and tip.head.size == 0:
        return None
    return await _sign(session, signer, tip, latest)


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
    nodes = await _stored_nodes(session, nodes_needed(spans) | {leaf})
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
    nodes = await _stored_nodes(session, nodes_needed(spans))
    return ConsistencyProofRead(
        from_size=from_size, to_size=to_size, proof=[h.hex() for h in proof_from(spans, nodes)]
    )


async def _stored_nodes(session: AsyncSession, wanted: set[NodeId]) -> dict[NodeId, bytes]:
    nodes = await TreeRepository.from_session(session).nodes(wanted)
    missing = wanted - nodes.keys()
    if missing:
        raise LedgerInconsistent(
            f"{len(missing)} Merkle nodes are missing, e.g. {min(missing)}; "
            "run GET /v1/audit/verify."
        )
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
