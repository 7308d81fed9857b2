"""Response bodies of the audit API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from services.audit.domain import DEFECTS_LISTED


class LedgerEntryRead(BaseModel):
    """One event as the ledger recorded it, with its place in the hash chain."""

    sequence: int = Field(description="Position in the ledger: 1, 2, 3... with no gaps.")
    type: str = Field(description="The event type, e.g. `change.requested`.")
    event_id: UUID
    subject: str = Field(description="What the event is about: a change id, for change events.")
    source: str = Field(description="The publishing service, e.g. `/changeward/intake`.")
    source_sequence: int = Field(description="The event's sequence per change and source.")
    actor: str
    time: datetime = Field(description="When the event happened, per its source.")
    data: dict[str, Any]
    hash: str = Field(description="SHA-256 (hex) of `prev_hash` and this entry's canonical JSON.")
    prev_hash: str = Field(description="The previous entry's hash; 64 zeros for the first.")
    recorded_at: datetime = Field(description="When the ledger recorded the event.")


class ChangeTimelineRead(BaseModel):
    change_id: UUID
    entries: list[LedgerEntryRead] = Field(
        description="Every ledger entry about the change, in ledger order; empty if none yet."
    )


class TreeHeadRead(BaseModel):
    """A signed tree head; `signature` covers the canonical message documented at /public-key."""

    size: int = Field(description="How many entries the tree covers.")
    root: str = Field(description="RFC 9162 Merkle tree hash of entries 1..size, lowercase hex.")
    timestamp: datetime
    signature: str = Field(description="Ed25519 signature, standard base64.")
    key_id: str = Field(description="First 16 hex digits of SHA-256 of the raw public key.")


class PublicKeyRead(BaseModel):
    algorithm: Literal["Ed25519"] = "Ed25519"
    key_id: str
    public_key: str = Field(description="The 32 raw bytes of the public key, standard base64.")
    pem: str = Field(description="The public key as PEM (SubjectPublicKeyInfo).")
    signed_message: str = Field(
        description="How a tree head's signed message is built from its fields."
    )


class InclusionProofRead(BaseModel):
    """RFC 9162 §2.1.3 inclusion proof of one entry in the tree of `tree_size` entries."""

    entry: int = Field(description="The entry's sequence; its leaf index is `entry - 1`.")
    leaf_index: int
    tree_size: int
    leaf_hash: str = Field(description="SHA-256(0x00 || entry's canonical JSON), hex.")
    audit_path: list[str] = Field(description="Sibling hashes, hex, from the leaf upwards.")


class ConsistencyProofRead(BaseModel):
    """RFC 9162 §2.1.4 proof that the tree of `to_size` entries extends that of `from_size`."""

    from_size: int
    to_size: int
    proof: list[str] = Field(description="Hashes, hex, in RFC 9162 order.")


class DefectRead(BaseModel):
    sequence: int = Field(description="The entry where the defect shows.")
    reason: str
    check: Literal["chain", "tree"] = Field(
        description="What found it: the hash chain and the row columns (`chain`), or the "
        "Merkle tree and its signed heads (`tree`)."
    )


class TreeVerificationRead(BaseModel):
    ok: bool
    size: int = Field(description="How many entries the rebuilt tree covers.")
    root: str = Field(description="The rebuilt tree's root, hex.")
    signed_heads_checked: int
    last_matching_head: TreeHeadRead | None = Field(
        default=None, description="The largest signed tree head the entries still match."
    )


class VerificationRead(BaseModel):
    ok: bool
    entries: int = Field(
        description="How many entries verified, from the first: all of them when ok, "
        "else those before `first_bad`."
    )
    head: str = Field(
        description="The hash of the last entry whose chain link verified (64 zeros if none)."
    )
    first_bad: DefectRead | None = Field(
        default=None,
        description="The first defect the chain found, else the tree's; present only when not ok.",
    )
    defects: list[DefectRead] = Field(
        default_factory=list,
        description=f"Every defect found, in ledger order, up to the first {DEFECTS_LISTED} "
        "(see `defect_count`): verification goes on past a defect, so one pass shows the "
        "extent of tampering. A tampered entry may show in both checks.",
    )
    defect_count: int = Field(
        default=0, description="How many defects were found in all; 0 when ok."
    )
    tree: TreeVerificationRead | None = Field(
        default=None, description="The Merkle tree and its signed heads, rebuilt from entries."
    )
