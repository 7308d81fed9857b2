"""The audit ledger's hash chain: building it, and finding the first entry that was tampered."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from services.audit.domain import (
    GENESIS_HASH,
    ChainVerifier,
    Head,
    StoredEntry,
    canonical_json,
    seal,
    verify_chain,
)
from shared.events import CloudEvent

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)

text = st.text(st.characters(codec="utf-8"), max_size=12)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=5,
)
payloads = st.dictionaries(text, json_values, max_size=3)


def event(data: dict[str, Any], *, sequence: int = 1) -> dict[str, Any]:
    cloud_event = CloudEvent(
        source="/changeward/intake",
        type="io.changeward.change.requested",
        subject="0b7e4c2e-3d0f-4a51-9a37-5f6b1d2c8e90",
        sequence=sequence,
        actor="alice",
        data=data,
    )
    return cloud_event.model_dump(mode="json")


def build_chain(data: list[dict[str, Any]], head: Head | None = None) -> list[StoredEntry]:
    head = head or Head.genesis()
    chain = []
    for offset, payload in enumerate(data):
        entry = seal(head, event(payload, sequence=offset + 1), T0 + timedelta(seconds=offset))
        chain.append(entry)
        head = entry.head
    return chain


def head_of(chain: list[StoredEntry]) -> Head:
    return chain[-1].head if chain else Head.genesis()


def renumbered(entries: list[StoredEntry]) -> list[StoredEntry]:
    """The rows as a forger who keeps the sequence column gap-free would leave them."""
    return [dataclasses.replace(e, sequence=n) for n, e in enumerate(entries, start=1)]


def other_hex(value: str, position: int) -> str:
    replacement = "1" if value[position] == "0" else "0"
    return value[:position] + replacement + value[position + 1 :]


chains = st.lists(payloads, min_size=1, max_size=8).map(build_chain)


@st.composite
def chain_and_index(draw: st.DrawFn, min_size: int = 1) -> tuple[list[StoredEntry], int]:
    chain = draw(st.lists(payloads, min_size=min_size, max_size=8).map(build_chain))
    return chain, draw(st.integers(0, len(chain) - 1))


# --- the hash definition, pinned independently of the code under test ---


def test_entry_is_canonical_json_and_hash_chains_the_hex_of_the_previous_hash() -> None:
    cloud_event = {
        "specversion": "1.0",
        "type": "io.changeward.change.requested",
        "id": "6f1c2a4e-0c8b-4f2a-9a57-3e2d1b0c9a88",
        "source": "/changeward/intake",
        "subject": "0b7e4c2e-3d0f-4a51-9a37-5f6b1d2c8e90",
        "time": "2026-12-01T02:00:00Z",
        "datacontenttype": "application/json",
        "sequence": 1,
        "actor": "zoë",
        "data": {"title": "Scale checkout to 12 pods", "services": ["checkout"]},
    }
    first = seal(Head.genesis(), cloud_event, datetime(2026, 12, 1, 2, 0, 1, 5, tzinfo=UTC))
    expected_entry = (
        '{"event":{"actor":"zoë","data":{"services":["checkout"],'
        '"title":"Scale checkout to 12 pods"},"datacontenttype":"application/json",'
        '"id":"6f1c2a4e-0c8b-4f2a-9a57-3e2d1b0c9a88","sequence":1,'
        '"source":"/changeward/intake","specversion":"1.0",'
        '"subject":"0b7e4c2e-3d0f-4a51-9a37-5f6b1d2c8e90","time":"2026-12-01T02:00:00Z",'
        '"type":"io.changeward.change.requested"},'
        '"recorded_at":"2026-12-01T02:00:01.000005Z","sequence":1}'
    )
    assert first.entry == expected_entry
    assert first.prev_hash == GENESIS_HASH == "0" * 64
    assert first.hash == hashlib.sha256(("0" * 64 + expected_entry).encode()).hexdigest()

    second = seal(first.head, cloud_event, T0)
    assert second.sequence == 2
    assert second.prev_hash == first.hash
    assert second.hash == hashlib.sha256((first.hash + second.entry).encode()).hexdigest()


def test_entry_records_the_query_columns() -> None:
    payload = event({"k": "v"}, sequence=7)
    entry = seal(Head(41, "a" * 64), payload, T0)
    assert entry.sequence == 42
    assert entry.columns is not None
    assert entry.columns.event_id == UUID(payload["id"])
    assert entry.columns.event_type == "change.requested"
    assert entry.columns.subject == payload["subject"]
    assert entry.columns.source == "/changeward/intake"
    assert entry.columns.source_sequence == 7
    assert entry.columns.recorded_at == T0


@given(payloads)
def test_canonical_json_ignores_key_order(payload: dict[str, Any]) -> None:
    assert canonical_json(payload) == canonical_json(dict(reversed(list(payload.items()))))


def test_seal_rejects_a_naive_time_and_non_json_numbers() -> None:
    with pytest.raises(ValueError, match="timezone"):
        seal(Head.genesis(), event({}), datetime(2026, 12, 1))
    with pytest.raises(ValueError, match="JSON"):
        seal(Head.genesis(), {**event({}), "data": {"x": math.nan}}, T0)


# --- an untouched chain ---


@given(chains)
def test_a_chain_verifies(chain: list[StoredEntry]) -> None:
    for recorded_head in (None, head_of(chain)):
        result = verify_chain(chain, recorded_head)
        assert result.ok
        assert result.first_bad is None
        assert (result.entries, result.head) == (len(chain), chain[-1].hash)


def test_an_empty_ledger_verifies() -> None:
    result = verify_chain([], Head.genesis())
    assert result.ok
    assert (result.entries, result.head) == (0, GENESIS_HASH)


@given(chain_and_index(), st.data())
def test_feeding_in_batches_is_the_same_as_all_at_once(
    drawn: tuple[list[StoredEntry], int], data: st.DataObject
) -> None:
    chain, _ = drawn
    tampered = list(chain)
    if data.draw(st.booleans(), label="tamper"):
        k = data.draw(st.integers(0, len(chain) - 1), label="k")
        tampered[k] = dataclasses.replace(chain[k], hash=other_hex(chain[k].hash, 0))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(chain)), max_size=4), label="cuts"))
    verifier = ChainVerifier(head_of(chain))
    for start, end in zip([0, *cuts], [*cuts, len(chain)], strict=True):
        verifier.feed(tampered[start:end])
    assert verifier.finish() == verify_chain(tampered, head_of(chain))


# --- tampering, each found at the first entry it breaks ---


def assert_first_bad(
    entries: list[StoredEntry], recorded_head: Head | None, sequence: int, reason: str = ""
) -> None:
    result = verify_chain(entries, recorded_head)
    assert not result.ok
    assert result.first_bad is not None
    assert result.first_bad.sequence == sequence, result.first_bad
    assert reason in result.first_bad.reason
    # What verified is exactly the prefix before the bad entry.
    assert result.entries == sequence - 1
    assert result.head == (entries[sequence - 2].hash if sequence > 1 else GENESIS_HASH)


@given(chain_and_index(), st.data())
def test_changing_any_byte_of_an_entry_is_found_at_that_entry(
    drawn: tuple[list[StoredEntry], int], data: st.DataObject
) -> None:
    chain, k = drawn
    raw = bytearray(chain[k].entry.encode())
    position = data.draw(st.integers(0, len(raw) - 1), label="position")
    raw[position] = data.draw(st.integers(0, 255).filter(lambda b: b != raw[position]))
    forged = raw.decode(errors="replace")
    assume(forged != chain[k].entry)
    tampered = [*chain[:k], dataclasses.replace(chain[k], entry=forged), *chain[k + 1 :]]
    for recorded_head in (None, head_of(chain)):
        assert_first_bad(tampered, recorded_head, k + 1, "hash does not match")


@given(chain_and_index(), st.sampled_from(["hash", "prev_hash"]), st.integers(0, 63))
def test_changing_a_stored_hash_is_found_at_that_entry(
    drawn: tuple[list[StoredEntry], int], field: str, position: int
) -> None:
    chain, k = drawn
    if field == "hash":
        forged = dataclasses.replace(chain[k], hash=other_hex(chain[k].hash, position))
    else:
        forged = dataclasses.replace(chain[k], prev_hash=other_hex(chain[k].prev_hash, position))
    assert_first_bad([*chain[:k], forged, *chain[k + 1 :]], None, k + 1)


@given(chain_and_index(min_size=2), st.data())
def test_swapping_two_entries_is_found_at_the_first_of_them(
    drawn: tuple[list[StoredEntry], int], data: st.DataObject
) -> None:
    chain, _ = drawn
    i, j = sorted(
        data.draw(st.lists(st.integers(0, len(chain) - 1), min_size=2, max_size=2, unique=True))
    )
    swapped = list(chain)
    swapped[i], swapped[j] = chain[j], chain[i]
    assert_first_bad(swapped, head_of(chain), i + 1)
    assert_first_bad(renumbered(swapped), head_of(chain), i + 1)


@given(chain_and_index(min_size=2))
def test_deleting_an_entry_is_found_at_its_sequence(drawn: tuple[list[StoredEntry], int]) -> None:
    chain, k = drawn
    assume(k < len(chain) - 1)  # the tail has its own test
    remaining = chain[:k] + chain[k + 1 :]
    assert_first_bad(remaining, head_of(chain), k + 1, "sequence break")
    assert_first_bad(renumbered(remaining), head_of(chain), k + 1, "prev_hash")


@given(chain_and_index(), payloads)
def test_an_entry_sealed_onto_another_chain_is_found_at_that_entry(
    drawn: tuple[list[StoredEntry], int], payload: dict[str, Any]
) -> None:
    chain, k = drawn
    # Self-consistent (its hash matches its prev_hash and text) but linked to a foreign hash.
    foreign = seal(Head(k, "f" * 64), event(payload), T0)
    assert_first_bad([*chain[:k], foreign, *chain[k + 1 :]], None, k + 1, "prev_hash")


@given(chains)
def test_deleting_the_tail_is_found_only_against_the_recorded_head(
    chain: list[StoredEntry],
) -> None:
    truncated = chain[:-1]
    assert_first_bad(truncated, head_of(chain), len(chain), "missing")
    # The chain alone cannot tell a truncated ledger from a shorter one.
    assert verify_chain(truncated).ok


@given(chain_and_index(), payloads)
def test_inserting_an_entry_is_found_where_the_chain_breaks(
    drawn: tuple[list[StoredEntry], int], payload: dict[str, Any]
) -> None:
    chain, k = drawn
    before = chain[k - 1].head if k else Head.genesis()
    well_formed = seal(before, event(payload), T0)
    careless = dataclasses.replace(well_formed, hash=other_hex(well_formed.hash, 0))
    # A careless forgery breaks at itself; a well-chained one at the entry it displaced.
    assert_first_bad(renumbered([*chain[:k], careless, *chain[k:]]), None, k + 1)
    assert_first_bad(renumbered([*chain[:k], well_formed, *chain[k:]]), None, k + 2)
    # Without renumbering, the displaced entry repeats a sequence.
    assert_first_bad([*chain[:k], well_formed, *chain[k:]], None, k + 2)


@given(chain_and_index(), payloads)
def test_rewriting_the_tail_consistently_is_found_against_the_recorded_head(
    drawn: tuple[list[StoredEntry], int], payload: dict[str, Any]
) -> None:
    chain, k = drawn
    rewritten_from_k = build_chain([payload] * (len(chain) - k), chain[k - 1].head if k else None)
    assume(rewritten_from_k[-1].hash != chain[-1].hash)
    rewritten = chain[:k] + rewritten_from_k
    # Only the head can tell; a signed tree head will also say where (issue 6).
    assert verify_chain(rewritten).ok
    assert_first_bad(rewritten, head_of(chain), len(chain), "rewritten")


@given(chain_and_index())
def test_entries_beyond_the_recorded_head_are_found(drawn: tuple[list[StoredEntry], int]) -> None:
    chain, k = drawn
    assume(k < len(chain) - 1)
    assert_first_bad(chain, chain[k].head, k + 2, "beyond the ledger head")


def test_an_empty_ledger_with_a_moved_head_is_found() -> None:
    result = verify_chain([], Head(0, "f" * 64))
    assert result.first_bad is not None
    assert result.first_bad.sequence == 1


@given(
    chain_and_index(),
    st.sampled_from(["event_id", "event_type", "subject", "source", "source_sequence"]),
)
def test_a_query_column_that_disagrees_with_its_entry_is_found(
    drawn: tuple[list[StoredEntry], int], column: str
) -> None:
    chain, k = drawn
    columns = chain[k].columns
    assert columns is not None
    other_value: Any = {
        "event_id": UUID(int=0),
        "event_type": "change.approved",
        "subject": "another-change",
        "source": "/changeward/review",
        "source_sequence": columns.source_sequence + 1,
    }[column]
    forged = dataclasses.replace(
        chain[k], columns=dataclasses.replace(columns, **{column: other_value})
    )
    assert_first_bad([*chain[:k], forged, *chain[k + 1 :]], None, k + 1)
    result = verify_chain([*chain[:k], forged, *chain[k + 1 :]])
    assert result.first_bad is not None
    assert column in result.first_bad.reason


def test_an_entry_whose_own_sequence_disagrees_with_its_row_is_found() -> None:
    first = seal(Head.genesis(), event({}), T0)
    # Chained and hashed correctly, but the entry says it is entry 5.
    forged_entry = first.entry.replace('"sequence":1}', '"sequence":5}')
    forged = StoredEntry(
        1,
        forged_entry,
        GENESIS_HASH,
        hashlib.sha256((GENESIS_HASH + forged_entry).encode()).hexdigest(),
    )
    result = verify_chain([forged])
    assert result.first_bad is not None
    assert result.first_bad.sequence == 1
    assert "records sequence 5" in result.first_bad.reason
