"""Each service's schema comes from its own Alembic history, and matches its models."""

from __future__ import annotations

import asyncio

from alembic import command

from shared import migrate
from shared.settings import SERVICES
from tests.conftest import fresh_database
from tests.support.clients import fetch


async def test_fresh_database_migrates_and_matches_the_models(pg_server: str) -> None:
    url = await fresh_database(pg_server, migrated=False)
    await asyncio.to_thread(migrate.upgrade, url)
    await asyncio.to_thread(migrate.check, url)  # raises if autogenerate finds a difference

    rows = await fetch(
        url,
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema = ANY($1::text[])",
        list(SERVICES),
    )
    tables = {(row["table_schema"], row["table_name"]) for row in rows}
    for service in SERVICES:
        for table in ("outbox", "inbox", "event_sequence", "alembic_version"):
            assert (service, table) in tables


async def test_each_service_migrates_on_its_own_and_twice_is_harmless(pg_server: str) -> None:
    url = await fresh_database(pg_server, migrated=False)
    await asyncio.to_thread(migrate.upgrade, url, ["review"])
    schemas = {
        row["schema_name"]
        for row in await fetch(url, "SELECT schema_name FROM information_schema.schemata")
    }
    assert "review" in schemas
    assert "intake" not in schemas
    await asyncio.to_thread(migrate.upgrade, url, ["review"])
    await asyncio.to_thread(migrate.check, url, ["review"])


async def test_downgrade_to_base_and_back(pg_server: str) -> None:
    url = await fresh_database(pg_server)
    for service in SERVICES:
        config = migrate.alembic_config(service, url)
        await asyncio.to_thread(command.downgrade, config, "base")
        await asyncio.to_thread(command.upgrade, config, "head")
    await asyncio.to_thread(migrate.check, url)
