"""Tampering reported, never a crash: an altered signed head, deleted Merkle nodes, and the
whole extent of tampering in one verification pass."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.audit.export import ExportBrokenOff, as_csv, export_lines
from services.audit.offline import ExportVerifier
from services.audit.search_repository import EntryFilter
from services.audit.signing import load_signer
from services.audit.tree_heads import current_tree_head
from shared.errors import PROBLEM_MEDIA_TYPE
from tests.conftest import fresh_database
from tests.integration.test_audit_tamper import as_superuser, cli_verify, said, verify
from tests.support.audit import AuditStack, audit_stack, change_event
from tests.support.clients import Tokens, eventually, fetch, scalar

ENTRIES = 12
ALTERED_HEAD = "refusing to serve or sign over an altered tree head"


async def filled(stack: AuditStack, entries: int) -> None:
    """`entries` entries of one change, and a signed tree head over all of them."""
    subject = str(change_event().subject)
    await stack.publish(
        *(change_event(subject, sequence=n, data={"step": n}) for n in range(1, entries + 1))
    )
    response = await stack.client.get("/v1/audit/tree-head", headers=stack.auditor)
    assert response.json()["size"] == entries


@pytest.fixture
async def ledger(pg_server: str, tokens: Tokens, tmp_path: Path) -> AsyncIterator[AuditStack]:
    url = await fresh_database(pg_server)
    async with audit_stack(url, tokens, tmp_path, tree_head_interval_seconds=3600) as stack:
        await filled(stack, ENTRIES)
        assert (await verify(stack))["ok"] is True
        yield stack


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code
    assert problem["type"].endswith(f"/problems/{code}")
    return problem


# --- a signed tree head altered in the database ---


@pytest.mark.parametrize(
    "moment", ["infinity", "-infinity", "10000-01-01T00:00:00Z", "0044-03-15 BC"]
)
async def test_an_unreadable_latest_head_is_a_problem_naming_it(
    ledger: AuditStack, moment: str
) -> None:
    [head] = await fetch(ledger.database_url, "SELECT id, size, root FROM audit.tree_head")
    await as_superuser(ledger, f"UPDATE audit.tree_head SET signed_at = '{moment}'")
    for path in ("/v1/audit/tree-head", "/v1/audit/export"):
        response = await ledger.client.get(path, headers=ledger.auditor)
        problem = assert_problem(response, 409, "tree-head-tampered")
        assert problem["tree_head"]["id"] == head["id"]
        assert problem["tree_head"]["size"] == head["size"] == ENTRIES
        assert problem["tree_head"]["root"] == bytes(head["root"]).hex()
        assert f"tree head #{head['id']} (size {ENTRIES}" in problem["detail"]
        assert "signing time is not a representable timestamp" in problem["detail"]
    report = await verify(ledger)
    assert report["ok"] is False
    assert "cannot be checked" in report["first_bad"]["reason"]


async def test_a_latest_head_whose_signature_no_longer_verifies_is_a_problem(
    ledger: AuditStack,
) -> None:
    await as_superuser(
        ledger, "UPDATE audit.tree_head SET signed_at = signed_at - interval '1 second'"
    )
    response = await ledger.client.get("/v1/audit/tree-head", headers=ledger.auditor)
    problem = assert_problem(response, 409, "tree-head-tampered")
    assert "signature does not verify" in problem["detail"]


async def test_the_signer_outlives_an_altered_head_signs_nothing_over_it_and_resumes(
    pg_server: str, tokens: Tokens, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = await fresh_database(pg_server)
    async with audit_stack(url, tokens, tmp_path, tree_head_interval_seconds=0.05) as stack:
        # Only the background signer signs here (no GET of the tree head, which signs too
        # and could race it): once a head covers every entry, it has nothing left to sign.
        subject = str(change_event().subject)
        await stack.publish(*(change_event(subject, sequence=n) for n in range(1, ENTRIES + 1)))
        await eventually(
            lambda: scalar(url, "SELECT max(size) FROM audit.tree_head"),
            lambda size: size == ENTRIES,
        )
        [latest] = await fetch(
            url,
            "SELECT id, signed_at::text, count(*) OVER () FROM audit.tree_head"
            " ORDER BY id DESC LIMIT 1",
        )
        heads = latest[2]
        await as_superuser(
            stack, f"UPDATE audit.tree_head SET signed_at = 'infinity' WHERE id = {latest[0]}"
        )
        await stack.publish(change_event(), change_event())
        logged: list[str] = []

        async def refusals() -> int:
            captured = capsys.readouterr()
            logged.append(captured.out + captured.err)
            return "".join(logged).count(ALTERED_HEAD)

        # Refused again and again: the signer runs on, past the altered head.
        await eventually(refusals, lambda count: count >= 3)
        [signer] = [t for t in asyncio.all_tasks() if t.get_name() == "audit-background"]
        assert not signer.done()
        assert await scalar(url, "SELECT count(*) FROM audit.tree_head") == heads
        assert await scalar(url, "SELECT size FROM audit.ledger_head") == ENTRIES + 2

        await as_superuser(
            stack, f"UPDATE audit.tree_head SET signed_at = '{latest[1]}' WHERE id = {latest[0]}"
        )
        await eventually(
            lambda: scalar(url, "SELECT max(size) FROM audit.tree_head"),
            lambda size: size == ENTRIES + 2,
        )
        report = await verify(stack)
    assert report["ok"] is True, report
    assert report["tree"]["signed_heads_checked"] == heads + 1


# --- Merkle nodes deleted ---


@pytest.mark.parametrize("export_format", ["ndjson", "csv"])
@pytest.mark.parametrize(
    ("level", "index", "entries", "proven"),
    [(0, 6, "7..7", 7), (2, 1, "5..8", 1)],
    ids=["leaf", "inner"],
)
async def test_an_export_over_missing_nodes_is_refused_before_it_streams(
    ledger: AuditStack, export_format: str, level: int, index: int, entries: str, proven: int
) -> None:
    await as_superuser(
        ledger, f"DELETE FROM audit.merkle_node WHERE level = {level} AND index = {index}"
    )
    response = await ledger.client.get(
        "/v1/audit/export", params={"format": export_format}, headers=ledger.auditor
    )
    problem = assert_problem(response, 409, "tree-nodes-missing")
    assert problem["missing_nodes"] == 1
    assert problem["first_missing"] == {"level": level, "index": index}
    assert f"level {level} index {index} (entries {entries})" in problem["detail"]
    proof = await ledger.client.get(
        "/v1/audit/proofs/inclusion", params={"entry": proven}, headers=ledger.auditor
    )
    assert_problem(proof, 409, "tree-nodes-missing")


async def test_nodes_deleted_while_an_export_streams_end_it_with_an_error_record(
    ledger: AuditStack,
) -> None:
    database = ledger.app.state.database
    signer = load_signer(ledger.settings.audit_signing_key, ledger.settings.data_dir)
    async with database.sessionmaker() as session, session.begin():
        signed = await current_tree_head(session, signer)
    # After the API found the tree whole, before the export reads it.
    await as_superuser(ledger, "DELETE FROM audit.merkle_node WHERE level = 0 AND index = 6")

    records = [record async for record in export_lines(database, EntryFilter(), signed)]
    assert [r["kind"] for r in records] == ["tree_head"] + ["entry"] * 6 + ["error"]
    error = records[-1]
    assert error["code"] == "tree-nodes-missing"
    assert error["status"] == 409
    assert error["first_missing"] == {"level": 0, "index": 6}
    verifier = ExportVerifier(signer.public_key)
    for record in records:
        verifier.feed(json.loads(json.dumps(record)))
    report = verifier.finish()
    assert report.entries == 6
    assert [d.reason.split(":")[0] for d in report.defects] == ["the export ended in an error"]

    rows: list[bytes] = []

    async def read_csv() -> None:
        async for row in as_csv(export_lines(database, EntryFilter(), signed)):
            rows.append(row)

    with pytest.raises(ExportBrokenOff):
        await read_csv()
    assert len(rows) == 1 + 6, "the header and the rows proven before the gap"


# --- the whole extent of tampering in one pass ---


async def test_every_defect_is_reported_in_one_pass(ledger: AuditStack) -> None:
    await as_superuser(
        ledger,
        "UPDATE audit.ledger_entry "
        "SET entry = replace(entry::text, '\"step\":3', '\"step\":33')::json WHERE sequence = 3",
        "UPDATE audit.ledger_entry SET actor = 'mallory' WHERE sequence = 5",
        "DELETE FROM audit.ledger_entry WHERE sequence = 8",
        "UPDATE audit.ledger_entry SET recorded_at = 'infinity' WHERE sequence = 10",
        "UPDATE audit.merkle_node SET hash = '\\x00' WHERE level = 0 AND index = 10",
    )
    report = await verify(ledger)
    found = [(d["sequence"], d["check"], d["reason"]) for d in report["defects"]]
    expected = [
        (3, "chain", "hash does not match the entry's content"),
        (3, "tree", "the stored Merkle leaf hash does not match the entry"),
        (5, "chain", "row columns that differ from the entry: actor"),
        (8, "chain", "sequence break: expected 8, found 9"),
        (10, "chain", "recorded_at is not a representable timestamp"),
        (11, "tree", "the stored Merkle leaf hash does not match the entry"),
        (12, "tree", "missing: a tree head signed at"),
    ]
    assert [(s, c) for s, c, _ in found] == [(s, c) for s, c, _ in expected], found
    for (_, _, reason), (_, _, words) in zip(found, expected, strict=True):
        assert reason.startswith(words), reason
    assert report["defect_count"] == len(expected)
    assert report["first_bad"] == report["defects"][0]
    assert report["entries"] == 2

    result = await cli_verify(ledger)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), "an exit, not a traceback"
    output = said(result)
    assert "FAILED the export: 3 defects" in output
    assert "line 4, entry 3: hash does not match prev_hash and the entry" in output
    assert "line 11, entry 11: the leaf does not match the entry" in output
    # Entry 12's proof climbs through the forged leaf of entry 11.
    assert "line 12, entry 12: not included in the signed tree of 12 entries" in output
    assert "FAILED the service's verification of the whole ledger: 7 defects" in output
    assert "entry 8: sequence break: expected 8, found 9 (chain)" in output
    assert "entry 10: recorded_at is not a representable timestamp" in output


async def test_a_wholly_tampered_ledger_lists_the_first_defects_and_counts_all(
    pg_server: str, tokens: Tokens, tmp_path: Path
) -> None:
    url = await fresh_database(pg_server)
    async with audit_stack(url, tokens, tmp_path, tree_head_interval_seconds=3600) as stack:
        await filled(stack, 130)
        await as_superuser(stack, "UPDATE audit.ledger_entry SET actor = 'mallory'")
        report = await verify(stack)
        result = await cli_verify(stack)
    assert report["defect_count"] == 130
    assert [d["sequence"] for d in report["defects"]] == list(range(1, 101))
    assert {d["reason"] for d in report["defects"]} == {
        "row columns that differ from the entry: actor"
    }
    assert report["tree"]["ok"] is True, "the entries themselves are untouched"
    assert result.exit_code == 1, result.output
    assert "130 defects" in said(result)
    assert "entry 100: row columns that differ from the entry: actor" in said(result)
    assert "entry 101:" not in said(result)
    assert "... and 30 more, not listed" in said(result)
