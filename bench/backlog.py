"""(e) relay drain of a large outbox backlog, (f) audit ingest and full ledger verification."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import update

from services.audit.app import SERVICE as AUDIT
from services.audit.signing import load_signer
from services.audit.verification import verify_ledger
from services.intake.app import SERVICE as INTAKE
from shared.bus import Bus, InProcessBus, KafkaBus, Message
from shared.contracts import EventType
from shared.db import Database
from shared.outbox import OutboxRelay, record_event
from shared.runtime import consumer_of
from shared.settings import Settings

INSERT_TRANSACTION_SIZE = 5_000
SUBJECTS = 1_000
INGEST_BATCH_SIZE = 500


class BenchPayload(BaseModel):
    title: str
    services: list[str]
    environment: str


@dataclass(frozen=True)
class Rate:
    items: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "items": self.items,
            "seconds": round(self.seconds, 3),
            "per_second": round(self.per_second, 1),
        }


async def fill_outbox(database: Database, events: int) -> Rate:
    """`events` rows written with record_event, in large transactions, across many subjects."""
    subjects = [str(uuid.uuid4()) for _ in range(SUBJECTS)]
    payload = BenchPayload(title="Roll out checkout", services=["checkout"], environment="prod")
    started = time.perf_counter()
    for first in range(0, events, INSERT_TRANSACTION_SIZE):
        async with database.sessionmaker() as session, session.begin():
            for index in range(first, min(events, first + INSERT_TRANSACTION_SIZE)):
                await record_event(
                    session,
                    INTAKE.tables,
                    EventType.CHANGE_REQUESTED,
                    subject=subjects[index % SUBJECTS],
                    data=payload,
                    actor="bench",
                )
    return Rate(events, time.perf_counter() - started)


class Recorder:
    """A no-op subscriber that keeps what it was given (the audit ingest reuses it)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)


async def drain(database: Database, bus: Bus, settings: Settings) -> Rate:
    relay = OutboxRelay(INTAKE.tables, database, bus, settings)
    started = time.perf_counter()
    published = await relay.drain()
    return Rate(published, time.perf_counter() - started)


async def mark_unsent(database: Database) -> None:
    """Put the whole backlog back, to drain the same rows into another bus."""
    async with database.sessionmaker() as session, session.begin():
        await session.execute(update(INTAKE.tables.outbox).values(sent_at=None))


async def drain_in_process(database: Database, settings: Settings) -> tuple[Rate, Recorder]:
    recorder = Recorder()
    bus = InProcessBus()
    bus.subscribe("bench", [settings.changes_topic], recorder)
    return await drain(database, bus, settings), recorder


async def drain_to_kafka(database: Database, settings: Settings) -> Rate:
    await mark_unsent(database)
    bus = KafkaBus(settings)
    await bus.start()
    try:
        return await drain(database, bus, settings)
    finally:
        await bus.stop()


async def ingest(database: Database, messages: Sequence[Message]) -> Rate:
    """The ledger consumer's batch path, as the bus hands it consecutive messages."""
    consumer = consumer_of(AUDIT, database)
    started = time.perf_counter()
    for first in range(0, len(messages), INGEST_BATCH_SIZE):
        await consumer.handle_batch(messages[first : first + INGEST_BATCH_SIZE])
    return Rate(len(messages), time.perf_counter() - started)


# A pass over 20,000 entries takes a fifth of a second, where one scheduler hiccup shows:
# the median of several passes is what the ledger's verification costs.
VERIFY_PASSES = 5


async def verify(database: Database, workdir: Path) -> tuple[Rate, bool]:
    """The whole ledger verified `VERIFY_PASSES` times; the median pass, and whether all
    passes found it intact."""
    signer = load_signer(None, workdir / "audit-key")
    passes: list[Rate] = []
    intact = True
    for _ in range(VERIFY_PASSES):
        started = time.perf_counter()
        async with database.sessionmaker() as session, session.begin():
            result = await verify_ledger(session, signer)
        passes.append(Rate(result.entries, time.perf_counter() - started))
        intact = intact and result.ok
    return sorted(passes, key=lambda rate: rate.seconds)[len(passes) // 2], intact
