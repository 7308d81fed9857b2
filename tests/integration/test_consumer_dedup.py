"""An event delivered twice changes nothing the second time."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from services.audit.app import SERVICE as AUDIT
from services.intake.app import SERVICE as INTAKE
from shared.bus import KafkaBus, Message
from shared.contracts import ChangeAssessed, EventType, ImpactLevel, RequiredApproval
from shared.db import Database
from shared.events import CloudEvent, full_type, source_of
from shared.runtime import consumer_of
from shared.settings import Settings
from tests.conftest import fresh_database
from tests.support.clients import CHANGE_BODY, Tokens, eventually, fetch, scalar
from tests.support.metrics import consumed


@pytest.fixture(scope="module")
async def dedup_db(pg_server: str) -> str:
    return await fresh_database(pg_server)


@pytest.fixture(scope="module")
async def database(dedup_db: str) -> AsyncIterator[Database]:
    db = Database(dedup_db)
    yield db
    await db.dispose()


def _assessed(change_id: str, level: ImpactLevel) -> Message:
    event = CloudEvent(
        source=source_of("review"),
        type=full_type(EventType.CHANGE_ASSESSED),
        subject=change_id,
        sequence=1,
        actor="review",
        data=ChangeAssessed(
            impact_level=level,
            ready=True,
            readiness=[],
            required_approvals=[RequiredApproval(role="change_manager", count=1)],
        ).model_dump(mode="json"),
    )
    return Message(topic="changes", key=change_id, value=event.to_json())


async def test_intake_applies_a_redelivered_event_once(
    database: Database, dedup_db: str, api_factory_change: str
) -> None:
    change_id = api_factory_change
    consumer = consumer_of(INTAKE, database)
    message = _assessed(change_id, ImpactLevel.IMPORTANT)
    await consumer(message)
    first = (
        await fetch(
            dedup_db,
            "SELECT status, impact_level, updated_at FROM intake.change_request WHERE id = $1",
            uuid.UUID(change_id),
        )
    )[0]
    assert (first["status"], first["impact_level"]) == ("assessed", "important")

    await consumer(message)
    second = (
        await fetch(
            dedup_db,
            "SELECT status, impact_level, updated_at FROM intake.change_request WHERE id = $1",
            uuid.UUID(change_id),
        )
    )[0]
    assert dict(second) == dict(first)
    event_id = uuid.UUID(CloudEvent.from_json(message.value).id.hex)
    assert (
        await scalar(dedup_db, "SELECT count(*) FROM intake.inbox WHERE event_id = $1", event_id)
        == 1
    )


@pytest.fixture
async def api_factory_change(dedup_db: str, jwt_secret: str, tokens: Tokens) -> str:
    """A submitted change in the dedup database, created through the intake API."""
    import httpx

    from changeward.allinone import create_service_app

    app = create_service_app("intake", Settings(jwt_secret=jwt_secret), dedup_db)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            headers = tokens.headers("rita", "requester")
            change = (await client.post("/v1/changes", json=CHANGE_BODY, headers=headers)).json()
            await client.post(f"/v1/changes/{change['id']}/submit", headers=headers)
    return str(change["id"])


@pytest.mark.kafka
async def test_the_ledger_records_an_event_published_twice_once(
    database: Database, dedup_db: str, kafka_settings: Settings
) -> None:
    change_id = str(uuid.uuid4())
    message = _assessed(change_id, ImpactLevel.STANDARD)
    message = Message(topic=kafka_settings.changes_topic, key=change_id, value=message.value)
    event_id = CloudEvent.from_json(message.value).id

    bus = KafkaBus(kafka_settings)
    bus.subscribe(
        f"audit-{uuid.uuid4().hex}",
        [kafka_settings.changes_topic],
        consumer_of(AUDIT, database),
    )
    duplicates_before = consumed("audit", "change.assessed", "duplicate")
    await bus.start()
    try:
        await bus.publish([message])
        await bus.publish([message])

        async def inbox_and_ledger() -> tuple[int, int]:
            inbox = await scalar(
                dedup_db, "SELECT count(*) FROM audit.inbox WHERE event_id = $1", event_id
            )
            ledger = await scalar(
                dedup_db, "SELECT count(*) FROM audit.ledger_entry WHERE event_id = $1", event_id
            )
            return int(inbox), int(ledger)

        async def duplicates() -> float:
            return consumed("audit", "change.assessed", "duplicate")

        await eventually(duplicates, lambda seen: seen > duplicates_before)
        assert await inbox_and_ledger() == (1, 1)
    finally:
        await bus.stop()
