"""A full verification's batch path: plain rows taken whole only when entry-by-entry finds
nothing, and the same outcome as entry by entry whatever was tampered."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from services.audit.domain import (
    GENESIS_HASH,
    ChainVerifier,
    Defect,
    Head,
    StoredEntry,
    Verification,
    chain_hash,
    seal,
)
from services.audit.merkle import Frontier, leaf_hash
from services.audit.row_check import (
    UNREPRESENTABLE_TIME,
    RowChainVerifier,
    columns_text,
    row_of,
)
from services.audit.signing import SignedTreeHead, TreeHead, TreeHeadSigner
from services.audit.tree_check import TreeVerification, TreeVerifier
from tests.unit.test_audit_chain import (
    build_chain,
    chain_and_index,
    event,
    head_of,
    other_hex,
    payloads,
    renumbered,
)

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
SIGNER = TreeHeadSigner(Ed25519PrivateKey.generate())
STRANGER = TreeHeadSigner(Ed25519PrivateKey.generate())

cuts = st.lists(st.integers(0, 9), max_size=4).map(sorted)


def batches(entries: list[StoredEntry], at: list[int]) -> list[list[StoredEntry]]:
    bounds = [0, *(min(cut, len(entries)) for cut in at), len(entries)]
    return [entries[start:end] for start, end in zip(bounds, bounds[1:], strict=False)]


def by_batches(
    entries: list[StoredEntry], recorded: Head | None, at: list[int]
) -> tuple[Verification, list[bool]]:
    """What verification does: each batch as rows, entry by entry only if not taken."""
    verifier = RowChainVerifier(recorded)
    taken = []
    for batch in batches(entries, at):
        taken.append(verifier.take_rows([row_of(entry) for entry in batch]))
        if not taken[-1]:
            verifier.feed(batch)
    return verifier.finish(), taken


def one_by_one(entries: list[StoredEntry], recorded: Head | None) -> Verification:
    verifier = ChainVerifier(recorded)
    verifier.feed(entries)
    return verifier.finish()


def resealed(entry: StoredEntry, text: str, previous: str) -> StoredEntry:
    """`entry` with a new text, chained correctly, its columns as stored before."""
    return dataclasses.replace(
        entry, entry=text, prev_hash=previous, hash=chain_hash(previous, text)
    )


# --- the chain ---


@given(st.lists(payloads, min_size=1, max_size=8).map(build_chain), cuts)
def test_an_untouched_chain_is_taken_batch_by_batch(
    chain: list[StoredEntry], at: list[int]
) -> None:
    for recorded in (None, head_of(chain)):
        result, taken = by_batches(chain, recorded, at)
        assert all(taken)
        assert result == one_by_one(chain, recorded)
        assert result.ok


TAMPERS = [
    "entry byte",
    "hash",
    "prev_hash",
    "delete",
    "swap",
    "sequence",
    "event_id",
    "event_type",
    "subject",
    "source",
    "source_sequence",
    "recorded_at",
    "actor",
    "head",
]


def tampered(chain: list[StoredEntry], k: int, how: str) -> tuple[list[StoredEntry], Head]:
    entries, recorded, target = list(chain), head_of(chain), chain[k]
    columns = target.columns
    assert columns is not None
    if how == "entry byte":
        entries[k] = dataclasses.replace(target, entry=target.entry.replace("{", "[", 1))
    elif how == "hash":
        entries[k] = dataclasses.replace(target, hash=other_hex(target.hash, 7))
    elif how == "prev_hash":
        entries[k] = dataclasses.replace(target, prev_hash=other_hex(target.prev_hash, 7))
    elif how == "delete":
        entries = renumbered(chain[:k] + chain[k + 1 :]) if len(chain) > 1 else []
    elif how == "swap":
        j = (k + 1) % len(chain)
        entries[k], entries[j] = chain[j], chain[k]
    elif how == "sequence":
        entries[k] = dataclasses.replace(target, sequence=target.sequence + 1)
    elif how == "head":
        recorded = Head(recorded.size, other_hex(recorded.hash, 0))
    else:
        other: Any = {
            "event_id": UUID(int=7),
            "event_type": "change.approved",
            "subject": "another-change",
            "source": "/changeward/review",
            "source_sequence": columns.source_sequence + 1,
            "recorded_at": columns.recorded_at.replace(microsecond=1),
            "actor": "mallory",
        }[how]
        entries[k] = dataclasses.replace(
            target, columns=dataclasses.replace(columns, **{how: other})
        )
    return entries, recorded


@given(chain_and_index(), st.sampled_from(TAMPERS), cuts)
def test_any_tampering_ends_as_entry_by_entry_does(
    drawn: tuple[list[StoredEntry], int], how: str, at: list[int]
) -> None:
    chain, k = drawn
    entries, recorded = tampered(chain, k, how)
    for head in (None, recorded):
        expected = one_by_one(entries, head)
        assert by_batches(entries, head, at)[0] == expected
    if (entries, recorded) != (chain, head_of(chain)):  # swapping a lone entry changes nothing
        assert not one_by_one(entries, recorded).ok


@given(chain_and_index(), cuts)
def test_an_entry_read_without_its_columns_is_its_defect(
    drawn: tuple[list[StoredEntry], int], at: list[int]
) -> None:
    """The repository reads a time no datetime can hold as no columns, the query as NULL."""
    chain, k = drawn
    entries = list(chain)
    entries[k] = dataclasses.replace(chain[k], columns=None)
    assert row_of(entries[k])[4] is None
    for recorded in (None, head_of(chain)):
        result, _ = by_batches(entries, recorded, at)
        assert result.first_bad == Defect(k + 1, UNREPRESENTABLE_TIME)
        assert result.entries == k


def test_an_earlier_defect_stays_the_first_beside_an_entry_without_columns() -> None:
    chain = build_chain([{"n": n} for n in range(6)])
    columns = chain[1].columns
    assert columns is not None
    entries = list(chain)
    entries[1] = dataclasses.replace(
        chain[1], columns=dataclasses.replace(columns, actor="mallory")
    )
    entries[4] = dataclasses.replace(chain[4], columns=None)
    result, _ = by_batches(entries, head_of(chain), [3])
    assert result.first_bad == Defect(2, "row columns that differ from the entry: actor")


def test_columns_that_hide_the_separator_are_not_taken() -> None:
    """Subject "a<US>b" and source "c" joined read like subject "a" and source "b<US>c"."""
    entry = seal(Head.genesis(), {**event({}), "subject": "a\x1fb", "source": "c"}, T0)
    assert entry.columns is not None
    shifted = dataclasses.replace(
        entry, columns=dataclasses.replace(entry.columns, subject="a", source="b\x1fc")
    )
    assert columns_text(shifted) == columns_text(entry)
    assert not RowChainVerifier(entry.head).take_rows([row_of(shifted)])
    result, _ = by_batches([shifted], entry.head, [])
    assert result == one_by_one([shifted], entry.head)
    assert result.first_bad is not None
    assert "subject, source" in result.first_bad.reason


def test_entries_only_entry_by_entry_accepts_verify_all_the_same() -> None:
    """A source sequence written as a string, an upper-case id: fine for `columns_of`;
    the batch path declines them, entry by entry takes them, the outcome is the same."""
    base = seal(Head.genesis(), event({"k": "v"}), T0)
    assert base.columns is not None
    event_id = str(base.columns.event_id)
    for text in (
        base.entry.replace('"sequence":1,"source"', '"sequence":"1","source"'),
        base.entry.replace(event_id, event_id.upper()),
    ):
        assert text != base.entry
        forged = resealed(base, text, GENESIS_HASH)
        result, taken = by_batches([forged], forged.head, [])
        assert taken == [False]
        assert result == one_by_one([forged], forged.head)
        assert result.ok


@pytest.mark.parametrize(
    "data",
    ["[1,2,]", '"\\q"', "01", "1.", '{"a" 1}', "tru", '"\x01"', "NaN", '"\\ud800"', "1E400"],
)
def test_a_malformed_entry_is_judged_as_entry_by_entry_judges_it(data: str) -> None:
    """Anywhere in the entry, even where the batch path does not look."""
    base = seal(Head.genesis(), event({"k": "v"}), T0)
    text = base.entry.replace('"data":{"k":"v"}', f'"data":{data}')
    assert text != base.entry
    forged = resealed(base, text, GENESIS_HASH)
    result, _ = by_batches([forged], forged.head, [])
    assert result == one_by_one([forged], forged.head)


def test_a_repeated_key_counts_by_its_last_value_on_both_paths() -> None:
    base = seal(Head.genesis(), event({"k": "v"}), T0)
    prefix = '{"event":{"actor":"alice"'
    assert base.entry.startswith(prefix)
    for text, ok in (
        (base.entry.replace(prefix, '{"event":{"actor":"bob","actor":"alice"'), True),
        (base.entry.replace(prefix, '{"event":{"actor":"alice","actor":"bob"'), False),
    ):
        forged = resealed(base, text, GENESIS_HASH)
        result, _ = by_batches([forged], forged.head, [])
        assert result == one_by_one([forged], forged.head)
        assert result.ok is ok


def test_rows_render_the_columns_as_the_query_does() -> None:
    moment = T0.replace(microsecond=5)
    entry = seal(Head(4, "a" * 64), {**event({}), "actor": "zoë"}, moment)
    assert entry.columns is not None
    assert row_of(entry) == (
        5,
        entry.entry,
        "a" * 64,
        entry.hash,
        f"{entry.columns.event_id}\x1fio.changeward.change.requested"
        "\x1f0b7e4c2e-3d0f-4a51-9a37-5f6b1d2c8e90\x1f/changeward/intake\x1f1"
        "\x1f2026-12-01T02:00:00.000005Z\x1fzoë",
    )


# --- the tree ---


def leaves_of(entries: list[StoredEntry]) -> list[bytes]:
    return [leaf_hash(entry.entry.encode()) for entry in entries]


def signed_at(size: int, entries: list[StoredEntry], signer: TreeHeadSigner) -> SignedTreeHead:
    frontier = Frontier()
    frontier.extend(leaves_of(entries[:size]))
    return signer.sign(TreeHead(size, frontier.root(), T0))


def tree_by_batches(
    entries: list[StoredEntry],
    heads: list[SignedTreeHead],
    stored: dict[int, bytes],
    at: list[int],
    unreadable_heads: list[int] | None = None,
) -> tuple[TreeVerification, list[bool]]:
    verifier = TreeVerifier(heads, SIGNER.public_key, SIGNER.key_id, None, unreadable_heads or [])
    taken = []
    for batch in batches(entries, at):
        taken.append(verifier.take_rows([row_of(entry) for entry in batch], stored))
        if not taken[-1]:
            verifier.feed(batch, stored)
    return verifier.finish(), taken


def tree_one_by_one(
    entries: list[StoredEntry],
    heads: list[SignedTreeHead],
    stored: dict[int, bytes],
    unreadable_heads: list[int] | None = None,
) -> TreeVerification:
    verifier = TreeVerifier(heads, SIGNER.public_key, SIGNER.key_id, None, unreadable_heads or [])
    verifier.feed(entries, stored)
    return verifier.finish()


@given(
    st.lists(payloads, min_size=1, max_size=10).map(build_chain),
    st.data(),
    cuts,
)
def test_the_tree_by_batches_is_the_tree_entry_by_entry(
    chain: list[StoredEntry], data: st.DataObject, at: list[int]
) -> None:
    sizes = data.draw(st.lists(st.integers(0, len(chain) + 1), max_size=4), label="head sizes")
    how = data.draw(st.sampled_from(["none", "leaf", "root", "key", "missing leaf"]), label="how")
    k = data.draw(st.integers(0, len(chain) - 1), label="k")
    heads = [signed_at(size, chain, SIGNER) for size in sizes]
    stored = dict(enumerate(leaves_of(chain)))
    if how == "leaf":
        stored[k] = hashlib.sha256(b"forged").digest()
    elif how == "missing leaf":
        del stored[k]
    elif how in ("root", "key") and heads:
        first = heads[0]
        heads[0] = (
            SIGNER.sign(TreeHead(first.head.size, b"\x00" * 32, T0))
            if how == "root"
            else signed_at(first.head.size, chain, STRANGER)
        )
    result, taken = tree_by_batches(chain, heads, stored, at)
    assert result == tree_one_by_one(chain, heads, stored)
    if how in ("none", "root", "key"):
        assert all(taken)
    if how == "none":
        assert (result.first_bad is None) == all(size <= len(chain) for size in sizes)


@given(st.lists(st.binary(min_size=32, max_size=32), max_size=40), st.integers(0, 40))
def test_extending_the_frontier_is_appending_each_leaf(leaves: list[bytes], split: int) -> None:
    appended, extended = Frontier(), Frontier()
    for leaf in leaves:
        appended.append(leaf)
    extended.extend(leaves[:split])
    extended.extend(leaves[split:])
    assert (extended.size, extended.hashes, extended.root()) == (
        appended.size,
        appended.hashes,
        appended.root(),
    )


@given(st.lists(payloads, min_size=1, max_size=10).map(build_chain), st.data(), cuts)
def test_a_head_whose_time_could_not_be_read_is_a_defect_where_the_tree_reaches_it(
    chain: list[StoredEntry], data: st.DataObject, at: list[int]
) -> None:
    sizes = data.draw(st.lists(st.integers(0, len(chain)), max_size=3), label="head sizes")
    unreadable = data.draw(
        st.lists(st.integers(0, len(chain) + 1), min_size=1, max_size=2), label="unreadable"
    )
    heads = [signed_at(size, chain, SIGNER) for size in sizes]
    stored = dict(enumerate(leaves_of(chain)))
    result, taken = tree_by_batches(chain, heads, stored, at, unreadable)
    assert result == tree_one_by_one(chain, heads, stored, unreadable)
    assert all(taken)
    assert result.first_bad is not None
    assert result.first_bad.sequence == min(max(min(unreadable), 1), len(chain) + 1)
    assert f"tree head of size {min(unreadable)} cannot be checked" in result.first_bad.reason
    # It goes on past them: every readable head is checked, every unreadable one reported.
    assert result.heads_checked == len(sizes)
    assert result.defect_count == len(unreadable)
