"""Queries of the ledger's Merkle tree: its stored nodes and its signed tree heads."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Row, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit.merkle import NodeId
from services.audit.models import MerkleNode, SignedTreeHeadRow
from services.audit.repository import driver_connection, representable
from services.audit.signing import SignedTreeHead, TreeHead

SELECT_LEAVES = (
    "SELECT index, hash FROM audit.merkle_node WHERE level = 0 AND index BETWEEN $1 AND $2"
)
# Keeps each IN list well below PostgreSQL's bind-parameter limit.
NODE_LOOKUP_CHUNK = 5_000


class TreeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> TreeRepository:
        return cls(session)

    async def nodes(self, wanted: Collection[NodeId]) -> dict[NodeId, bytes]:
        """The stored hashes of `wanted`; a node not stored yet is simply absent."""
        found: dict[NodeId, bytes] = {}
        ordered = sorted(wanted)
        for start in range(0, len(ordered), NODE_LOOKUP_CHUNK):
            chunk = ordered[start : start + NODE_LOOKUP_CHUNK]
            rows = await self.session.execute(
                select(MerkleNode.level, MerkleNode.index.label("position"), MerkleNode.hash).where(
                    tuple_(MerkleNode.level, MerkleNode.index).in_(
                        [(node.level, node.index) for node in chunk]
                    )
                )
            )
            found.update({NodeId(row.level, row.position): bytes(row.hash) for row in rows})
        return found

    async def leaves_between(self, first_index: int, last_index: int) -> dict[int, bytes]:
        """Stored leaf hashes by leaf index, for first_index <= index <= last_index."""
        driver = await driver_connection(self.session)
        rows = await driver.fetch(SELECT_LEAVES, first_index, last_index)
        return dict(rows)

    async def add_head(self, signed: SignedTreeHead) -> None:
        await self.session.execute(
            insert(SignedTreeHeadRow).values(
                size=signed.head.size,
                root=signed.head.root,
                signed_at=signed.head.timestamp,
                signature=signed.signature,
                key_id=signed.key_id,
            )
        )

    async def latest_head(self) -> SignedTreeHead | None:
        statement = _HEADS.order_by(SignedTreeHeadRow.id.desc()).limit(1)
        row = (await self.session.execute(statement)).one_or_none()
        return None if row is None else _to_signed(row)

    async def head_of_size(self, size: int) -> SignedTreeHead | None:
        """The latest head signed at exactly `size`, if any."""
        statement = (
            _HEADS.where(SignedTreeHeadRow.size == size)
            .order_by(SignedTreeHeadRow.id.desc())
            .limit(1)
        )
        row = (await self.session.execute(statement)).one_or_none()
        return None if row is None else _to_signed(row)

    async def heads_by_size(self) -> list[SignedTreeHead]:
        """Every head the ledger signed, in size order (then issue order), but those of
        `sizes_of_unreadable_heads`."""
        statement = _HEADS.where(representable(SignedTreeHeadRow.signed_at)).order_by(
            SignedTreeHeadRow.size, SignedTreeHeadRow.id
        )
        return [_to_signed(row) for row in await self.session.execute(statement)]

    async def sizes_of_unreadable_heads(self) -> list[int]:
        """The sizes of heads whose signing time no datetime can hold: rewritten ones."""
        statement = select(SignedTreeHeadRow.size).where(
            ~representable(SignedTreeHeadRow.signed_at)
        )
        return list(await self.session.scalars(statement))


_HEADS = select(
    SignedTreeHeadRow.size,
    SignedTreeHeadRow.root,
    SignedTreeHeadRow.signed_at,
    SignedTreeHeadRow.signature,
    SignedTreeHeadRow.key_id,
)


def _to_signed(row: Row[int, bytes, datetime, bytes, str]) -> SignedTreeHead:
    head = TreeHead(size=row.size, root=bytes(row.root), timestamp=row.signed_at)
    return SignedTreeHead(head=head, signature=bytes(row.signature), key_id=row.key_id)
