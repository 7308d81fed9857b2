"""Queries of the ledger's Merkle tree: its stored nodes and its signed tree heads."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, case, select, text, tuple_
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
# Per level, how many of the perfect nodes below a bound are stored: one index range each.
COUNT_NODES = text(
    "SELECT wanted.level, wanted.count - (SELECT count(*) FROM audit.merkle_node AS node"
    " WHERE node.level = wanted.level AND node.index < wanted.count) AS missing"
    " FROM unnest(CAST(:levels AS smallint[]), CAST(:counts AS bigint[])) AS wanted(level, count)"
    " ORDER BY wanted.level"
)
FIRST_MISSING_NODE = text(
    "SELECT min(wanted.index) FROM generate_series(0, CAST(:count AS bigint) - 1) AS wanted(index)"
    " WHERE NOT EXISTS (SELECT 1 FROM audit.merkle_node AS node"
    " WHERE node.level = :level AND node.index = wanted.index)"
)


@dataclass(frozen=True)
class LatestHead:
    """The latest signed head's row; `signed` is None if its signing time cannot be read."""

    id: int
    size: int
    root: bytes
    key_id: str
    signed: SignedTreeHead | None


@dataclass(frozen=True)
class MissingNodes:
    count: int
    first: NodeId


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

    async def latest_head(self) -> LatestHead | None:
        """The head signed last, read even if its signing time no datetime can hold."""
        statement = (
            select(
                SignedTreeHeadRow.id,
                SignedTreeHeadRow.size,
                SignedTreeHeadRow.root,
                case(
                    (representable(SignedTreeHeadRow.signed_at), SignedTreeHeadRow.signed_at)
                ).label("signed_at"),
                SignedTreeHeadRow.signature,
                SignedTreeHeadRow.key_id,
            )
            .order_by(SignedTreeHeadRow.id.desc())
            .limit(1)
        )
        row = (await self.session.execute(statement)).one_or_none()
        if row is None:
            return None
        root, signed_at = bytes(row.root), row.signed_at
        return LatestHead(
            id=row.id,
            size=row.size,
            root=root,
            key_id=row.key_id,
            signed=None
            if signed_at is None
            else SignedTreeHead(
                TreeHead(row.size, root, signed_at), bytes(row.signature), row.key_id
            ),
        )

    async def missing_nodes(self, size: int) -> MissingNodes | None:
        """Which perfect nodes of the tree of `size` leaves are not stored, if any: each
        is stored when completed, so all are there unless rows were deleted."""
        levels = list(range(size.bit_length()))
        counts = [size >> level for level in levels]
        rows = await self.session.execute(COUNT_NODES, {"levels": levels, "counts": counts})
        missing = {row.level: row.missing for row in rows if row.missing}
        if not missing:
            return None
        level = min(missing)
        first = await self.session.scalar(
            FIRST_MISSING_NODE, {"level": level, "count": size >> level}
        )
        return MissingNodes(count=sum(missing.values()), first=NodeId(level, first))

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
