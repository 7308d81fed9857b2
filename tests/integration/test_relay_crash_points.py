"""The outbox relay killed at every step of a batch, and transactions committing out of id order:
no event is skipped, none is applied twice (real PostgreSQL, real Kafka, real relay processes)."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence

import pytest

from services.intake.models import tables as intake_tables
from shared.bus import KafkaBus
from shared.db import Database
from shared.events import CloudEvent
from shared.outbox import OutboxRelay, RelayStep
from shared.settings import Settings
from tests.conftest import fresh_database
from tests.support.clients import eventually, fetch
from tests.support.crashing_relay import relay_environment
from tests.support.infra import unique_name
from tests.support.kafka_reader import read_events
from tests.support.outbox_traffic import CountingConsumer, EventWriter

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

KILLS_PER_STEP = 20
REPLICAS = 3


@pytest.fixture(scope="module")
async def crash_db(pg_server: str) -> str:
    return await fresh_database(pg_server)


@pytest.fixture(scope="module")
async def database(crash_db: str) -> AsyncIterator[Database]:
    db = Database(crash_db)
    yield db
    await db.dispose()


@pytest.fixture(scope="module")
def relay_settings(kafka_settings: Settings) -> Settings:
    """This module's own changes topic, so the outside reader sees only its events."""
    return kafka_settings.model_copy(
        update={"changes_topic": f"changeward.changes.v1.{unique_name('crash')}"}
    )


@pytest.fixture(scope="module")
async def counting(database: Database, relay_settings: Settings) -> AsyncIterator[CountingConsumer]:
    """The idempotent consumer, in its own group on this module's topic for the whole module."""
    consumer = CountingConsumer(database)
    await consumer.create_tables()
    kafka = KafkaBus(relay_settings)
    kafka.subscribe(f"relay-counting-{uuid.uuid4().hex}", [relay_settings.changes_topic], consumer)
    await kafka.start()
    yield consumer
    await kafka.stop()


@pytest.fixture(scope="module")
async def bus(relay_settings: Settings) -> AsyncIterator[KafkaBus]:
    kafka = KafkaBus(relay_settings)
    await kafka.start()
    yield kafka
    await kafka.stop()


def _subjects(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


async def _kill_relays(
    database_url: str, settings: Settings, steps: Sequence[RelayStep], rounds: int
) -> dict[str, int]:
    """Relay processes, one after the other, each SIGKILLed at its step; kills per step."""
    args = [arg for step in steps for arg in ("--at", step.value)]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *["-m", "tests.support.crashing_relay", *args, "--rounds", str(rounds)],
        env=relay_environment(database_url, settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()[-3000:]
    killed: dict[str, int] = json.loads(out)
    return killed


async def _assert_each_event_relayed_and_applied_once(
    settings: Settings,
    counting: CountingConsumer,
    written: Sequence[CloudEvent],
    *,
    repeats_on_kafka: bool,
) -> None:
    """Every written event is on Kafka (an outside reader) in per-subject sequence order of
    first appearance, repeated or not as `repeats_on_kafka` says, and the idempotent consumer
    applied each exactly once, in that order."""
    subjects = sorted({event.subject for event in written})
    assert settings.kafka_bootstrap_servers
    on_kafka = [
        event
        for event in await read_events(settings.kafka_bootstrap_servers, settings.changes_topic)
        if event.subject in subjects
    ]
    written_ids = {event.id for event in written}
    assert len(written_ids) == len(written)
    assert {event.id for event in on_kafka} == written_ids, "skipped or foreign events"
    if repeats_on_kafka:
        assert len(on_kafka) > len(written), "no relay died after the broker's ack"
    else:
        assert len(on_kafka) == len(written), "an event was published twice"

    expected = _sequences_by_subject((event.subject, event.sequence) for event in written)
    first_seen = _sequences_by_subject(
        (event.subject, event.sequence) for event in _first_copies(on_kafka)
    )
    assert first_seen == {subject: sorted(seqs) for subject, seqs in expected.items()}

    async def delivered() -> int:
        return sum(counting.delivered[subject] for subject in subjects)

    await eventually(delivered, lambda count: count >= len(on_kafka), timeout=60)
    applied = await counting.applications(subjects)
    assert len(applied) == len({event_id for event_id, _, _ in applied}), "applied twice"
    assert {event_id for event_id, _, _ in applied} == written_ids
    assert _sequences_by_subject((subject, seq) for _, subject, seq in applied) == first_seen


async def _sent_at(database: Database, event: CloudEvent) -> object:
    rows = await fetch(
        database.url, "SELECT sent_at FROM intake.outbox WHERE event_id = $1", event.id
    )
    return rows[0]["sent_at"]


def _first_copies(events: Sequence[CloudEvent]) -> list[CloudEvent]:
    seen: set[uuid.UUID] = set()
    first = []
    for event in events:
        if event.id not in seen:
            seen.add(event.id)
            first.append(event)
    return first


def _sequences_by_subject(pairs: Iterable[tuple[str, int]]) -> dict[str, list[int]]:
    by_subject: defaultdict[str, list[int]] = defaultdict(list)
    for subject, sequence in pairs:
        by_subject[subject].append(sequence)
    return dict(by_subject)


async def test_relay_killed_at_every_step_skips_nothing_and_applies_each_event_once(
    crash_db: str,
    database: Database,
    bus: KafkaBus,
    relay_settings: Settings,
    counting: CountingConsumer,
) -> None:
    writer = EventWriter(database)
    async with writer.writing(_subjects(12), writers=3, pause=0.02, max_hold=0.02):
        killed = await _kill_relays(crash_db, relay_settings, list(RelayStep), KILLS_PER_STEP)
    assert killed == {step.value: KILLS_PER_STEP for step in RelayStep}

    relay = OutboxRelay(intake_tables, database, bus, relay_settings)
    await relay.drain()
    assert await relay.pending() == 0
    await _assert_each_event_relayed_and_applied_once(
        relay_settings, counting, writer.written, repeats_on_kafka=True
    )


async def test_an_event_committed_after_a_later_id_was_relayed_is_still_relayed_once(
    database: Database,
    bus: KafkaBus,
    relay_settings: Settings,
    counting: CountingConsumer,
) -> None:
    writer = EventWriter(database)
    relay = OutboxRelay(intake_tables, database, bus, relay_settings)
    inserted, release = asyncio.Event(), asyncio.Event()
    subject_a, subject_b = _subjects(2)
    held = asyncio.create_task(writer.write_held(subject_a, inserted=inserted, release=release))
    await inserted.wait()
    event_b = await writer.write(subject_b)

    assert await relay.drain() >= 1
    assert await _sent_at(database, event_b) is not None
    assert not held.done()
    release.set()
    event_a = await held
    assert await relay.drain() >= 1

    outbox = await fetch(
        database.url,
        "SELECT event_id FROM intake.outbox WHERE event_id = ANY($1) ORDER BY id",
        [event_a.id, event_b.id],
    )
    assert [row["event_id"] for row in outbox] == [event_a.id, event_b.id]
    await _assert_each_event_relayed_and_applied_once(
        relay_settings, counting, [event_a, event_b], repeats_on_kafka=False
    )


async def test_replicas_relay_transactions_held_open_out_of_id_order_once_each(
    database: Database,
    relay_settings: Settings,
    counting: CountingConsumer,
) -> None:
    """Each replica has its own pool and producer, as a process of its own would."""
    writer = EventWriter(database)
    pools = [Database(database.url) for _ in range(REPLICAS)]
    buses = [KafkaBus(relay_settings, client_id=f"replica-{n}") for n in range(REPLICAS)]
    for replica_bus in buses:
        await replica_bus.start()
    relays = [
        OutboxRelay(intake_tables, pool, replica_bus, relay_settings)
        for pool, replica_bus in zip(pools, buses, strict=True)
    ]
    running = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        release = asyncio.Event()
        held = []
        async with writer.writing(_subjects(6), writers=2, pause=0.01, max_hold=0.02):
            for subject in _subjects(4):
                inserted = asyncio.Event()
                held.append(
                    asyncio.create_task(
                        writer.write_held(subject, inserted=inserted, release=release)
                    )
                )
                await inserted.wait()
                await asyncio.sleep(0.2)  # let later ids commit and be relayed meanwhile
            await writer.write(str(uuid.uuid4()))

        async def nothing_visible_pending() -> int:
            return await relays[0].pending()

        await eventually(nothing_visible_pending, lambda pending: pending == 0)
        assert not any(task.done() for task in held)
        release.set()
        await asyncio.gather(*held)
        await eventually(nothing_visible_pending, lambda pending: pending == 0)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for replica_bus in buses:
            await replica_bus.stop()
        for pool in pools:
            await pool.dispose()

    held_ids = {task.result().id for task in held}
    later_sent_first = await fetch(
        database.url,
        "SELECT count(*) FROM intake.outbox AS held JOIN intake.outbox AS later"
        " ON later.id > held.id AND later.sent_at < held.sent_at"
        " WHERE held.event_id = ANY($1)",
        list(held_ids),
    )
    assert later_sent_first[0][0] > 0, "no later id was relayed before a held one committed"
    await _assert_each_event_relayed_and_applied_once(
        relay_settings, counting, writer.written, repeats_on_kafka=False
    )
