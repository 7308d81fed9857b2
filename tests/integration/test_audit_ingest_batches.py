"""Appending a whole batch at once: events already in the ledger skipped without a gap, and
subject facets merged within a batch and across batches, the latest value of each winning."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.audit.service import append_events
from shared.db import Database
from tests.conftest import fresh_database
from tests.support.audit import change_event
from tests.support.clients import fetch


@pytest.fixture
async def database(pg_server: str) -> AsyncIterator[Database]:
    db = Database(await fresh_database(pg_server), pool_size=2)
    yield db
    await db.dispose()


async def test_events_already_recorded_are_skipped_and_the_chain_has_no_gap(
    database: Database,
) -> None:
    a, b, c, d = (change_event(sequence=n) for n in range(1, 5))
    async with database.sessionmaker() as session, session.begin():
        first = await append_events(session, [a, b])
    async with database.sessionmaker() as session, session.begin():
        second = await append_events(session, [b, c, a, d, c])
    entries = first + second
    assert [entry.sequence for entry in entries] == [1, 2, 3, 4]
    assert all(n.prev_hash == m.hash for m, n in zip(entries, entries[1:], strict=False))
    rows = await fetch(database.url, "SELECT event_id FROM audit.ledger_entry ORDER BY sequence")
    assert [row["event_id"] for row in rows] == [a.id, b.id, c.id, d.id]
    nodes = await fetch(database.url, "SELECT count(*) FROM audit.merkle_node WHERE level = 0")
    assert nodes[0][0] == 4


async def test_facets_merge_within_and_across_batches(database: Database) -> None:
    subject, other = "change-1", "change-2"
    async with database.sessionmaker() as session, session.begin():
        await append_events(
            session,
            [
                change_event(subject, data={"services": ["b", "a"], "environment": "staging"}),
                change_event(other, data={"service": "solo"}),
                change_event(subject, sequence=2, data={"environment": "prod"}),
                change_event(subject, sequence=3, data={"impact_level": "high"}),
            ],
        )
    async with database.sessionmaker() as session, session.begin():
        await append_events(
            session,
            [
                change_event(subject, sequence=4, data={"outcome": "succeeded", "services": []}),
                change_event(other, sequence=2, data={"note": "no facets here"}),
            ],
        )
    rows = await fetch(
        database.url,
        "SELECT subject, services, environment, impact_level, outcome"
        " FROM audit.ledger_subject ORDER BY subject",
    )
    assert [tuple(row) for row in rows] == [
        (subject, ["a", "b"], "prod", "high", "succeeded"),
        (other, ["solo"], None, None, None),
    ]
