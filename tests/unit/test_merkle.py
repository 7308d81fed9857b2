"""The ledger's RFC 9162 Merkle tree: incremental roots, proofs from stored nodes, verification."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from services.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    NodeId,
    consistency_spans,
    inclusion_spans,
    leaf_hash,
    nodes_needed,
    proof_from,
    root_of,
    verify_consistency,
    verify_inclusion,
)


def reference_root(data: list[bytes]) -> bytes:
    """MTH of RFC 9162 §2.1.1, written out recursively."""
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1 << ((len(data) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + reference_root(data[:k]) + reference_root(data[k:])).digest()


def build(size: int) -> tuple[list[bytes], Frontier, dict[NodeId, bytes]]:
    data = [f"entry {i}".encode() for i in range(size)]
    frontier, nodes = Frontier(), {}
    for item in data:
        nodes.update({node.id: node.hash for node in frontier.append(leaf_hash(item))})
    return data, frontier, nodes


def test_rfc_6962_test_vector_for_the_empty_tree() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_of([]) == EMPTY_ROOT


@given(st.integers(0, 140))
def test_the_incremental_root_is_the_rfc_root(size: int) -> None:
    data, frontier, _ = build(size)
    assert frontier.root() == reference_root(data)
    assert len(frontier.hashes) == bin(size).count("1")


@given(st.integers(1, 140), st.data())
def test_inclusion_proofs_from_stored_nodes_verify(size: int, drawn: st.DataObject) -> None:
    data, frontier, nodes = build(size)
    index = drawn.draw(st.integers(0, size - 1))
    spans = inclusion_spans(index, size)
    assert nodes_needed(spans) <= nodes.keys()
    proof = proof_from(spans, nodes)
    assert len(proof) <= size.bit_length()
    leaf = leaf_hash(data[index])
    assert verify_inclusion(leaf, index, size, proof, frontier.root())
    assert not verify_inclusion(leaf_hash(b"forged"), index, size, proof, frontier.root())
    if size > 1:
        assert not verify_inclusion(leaf, (index + 1) % size, size, proof, frontier.root())


@given(st.integers(1, 140), st.data())
def test_consistency_proofs_from_stored_nodes_verify(size: int, drawn: st.DataObject) -> None:
    data, frontier, nodes = build(size)
    old = drawn.draw(st.integers(0, size))
    proof = proof_from(consistency_spans(old, size), nodes)
    old_root = reference_root(data[:old])
    assert verify_consistency(old, size, old_root, frontier.root(), proof)
    if 0 < old < size:
        assert not verify_consistency(old, size, reference_root([b"x"]), frontier.root(), proof)
        assert not verify_consistency(old, size, old_root, reference_root([b"x"]), proof)


def test_proofs_of_sizes_out_of_range_are_refused() -> None:
    import pytest

    from services.audit.merkle import InvalidProofRequest

    with pytest.raises(InvalidProofRequest):
        inclusion_spans(3, 3)
    with pytest.raises(InvalidProofRequest):
        consistency_spans(4, 3)
    assert not verify_inclusion(leaf_hash(b"a"), 0, 0, [], EMPTY_ROOT)
    assert not verify_consistency(2, 1, EMPTY_ROOT, EMPTY_ROOT, [])
