"""audit_0002 on a ledger recorded before it: the tree, actors and facets are filled in."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from alembic import command

from services.audit.domain import Head, seal
from shared import migrate
from shared.db import asyncpg_dsn
from tests.conftest import fresh_database
from tests.support.audit import audit_stack, change_event
from tests.support.clients import Tokens, fetch


async def test_an_existing_ledger_is_backfilled_and_verifies(
    pg_server: str, tokens: Tokens, tmp_path: Path
) -> None:
    url = await fresh_database(pg_server, migrated=False)
    await asyncio.to_thread(command.upgrade, migrate.alembic_config("audit", url), "audit_0001")
    head, subject = Head.genesis(), None
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for n in range(1, 12):
            event = change_event(
                subject, sequence=n, actor=f"actor{n % 3}", data={"environment": f"env{n}"}
            )
            subject = event.subject
            entry = seal(head, event.model_dump(mode="json"), datetime.now(UTC))
            columns = entry.columns
            assert columns is not None
            await connection.execute(
                "INSERT INTO audit.ledger_entry (sequence, event_id, event_type, subject, source, "
                "source_sequence, entry, prev_hash, hash, recorded_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7::json, $8, $9, $10)",
                entry.sequence,
                columns.event_id,
                columns.event_type,
                columns.subject,
                columns.source,
                columns.source_sequence,
                entry.entry,
                entry.prev_hash,
                entry.hash,
                columns.recorded_at,
            )
            head = entry.head
        await connection.execute(
            "INSERT INTO audit.ledger_head (id, size, head_hash) VALUES (1, $1, $2)",
            head.size,
            head.hash,
        )
    finally:
        await connection.close()

    await asyncio.to_thread(migrate.upgrade, url)

    assert await fetch(url, "SELECT count(*) FROM audit.merkle_node WHERE level = 0") == [(11,)]
    assert await fetch(url, "SELECT actor FROM audit.ledger_entry WHERE sequence = 4") == [
        ("actor1",)
    ]
    assert await fetch(url, "SELECT environment FROM audit.ledger_subject") == [("env11",)]
    async with audit_stack(url, tokens, tmp_path) as stack:
        await stack.publish(change_event())
        report = (await stack.client.get("/v1/audit/verify", headers=stack.auditor)).json()
        assert report["ok"] is True, report
        assert report["tree"]["size"] == 12
