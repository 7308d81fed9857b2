"""The relay wakes on commit (LISTEN/NOTIFY) instead of waiting out its poll interval."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from services.intake.models import tables as intake_tables
from shared.bus import InProcessBus, Message
from shared.contracts import ChangeCancelled, EventType
from shared.db import Database
from shared.events import CloudEvent
from shared.outbox import OutboxRelay, record_event
from shared.settings import Settings
from tests.conftest import fresh_database
from tests.support.clients import eventually


async def test_a_commit_wakes_the_relay_long_before_its_poll_interval(
    pg_server: str, jwt_secret: str
) -> None:
    database = Database(await fresh_database(pg_server))
    settings = Settings(jwt_secret=jwt_secret, relay_idle_poll_seconds=600)
    received: list[CloudEvent] = []

    async def collect(message: Message) -> None:
        received.append(CloudEvent.from_json(message.value))

    bus = InProcessBus()
    bus.subscribe("collector", [settings.changes_topic], collect)
    relay = asyncio.create_task(OutboxRelay(intake_tables, database, bus, settings).run())
    try:
        await asyncio.sleep(0.5)  # the relay has drained the empty outbox and is now waiting
        subjects = [str(uuid.uuid4()) for _ in range(3)]
        for subject in subjects:
            async with database.sessionmaker() as session, session.begin():
                await record_event(
                    session,
                    intake_tables,
                    EventType.CHANGE_CANCELLED,
                    subject=subject,
                    data=ChangeCancelled(reason="wake up"),
                    actor="tester",
                )

        async def delivered() -> list[str]:
            return [event.subject for event in received]

        # A 600 s poll could not deliver these within eventually()'s 20 s.
        await eventually(delivered, lambda seen: seen == subjects)
        assert [event.sequence for event in received] == [1, 1, 1]
        assert all(event.type == "io.changeward.change.cancelled" for event in received)
    finally:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
        await database.dispose()
