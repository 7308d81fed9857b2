"""The transactional outbox against real PostgreSQL and a real Kafka broker."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest

from services.audit.app import SERVICE as AUDIT
from services.intake.models import tables as intake_tables
from shared.bus import KafkaBus
from shared.contracts import ChangeCancelled, EventType
from shared.db import Database
from shared.outbox import OutboxRelay, record_event
from shared.runtime import consumer_of
from shared.settings import Settings
from tests.conftest import fresh_database
from tests.support.clients import eventually, scalar
from tests.support.crashing_relay import relay_environment
from tests.support.kafka_reader import read_events
from tests.support.metrics import consumed

pytestmark = [pytest.mark.kafka]


def _audit_duplicates() -> float:
    return consumed("audit", "change.cancelled", "duplicate")


@pytest.fixture(scope="module")
async def outbox_db(pg_server: str) -> str:
    return await fresh_database(pg_server)


@pytest.fixture(scope="module")
async def database(outbox_db: str) -> AsyncIterator[Database]:
    db = Database(outbox_db)
    yield db
    await db.dispose()


@pytest.fixture(scope="module")
async def bus(kafka_settings: Settings) -> AsyncIterator[KafkaBus]:
    kafka = KafkaBus(kafka_settings)
    await kafka.start()
    yield kafka
    await kafka.stop()


async def _record(database: Database, subject: str) -> uuid.UUID:
    async with database.sessionmaker() as session, session.begin():
        event = await record_event(
            session,
            intake_tables,
            EventType.CHANGE_CANCELLED,
            subject=subject,
            data=ChangeCancelled(reason="test"),
            actor="tester",
        )
    return event.id


async def _subjects_on_kafka(settings: Settings) -> list[str]:
    assert settings.kafka_bootstrap_servers
    events = await read_events(settings.kafka_bootstrap_servers, settings.changes_topic)
    return [event.subject for event in events]


async def test_event_is_not_published_before_its_transaction_commits(
    database: Database, bus: KafkaBus, kafka_settings: Settings
) -> None:
    relay = OutboxRelay(intake_tables, database, bus, kafka_settings)
    subject = str(uuid.uuid4())
    async with database.sessionmaker() as session, session.begin():
        await record_event(
            session,
            intake_tables,
            EventType.CHANGE_CANCELLED,
            subject=subject,
            data=ChangeCancelled(reason="pending"),
            actor="tester",
        )
        await session.flush()
        await relay.drain()
        assert subject not in await _subjects_on_kafka(kafka_settings)
    assert await relay.drain() >= 1
    assert (await _subjects_on_kafka(kafka_settings)).count(subject) == 1


async def test_rolled_back_transaction_publishes_nothing(
    database: Database, bus: KafkaBus, kafka_settings: Settings
) -> None:
    relay = OutboxRelay(intake_tables, database, bus, kafka_settings)
    subject = str(uuid.uuid4())

    async def failing_use_case() -> None:
        async with database.sessionmaker() as session, session.begin():
            await record_event(
                session,
                intake_tables,
                EventType.CHANGE_CANCELLED,
                subject=subject,
                data=ChangeCancelled(reason="doomed"),
                actor="tester",
            )
            raise RuntimeError("use case failed")

    with pytest.raises(RuntimeError, match="use case failed"):
        await failing_use_case()
    await relay.drain()
    assert subject not in await _subjects_on_kafka(kafka_settings)


async def test_relay_killed_between_publish_and_mark_sent_republishes_and_applies_once(
    database: Database, outbox_db: str, kafka_settings: Settings
) -> None:
    """A relay process SIGKILLed after the broker acked: the rows stay unsent, a new relay
    publishes them again, and the audit consumer still records the event exactly once."""
    subject = str(uuid.uuid4())
    event_id = await _record(database, subject)

    crashed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tests.support.crashing_relay", "--at", "acked"],
        env=relay_environment(outbox_db, kafka_settings),
        capture_output=True,
        timeout=120,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()[-2000:]
    unsent = await scalar(
        outbox_db,
        "SELECT count(*) FROM intake.outbox WHERE event_id = $1 AND sent_at IS NULL",
        event_id,
    )
    assert unsent == 1

    duplicates_before = _audit_duplicates()
    consumer_bus = KafkaBus(kafka_settings)
    consumer_bus.subscribe(
        f"audit-{uuid.uuid4().hex}",
        [kafka_settings.changes_topic],
        consumer_of(AUDIT, database),
    )
    await consumer_bus.start()
    try:
        relay = OutboxRelay(intake_tables, database, consumer_bus, kafka_settings)
        await relay.drain()
        assert (await _subjects_on_kafka(kafka_settings)).count(subject) == 2

        async def ledger_count() -> int:
            return int(
                await scalar(
                    outbox_db,
                    "SELECT count(*) FROM audit.ledger_entry WHERE event_id = $1",
                    event_id,
                )
            )

        await eventually(ledger_count, lambda count: count >= 1)

        # The second copy reaches the consumer and is dropped by the inbox.
        async def duplicates() -> float:
            return _audit_duplicates()

        await eventually(duplicates, lambda seen: seen > duplicates_before)
        assert await ledger_count() == 1
        inbox_rows = await scalar(
            outbox_db, "SELECT count(*) FROM audit.inbox WHERE event_id = $1", event_id
        )
        assert inbox_rows == 1
    finally:
        await consumer_bus.stop()
