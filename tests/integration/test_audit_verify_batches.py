"""Verification in batches of plain rows, on a real ledger: the rows PostgreSQL renders are
the rows the checks expect, and any batch size gives the same report, sound or tampered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.audit.repository import LedgerRepository
from services.audit.row_check import row_of
from services.audit.schemas import VerificationRead
from services.audit.signing import load_signer
from services.audit.verification import verify_ledger
from shared.db import Database
from tests.conftest import fresh_database
from tests.integration.test_audit_tamper import as_superuser
from tests.support.audit import AuditStack, audit_stack, change_event
from tests.support.clients import Tokens

ENTRIES = 23
HEAD_SIZES = (5, 12, ENTRIES)


@pytest.fixture
async def ledger(pg_server: str, tokens: Tokens, tmp_path: Path) -> AsyncIterator[AuditStack]:
    """ENTRIES entries, delivered in batches, with tree heads signed at HEAD_SIZES."""
    url = await fresh_database(pg_server)
    async with audit_stack(url, tokens, tmp_path, tree_head_interval_seconds=3600) as stack:
        subject = "change/with \x1f odd; characters"
        events = [
            change_event(subject, sequence=n, actor="zoë" if n % 2 else "rita", data={"n": n})
            for n in range(1, ENTRIES + 1)
        ]
        published = 0
        for size in HEAD_SIZES:
            await stack.publish(*events[published:size])
            published = size
            head = await stack.client.get("/v1/audit/tree-head", headers=stack.auditor)
            assert head.json()["size"] == size
        yield stack


async def verify(stack: AuditStack, batch_size: int) -> VerificationRead:
    database = Database(stack.database_url, pool_size=1)
    signer = load_signer(stack.settings.audit_signing_key, stack.settings.data_dir)
    try:
        async with database.sessionmaker() as session, session.begin():
            return await verify_ledger(session, signer, batch_size=batch_size)
    finally:
        await database.dispose()


async def test_rows_from_postgresql_are_rendered_as_the_checks_expect(ledger: AuditStack) -> None:
    database = Database(ledger.database_url, pool_size=1)
    try:
        async with database.sessionmaker() as session, session.begin():
            repository = LedgerRepository.from_session(session)
            rows = await repository.rows_after(0, limit=ENTRIES)
            entries = await repository.entries_after(0, limit=ENTRIES)
    finally:
        await database.dispose()
    assert len(rows) == ENTRIES
    assert [tuple(row[i] for i in range(5)) for row in rows] == [row_of(e) for e in entries]


async def test_every_batch_size_verifies_the_whole_ledger(ledger: AuditStack) -> None:
    reports = [await verify(ledger, batch_size) for batch_size in (1, 4, 5, 12, 1000)]
    for report in reports:
        assert report.ok, report
        assert report.entries == ENTRIES
        assert report.tree is not None
        assert report.tree.signed_heads_checked == len(HEAD_SIZES)
    assert all(report == reports[0] for report in reports)


@pytest.mark.parametrize(
    ("statement", "sequence", "words"),
    [
        (
            "UPDATE audit.ledger_entry SET entry = replace(entry::text, '\"n\":9', '\"n\":8')::json"
            " WHERE sequence = 9",
            9,
            "hash does not match",
        ),
        ("UPDATE audit.ledger_entry SET actor = 'mallory' WHERE sequence = 14", 14, "actor"),
        (
            "UPDATE audit.ledger_entry SET recorded_at = recorded_at + interval '1 microsecond'"
            " WHERE sequence = 6",
            6,
            "recorded_at",
        ),
        ("UPDATE audit.merkle_node SET hash = '\\x00' WHERE level = 0 AND index = 16", 17, "leaf"),
        ("DELETE FROM audit.ledger_entry WHERE sequence = 20", 20, "sequence break"),
        (
            "UPDATE audit.ledger_entry SET recorded_at = '10000-01-01T00:00:00Z'"
            " WHERE sequence = 13",
            13,
            "recorded_at is not a representable timestamp",
        ),
        (
            "UPDATE audit.tree_head SET signed_at = '-infinity' WHERE size = 12",
            12,
            "signing time is not a representable timestamp",
        ),
    ],
)
async def test_every_batch_size_finds_the_same_first_defect(
    ledger: AuditStack, statement: str, sequence: int, words: str
) -> None:
    await as_superuser(ledger, statement)
    reports = [await verify(ledger, batch_size) for batch_size in (1, 4, 7, 1000)]
    for report in reports:
        assert not report.ok
        assert report.first_bad is not None
        assert report.first_bad.sequence == sequence, report
        assert words in report.first_bad.reason
    assert all(report == reports[0] for report in reports)
