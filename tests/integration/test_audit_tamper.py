"""Append-only enforcement, and tampering as a database superuser would: every case is found."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from typer.testing import CliRunner

from changeward.cli import app as cli
from shared.db import asyncpg_dsn
from tests.conftest import fresh_database
from tests.support.audit import AuditStack, audit_stack, change_event, served
from tests.support.clients import Tokens, fetch

ENTRIES = 12
WRITER = "changeward_audit_writer"
# Times PostgreSQL stores and a Python datetime cannot hold.
UNREPRESENTABLE_TIMES = ["infinity", "-infinity", "10000-01-01T00:00:00Z", "0044-03-15 BC"]


@pytest.fixture
async def ledger(pg_server: str, tokens: Tokens, tmp_path: Path) -> AsyncIterator[AuditStack]:
    """A ledger of ENTRIES entries with a signed tree head over all of them."""
    url = await fresh_database(pg_server)
    async with audit_stack(url, tokens, tmp_path, tree_head_interval_seconds=3600) as stack:
        subject = str(change_event().subject)
        for n in range(1, ENTRIES + 1):
            await stack.publish(change_event(subject, sequence=n, data={"step": n}))
        response = await stack.client.get("/v1/audit/tree-head", headers=stack.auditor)
        assert response.json()["size"] == ENTRIES
        assert (await verify(stack))["ok"] is True
        yield stack


async def verify(stack: AuditStack) -> dict[str, Any]:
    response = await stack.client.get("/v1/audit/verify", headers=stack.auditor)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def as_superuser(stack: AuditStack, *statements: str) -> None:
    """What someone holding the database can do: bypass triggers and rewrite anything."""
    connection = await asyncpg.connect(asyncpg_dsn(stack.database_url))
    try:
        async with connection.transaction():
            await connection.execute("SET LOCAL session_replication_role = replica")
            for statement in statements:
                await connection.execute(statement)
    finally:
        await connection.close()


def assert_first_bad(report: dict[str, Any], sequence: int, *words: str) -> None:
    assert report["ok"] is False, report
    assert report["first_bad"]["sequence"] == sequence, report
    for word in words:
        assert word in report["first_bad"]["reason"], report


# --- append-only: the trigger, for everyone, and the writer role ---


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit.ledger_entry SET actor = 'mallory' WHERE sequence = 3",
        "DELETE FROM audit.ledger_entry WHERE sequence = 12",
        "TRUNCATE audit.ledger_entry",
        "UPDATE audit.merkle_node SET hash = '\\x00' WHERE level = 0 AND index = 0",
        "DELETE FROM audit.tree_head",
        "TRUNCATE audit.tree_head CASCADE",
    ],
)
async def test_the_trigger_rejects_changes_even_from_the_owner(
    ledger: AuditStack, statement: str
) -> None:
    before = await fetch(ledger.database_url, "SELECT count(*), max(actor) FROM audit.ledger_entry")
    connection = await asyncpg.connect(asyncpg_dsn(ledger.database_url))
    try:
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await connection.execute(statement)
    finally:
        await connection.close()
    after = await fetch(ledger.database_url, "SELECT count(*), max(actor) FROM audit.ledger_entry")
    assert after == before
    assert (await verify(ledger))["ok"] is True


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit.ledger_entry SET actor = 'mallory'",
        "DELETE FROM audit.ledger_entry",
        "TRUNCATE audit.ledger_entry",
        "DELETE FROM audit.tree_head",
        "UPDATE audit.merkle_node SET hash = '\\x00'",
        "DROP TABLE audit.ledger_entry",
        "ALTER TABLE audit.ledger_entry DISABLE TRIGGER USER",
        "SET session_replication_role = replica",
    ],
)
async def test_the_writer_role_may_not_change_or_remove(ledger: AuditStack, statement: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(ledger.database_url))
    try:
        async with connection.transaction():
            await connection.execute(f"SET LOCAL ROLE {WRITER}")
            with pytest.raises(asyncpg.PostgresError) as raised:
                await connection.execute(statement)
        assert isinstance(raised.value, asyncpg.InsufficientPrivilegeError | asyncpg.PostgresError)
        assert "append-only" not in str(raised.value), "the role, not the trigger, must refuse"
    finally:
        await connection.close()
    assert (await verify(ledger))["ok"] is True


async def test_the_writer_role_may_append_and_read(ledger: AuditStack) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(ledger.database_url))
    try:
        async with connection.transaction():
            await connection.execute(f"SET LOCAL ROLE {WRITER}")
            assert await connection.fetchval("SELECT count(*) FROM audit.ledger_entry") == ENTRIES
            assert await connection.fetchval("SELECT current_user") == WRITER
            privileges = await connection.fetchrow(
                "SELECT has_table_privilege('audit.ledger_entry', 'INSERT') AS can_insert, "
                "has_table_privilege('audit.ledger_entry', 'UPDATE') AS can_update, "
                "has_table_privilege('audit.ledger_entry', 'DELETE') AS can_delete, "
                "has_table_privilege('audit.ledger_entry', 'TRUNCATE') AS can_truncate"
            )
        assert dict(privileges) == {
            "can_insert": True,
            "can_update": False,
            "can_delete": False,
            "can_truncate": False,
        }
    finally:
        await connection.close()


async def test_the_service_appends_as_the_writer_role(ledger: AuditStack) -> None:
    # Take INSERT away from the role alone: if appends ran as the connecting superuser,
    # they would still succeed. The ledger never skips an event, so the append is retried
    # until the grant is back, and then recorded once.
    connection = await asyncpg.connect(asyncpg_dsn(ledger.database_url))
    event = change_event()
    try:
        await connection.execute(f"REVOKE INSERT ON audit.ledger_entry FROM {WRITER}")
        delivery = asyncio.create_task(ledger.publish(event))
        await asyncio.sleep(1.5)
        assert not delivery.done()
        assert (
            await connection.fetchval(
                "SELECT count(*) FROM audit.ledger_entry WHERE event_id = $1", event.id
            )
            == 0
        )
        assert (
            await connection.fetchval(
                "SELECT count(*) FROM audit.inbox WHERE event_id = $1", event.id
            )
            == 0
        )
    finally:
        await connection.execute(f"GRANT INSERT ON audit.ledger_entry TO {WRITER}")
        await connection.close()
    await asyncio.wait_for(delivery, timeout=30)
    assert (await verify(ledger))["entries"] == ENTRIES + 1


# --- the tamper suite ---


async def test_a_changed_byte_of_a_payload_is_found(ledger: AuditStack) -> None:
    await as_superuser(
        ledger,
        "UPDATE audit.ledger_entry "
        "SET entry = replace(entry::text, '\"step\":5', '\"step\":6')::json WHERE sequence = 5",
    )
    changed = await fetch(
        ledger.database_url, "SELECT entry::text FROM audit.ledger_entry WHERE sequence = 5"
    )
    assert '"step":6' in changed[0][0]
    assert_first_bad(await verify(ledger), 5, "hash does not match")


async def test_a_deleted_entry_is_found(ledger: AuditStack) -> None:
    await as_superuser(ledger, "DELETE FROM audit.ledger_entry WHERE sequence = 7")
    assert_first_bad(await verify(ledger), 7, "sequence break")


async def test_two_reordered_entries_are_found(ledger: AuditStack) -> None:
    await as_superuser(
        ledger,
        "UPDATE audit.ledger_entry SET sequence = sequence + 1000 WHERE sequence IN (4, 9)",
        "UPDATE audit.ledger_entry SET sequence = CASE sequence WHEN 1004 THEN 9 ELSE 4 END "
        "WHERE sequence IN (1004, 1009)",
    )
    assert_first_bad(await verify(ledger), 4)


async def test_a_truncated_tail_is_found(ledger: AuditStack) -> None:
    await as_superuser(ledger, "DELETE FROM audit.ledger_entry WHERE sequence > 9")
    assert_first_bad(await verify(ledger), 10, "missing")


async def test_a_truncated_tail_with_its_head_moved_back_is_found(ledger: AuditStack) -> None:
    head = await fetch(
        ledger.database_url, "SELECT hash FROM audit.ledger_entry WHERE sequence = 9"
    )
    await as_superuser(
        ledger,
        "DELETE FROM audit.ledger_entry WHERE sequence > 9",
        f"UPDATE audit.ledger_head SET size = 9, head_hash = '{head[0][0]}'",
    )
    report = await verify(ledger)
    assert_first_bad(report, 10, "missing", "tree head")


async def test_a_tail_rewritten_consistently_without_the_key_is_found(ledger: AuditStack) -> None:
    """Entries 9..12 rewritten, every hash, leaf, node, frontier and head row recomputed."""
    import hashlib

    rows = await fetch(
        ledger.database_url,
        "SELECT sequence, entry::text AS entry, prev_hash "
        "FROM audit.ledger_entry ORDER BY sequence",
    )
    entries = [row["entry"] for row in rows]
    for n in range(8, ENTRIES):
        entries[n] = entries[n].replace('"actor":"rita"', '"actor":"mallory"')
    prev, hashes = rows[0]["prev_hash"], []
    for entry in entries:
        prev = hashlib.sha256(prev.encode() + entry.encode()).hexdigest()
        hashes.append(prev)
    nodes, frontier = _tree(entries)
    statements = [
        f"UPDATE audit.ledger_entry SET entry = $${entries[n]}$$::json, actor = 'mallory', "
        f"prev_hash = '{hashes[n - 1]}', hash = '{hashes[n]}' WHERE sequence = {n + 1}"
        for n in range(8, ENTRIES)
    ]
    statements.append("DELETE FROM audit.merkle_node")
    statements += [
        f"INSERT INTO audit.merkle_node VALUES ({level}, {index}, '\\x{digest.hex()}')"
        for (level, index), digest in nodes.items()
    ]
    array = ",".join(f'"\\\\x{h.hex()}"' for h in frontier)
    statements.append(
        f"UPDATE audit.ledger_head SET head_hash = '{hashes[-1]}', frontier = '{{{array}}}'"
    )
    await as_superuser(ledger, *statements)
    report = await verify(ledger)
    assert report["ok"] is False
    assert "signed tree head no longer matches" in report["first_bad"]["reason"]
    assert report["tree"]["ok"] is False
    # Nothing in the database itself disagrees any more: only the signature can tell.
    stored = await fetch(
        ledger.database_url, "SELECT entry::text FROM audit.ledger_entry WHERE sequence = 12"
    )
    assert "mallory" in stored[0][0]
    refused = await ledger.client.get("/v1/audit/tree-head", headers=ledger.auditor)
    assert refused.status_code == 200  # the latest head still covers 12 entries: unchanged
    await ledger.publish(change_event())
    blocked = await ledger.client.get("/v1/audit/tree-head", headers=ledger.auditor)
    assert blocked.status_code == 409, "the ledger must not sign a tree that rewrote a signed one"
    assert blocked.json()["code"] == "ledger-inconsistent"


@pytest.mark.parametrize("moment", UNREPRESENTABLE_TIMES)
async def test_a_time_no_datetime_can_hold_is_found_and_the_entry_still_read(
    ledger: AuditStack, moment: str
) -> None:
    await as_superuser(
        ledger, f"UPDATE audit.ledger_entry SET recorded_at = '{moment}' WHERE sequence = 5"
    )
    report = await verify(ledger)
    assert_first_bad(report, 5, "recorded_at is not a representable timestamp")
    assert report["entries"] == 4
    assert report["tree"]["ok"] is True, "the entries themselves are untouched"
    subject = (await fetch(ledger.database_url, "SELECT subject FROM audit.ledger_entry"))[0][0]
    timeline = await ledger.client.get(f"/v1/audit/changes/{subject}", headers=ledger.auditor)
    assert timeline.status_code == 200
    assert len(timeline.json()["entries"]) == ENTRIES
    export = await ledger.client.get("/v1/audit/export", headers=ledger.auditor)
    assert export.status_code == 200
    assert json.loads(export.text.splitlines()[-1]) == {"kind": "end", "entries": ENTRIES}


async def test_an_earlier_defect_stays_the_first_beside_an_unrepresentable_time(
    ledger: AuditStack,
) -> None:
    await as_superuser(
        ledger,
        "UPDATE audit.ledger_entry SET recorded_at = 'infinity' WHERE sequence = 5",
        "UPDATE audit.ledger_entry SET actor = 'mallory' WHERE sequence = 3",
    )
    assert_first_bad(await verify(ledger), 3, "actor")


@pytest.mark.parametrize("moment", ["infinity", "10000-01-01T00:00:00Z"])
async def test_a_signed_head_with_a_time_no_datetime_can_hold_is_found(
    ledger: AuditStack, moment: str
) -> None:
    await as_superuser(
        ledger, f"UPDATE audit.tree_head SET signed_at = '{moment}' WHERE size = {ENTRIES}"
    )
    report = await verify(ledger)
    assert_first_bad(report, ENTRIES, f"tree head of size {ENTRIES}", "not a representable")
    assert report["tree"]["ok"] is False
    assert report["tree"]["signed_heads_checked"] == 0


async def test_the_cli_verifying_a_served_ledger_fails_on_an_unrepresentable_time(
    ledger: AuditStack,
) -> None:
    token = ledger.auditor["Authorization"].removeprefix("Bearer ")
    runner = CliRunner()
    async with served(ledger) as url:

        def verify_by_cli() -> Any:
            return runner.invoke(cli, ["audit", "verify", "--url", url, "--token", token])

        sound = await asyncio.to_thread(verify_by_cli)
        assert sound.exit_code == 0, sound.output
        assert f"the service verified the whole ledger: {ENTRIES} entries" in said(sound)
        await as_superuser(
            ledger,
            "UPDATE audit.ledger_entry SET recorded_at = '10000-01-01T00:00:00Z' "
            "WHERE sequence = 7",
        )
        tampered = await asyncio.to_thread(verify_by_cli)
    assert tampered.exit_code == 1, tampered.output
    assert isinstance(tampered.exception, SystemExit), "an exit, not a traceback"
    assert "FAILED" in tampered.output
    assert "entry 7: recorded_at is not a representable timestamp" in said(tampered)
    # The export itself is sound: its entries are untouched, only the row's column is not.
    assert f"OK {ENTRIES} entries included" in said(tampered)


async def test_the_cli_reports_an_export_refused_for_a_missing_node_and_not_a_traceback(
    ledger: AuditStack,
) -> None:
    # Without the leaf of entry 7 the export cannot prove it: the service refuses it whole.
    await as_superuser(ledger, "DELETE FROM audit.merkle_node WHERE level = 0 AND index = 6")
    assert_first_bad(await verify(ledger), 7, "leaf")
    result = await cli_verify(ledger)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), "an exit, not a traceback"
    assert "FAILED the service refused the export: 409 tree-nodes-missing" in said(result)
    assert "level 0 index 6 (entries 7..7)" in said(result)
    # The service's own verification follows all the same, naming the entry.
    assert "entry 7: the entry's Merkle leaf hash is missing from the stored tree" in said(result)


async def cli_verify(stack: AuditStack) -> Any:
    """`changeward audit verify --url` against `stack`, served, as its auditor."""
    token = stack.auditor["Authorization"].removeprefix("Bearer ")
    async with served(stack) as url:
        return await asyncio.to_thread(
            CliRunner().invoke, cli, ["audit", "verify", "--url", url, "--token", token]
        )


def said(result: Any) -> str:
    """A CLI run's output, its lines as the console wrapped them joined again."""
    return " ".join(result.output.split())


def _tree(entries: list[str]) -> tuple[dict[tuple[int, int], bytes], list[bytes]]:
    """Perfect-subtree nodes and frontier, computed as a forger would (RFC 9162 hashing)."""
    import hashlib

    nodes: dict[tuple[int, int], bytes] = {}
    frontier: list[bytes] = []
    for index, entry in enumerate(entries):
        current = hashlib.sha256(b"\x00" + entry.encode()).digest()
        nodes[(0, index)] = current
        level, position = 0, index
        while position & 1:
            current = hashlib.sha256(b"\x01" + frontier.pop() + current).digest()
            level, position = level + 1, position >> 1
            nodes[(level, position)] = current
        frontier.append(current)
    return nodes, frontier
