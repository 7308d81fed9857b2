"""Verification goes on past a defect: every one is reported, each tampering once where it
can be, the list bounded and the count whole; batch by batch still as entry by entry."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.audit.domain import (
    DEFECTS_LISTED,
    Defect,
    Defects,
    StoredEntry,
    verify_chain,
)
from services.audit.merkle import Frontier, inclusion_spans, nodes_needed, proof_from
from services.audit.offline import ExportVerifier
from services.audit.signing import TreeHead
from services.audit.tree_check import TreeVerifier
from tests.unit.test_audit_chain import T0, build_chain, head_of, payloads
from tests.unit.test_audit_row_check import (
    SIGNER,
    TAMPERS,
    by_batches,
    leaves_of,
    one_by_one,
    signed_at,
    tampered,
    tree_by_batches,
    tree_one_by_one,
)


@given(
    st.lists(payloads, min_size=2, max_size=10).map(build_chain),
    st.lists(st.tuples(st.integers(0, 9), st.sampled_from(TAMPERS)), min_size=2, max_size=4),
    st.lists(st.integers(0, 9), max_size=4).map(sorted),
)
def test_several_tamperings_end_batch_by_batch_as_entry_by_entry(
    chain: list[StoredEntry], tamperings: list[tuple[int, str]], at: list[int]
) -> None:
    entries, recorded = list(chain), head_of(chain)
    for k, how in tamperings:
        if how != "delete" and k < len(entries):
            entries, _ = tampered(entries, k, how)
    for head in (None, recorded):
        assert by_batches(entries, head, at)[0] == one_by_one(entries, head)


def test_one_changed_entry_is_one_defect_and_the_chain_goes_on_after_it() -> None:
    chain = build_chain([{"n": n} for n in range(10)])
    entries = list(chain)
    for k in (2, 6):
        entries[k] = dataclasses.replace(chain[k], entry=chain[k].entry.replace('"n":', '"m":'))
    result = verify_chain(entries, head_of(chain))
    assert result.defects == (
        Defect(3, "hash does not match the entry's content"),
        Defect(7, "hash does not match the entry's content"),
    )
    assert result.defect_count == 2
    assert result.first_bad == result.defects[0]
    # What verified is still the prefix before the first defect.
    assert (result.entries, result.head) == (2, chain[1].hash)


def test_a_deleted_entry_is_one_defect_and_the_entry_after_the_gap_is_still_checked() -> None:
    chain = build_chain([{"n": n} for n in range(8)])
    columns = chain[4].columns
    assert columns is not None
    after_gap = dataclasses.replace(chain[4], columns=dataclasses.replace(columns, actor="mallory"))
    result = verify_chain([*chain[:3], after_gap, *chain[5:]], head_of(chain))
    assert result.defects == (
        Defect(4, "sequence break: expected 4, found 5"),
        Defect(5, "row columns that differ from the entry: actor"),
    )


def test_a_truncated_tail_after_an_earlier_defect_is_reported_too() -> None:
    chain = build_chain([{"n": n} for n in range(6)])
    entries = [*chain[:4]]
    entries[1] = dataclasses.replace(chain[1], hash="f" * 64)
    result = verify_chain(entries, head_of(chain))
    assert [defect.sequence for defect in result.defects] == [2, 3, 5]
    assert "missing: the ledger head records 6 entries" in result.defects[-1].reason


def test_the_list_keeps_the_earliest_defects_and_the_count_all_of_them() -> None:
    defects = Defects()
    found = [Defect(sequence, "x") for sequence in range(3 * DEFECTS_LISTED, 0, -1)]
    for defect in found:
        defects.add(defect)
    assert defects.count == 3 * DEFECTS_LISTED
    assert defects.first == found[0]
    assert [d.sequence for d in defects.listed()] == list(range(1, DEFECTS_LISTED + 1))
    assert defects.listed(Defect(0, "last"))[0] == Defect(0, "last")


def test_a_ledger_wholly_tampered_lists_the_first_defects_and_counts_all() -> None:
    chain = build_chain([{"n": n} for n in range(DEFECTS_LISTED + 30)])
    entries = [
        dataclasses.replace(e, columns=dataclasses.replace(e.columns, actor="mallory"))
        for e in chain
        if e.columns is not None
    ]
    result, taken = by_batches(entries, head_of(chain), [40, 90])
    assert not any(taken)
    assert result.defect_count == DEFECTS_LISTED + 30
    assert [d.sequence for d in result.defects] == list(range(1, DEFECTS_LISTED + 1))


# --- the tree ---


def test_a_rewritten_entry_is_one_root_defect_however_many_heads_cover_it() -> None:
    chain = build_chain([{"n": n} for n in range(10)])
    sizes = [2, 4, 6, 8, 10]
    heads = [signed_at(size, chain, SIGNER) for size in sizes]
    stored = dict(enumerate(leaves_of(chain)))
    entries = list(chain)
    entries[2] = dataclasses.replace(chain[2], entry=chain[2].entry.replace('"n":', '"m":'))
    for result in (
        tree_by_batches(entries, heads, stored, [3, 7])[0],
        tree_one_by_one(entries, heads, stored),
    ):
        assert result.heads_checked == len(sizes)
        assert result.last_matching_head == heads[0]
        assert [d.sequence for d in result.defects] == [3, 3]
        assert "leaf hash does not match" in result.defects[0].reason
        assert "rewrite starts after entry 2" in result.defects[1].reason
        assert result.defect_count == 2


def test_every_stored_leaf_that_does_not_match_is_a_defect() -> None:
    chain = build_chain([{"n": n} for n in range(12)])
    stored = dict(enumerate(leaves_of(chain)))
    stored[3] = hashlib.sha256(b"forged").digest()
    del stored[8]
    heads = [signed_at(12, chain, SIGNER)]
    frontier = Frontier()
    frontier.extend(leaves_of(chain))
    verifier = TreeVerifier(heads, SIGNER.public_key, SIGNER.key_id, frontier)
    verifier.feed(chain, stored)
    result = verifier.finish()
    assert [d.sequence for d in result.defects] == [4, 9]
    assert "missing from the stored tree" in result.defects[1].reason
    assert result.last_matching_head == heads[0], "the entries themselves still match"


# --- an export, checked offline ---


def export_of(chain: list[StoredEntry]) -> list[dict[str, Any]]:
    size = len(chain)
    leaves = leaves_of(chain)
    frontier = Frontier()
    nodes = {}
    for leaf in leaves:
        nodes.update({node.id: node.hash for node in frontier.append(leaf)})
    signed = SIGNER.sign(TreeHead(size, frontier.root(), T0))
    records: list[dict[str, Any]] = [
        {
            "kind": "tree_head",
            "size": size,
            "root": signed.head.root.hex(),
            "timestamp": T0.isoformat(),
            "signature": base64.b64encode(signed.signature).decode(),
        }
    ]
    for index, entry in enumerate(chain):
        spans = inclusion_spans(index, size)
        assert nodes_needed(spans) <= nodes.keys()
        records.append(
            {
                "kind": "entry",
                "sequence": entry.sequence,
                "entry": entry.entry,
                "hash": entry.hash,
                "prev_hash": entry.prev_hash,
                "leaf_index": index,
                "leaf_hash": leaves[index].hex(),
                "audit_path": [h.hex() for h in proof_from(spans, nodes)],
            }
        )
    return [*records, {"kind": "end", "entries": size}]


def checked(records: list[dict[str, Any]]) -> tuple[ExportVerifier, list[bool]]:
    verifier = ExportVerifier(SIGNER.public_key)
    verdicts = []
    for record in records:
        verdicts.append(verifier.feed(json.loads(json.dumps(record))))
        if verifier.done:
            break
    return verifier, verdicts


def test_an_export_with_several_bad_entries_names_each() -> None:
    chain = build_chain([{"n": n} for n in range(8)])
    records = export_of(chain)
    assert checked(records)[0].finish().ok
    records[3]["entry"] = records[3]["entry"].replace('"n":', '"m":')
    records[6]["audit_path"] = list(reversed(records[6]["audit_path"]))
    verifier, verdicts = checked(records)
    report = verifier.finish()
    assert verdicts == [True, True, True, False, True, True, False, True, True, True]
    assert [(d.line, d.sequence) for d in report.defects] == [(4, 3), (7, 6)]
    assert report.defect_count == 2
    assert report.entries == 6
    assert report.defect == report.defects[0]


def test_an_export_that_ends_in_an_error_says_so_and_not_that_it_was_cut() -> None:
    chain = build_chain([{"n": n} for n in range(4)])
    records = export_of(chain)[:3]
    records.append(
        {"kind": "error", "code": "tree-nodes-missing", "detail": "2 stored Merkle node(s)..."}
    )
    verifier, _ = checked(records)
    report = verifier.finish()
    assert verifier.done
    assert report.defect_count == 1
    assert report.defects[0].reason.startswith(
        "the export ended in an error: tree-nodes-missing: 2 stored Merkle node(s)"
    )
    assert report.entries == 2


def test_an_export_whose_head_does_not_verify_stops_there() -> None:
    chain = build_chain([{"n": n} for n in range(3)])
    records = export_of(chain)
    records[0]["root"] = "00" * 32
    verifier, verdicts = checked(records)
    assert verdicts == [False]
    report = verifier.finish()
    assert report.defect_count == 1
    assert "signature does not verify" in report.defects[0].reason
