"""The ledger's Merkle tree, as RFC 9162 (Certificate Transparency 2.0) defines it; no I/O.

Leaf n (0-based) is entry n + 1's canonical JSON text, UTF-8 encoded:

    leaf_hash = SHA-256(0x00 || entry)        node_hash = SHA-256(0x01 || left || right)

and the tree over n leaves splits at the largest power of two below n (RFC 9162 §2.1.1).
Every hash of a *perfect* subtree (2^level leaves starting at index * 2^level) is final
once its last leaf arrives, so the ledger stores those nodes as they are completed and
keeps the "frontier" (the roots of the perfect subtrees that make up the tree, largest
first) to compute the current root in O(log n) per append. Any proof is then built from
O(log² n) stored perfect nodes; `*_plan` functions name the nodes, `*_from` assemble.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


@dataclass(frozen=True, order=True)
class NodeId:
    """The perfect subtree of 2**level leaves starting at leaf index * 2**level."""

    level: int
    index: int


@dataclass(frozen=True)
class Node:
    id: NodeId
    hash: bytes


@dataclass
class Frontier:
    """The roots of the perfect subtrees covering the first `size` leaves, largest first."""

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    def append(self, leaf: bytes) -> list[Node]:
        """Add one leaf hash; returns the perfect nodes it completes, the leaf itself first."""
        index = self.size
        completed = [Node(NodeId(0, index), leaf)]
        current, level = leaf, 0
        while index & 1:
            current = node_hash(self.hashes.pop(), current)
            level, index = level + 1, index >> 1
            completed.append(Node(NodeId(level, index), current))
        self.hashes.append(current)
        self.size += 1
        return completed

    def extend(self, leaves: Iterable[bytes]) -> None:
        """`append` each of `leaves`, without naming the nodes they complete (no objects)."""
        hashes, size, sha256 = self.hashes, self.size, hashlib.sha256
        for leaf in leaves:
            current, index = leaf, size
            while index & 1:
                current = sha256(b"\x01" + hashes.pop() + current).digest()
                index >>= 1
            hashes.append(current)
            size += 1
        self.size = size

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        root = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            root = node_hash(left, root)
        return root


def root_of(leaves: Iterable[bytes]) -> bytes:
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


def _split(size: int) -> int:
    """The largest power of two strictly below `size` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


@dataclass(frozen=True)
class Span:
    """The leaves [start, end) of a subtree the RFC's recursion visits."""

    start: int
    end: int

    def perfect_nodes(self) -> list[NodeId]:
        """The stored perfect nodes whose hashes make up this span's MTH, left to right."""
        size = self.end - self.start
        if size & (size - 1) == 0:
            level = size.bit_length() - 1
            return [NodeId(level, self.start >> level)]
        k = _split(size)
        return [
            *Span(self.start, self.start + k).perfect_nodes(),
            *Span(self.start + k, self.end).perfect_nodes(),
        ]

    def hash_from(self, nodes: Mapping[NodeId, bytes]) -> bytes:
        size = self.end - self.start
        if size & (size - 1) == 0:
            level = size.bit_length() - 1
            return nodes[NodeId(level, self.start >> level)]
        k = _split(size)
        left = Span(self.start, self.start + k).hash_from(nodes)
        return node_hash(left, Span(self.start + k, self.end).hash_from(nodes))


class InvalidProofRequest(ValueError):
    """The sizes or indexes asked for do not name a proof."""


def inclusion_spans(index: int, size: int) -> list[Span]:
    """RFC 9162 §2.1.3.1 PATH(index, D[0:size]), as the spans whose hashes form it."""
    if not 0 <= index < size:
        raise InvalidProofRequest(f"leaf index {index} is not in a tree of {size} leaves")
    spans: list[Span] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            spans.append(Span(start + k, end))
            end = start + k
        else:
            spans.append(Span(start, start + k))
            start = start + k
    return spans[::-1]


def consistency_spans(old_size: int, new_size: int) -> list[Span]:
    """RFC 9162 §2.1.4.1 PROOF(old_size, D[0:new_size]), as spans; empty if nothing to prove."""
    if not 0 <= old_size <= new_size:
        raise InvalidProofRequest(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    spans: list[Span] = []
    start, end, complete = 0, new_size, True
    while end != old_size:
        k = _split(end - start)
        if old_size - start <= k:
            spans.append(Span(start + k, end))
            end = start + k
        else:
            spans.append(Span(start, start + k))
            start = start + k
            complete = False
    if not complete:
        spans.append(Span(start, end))
    return spans[::-1]


def nodes_needed(spans: Iterable[Span]) -> set[NodeId]:
    return {node for span in spans for node in span.perfect_nodes()}


def proof_from(spans: Sequence[Span], nodes: Mapping[NodeId, bytes]) -> list[bytes]:
    return [span.hash_from(nodes) for span in spans]


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2), for clients of the ledger ---


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    if not 0 <= index < size:
        return False
    fn, sn, result = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and result == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first, second = path[0], path[0]
    for hash_ in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first, second = node_hash(hash_, first), node_hash(hash_, second)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            second = node_hash(second, hash_)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and first == old_root and second == new_root
