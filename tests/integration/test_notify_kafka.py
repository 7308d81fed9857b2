"""Notify as its own consumer group on the real Kafka broker: intake publishes, notify
consumes and delivers to a receiver on 127.0.0.1."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest

from services.intake.app import SERVICE as INTAKE
from services.notify.app import SERVICE as NOTIFY
from shared.runtime import build_app
from shared.settings import Settings
from tests.conftest import fresh_database
from tests.integration.test_notify_webhooks import (
    Receiver,
    running_receiver,
    submit_change,
    subscribe,
)
from tests.support.clients import Tokens, eventually

pytestmark = [pytest.mark.kafka]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


async def test_notify_delivers_what_it_consumes_from_kafka(
    pg_server: str, kafka_settings: Settings, tokens: Tokens, receiver: Receiver
) -> None:
    database_url = await fresh_database(pg_server)
    settings = kafka_settings.model_copy(
        update={"database_url": database_url, "notify_poll_interval_seconds": 0.1}
    )
    app = build_app([INTAKE, NOTIFY], settings, database_url=database_url)
    service = f"kafka-{uuid.uuid4().hex[:8]}"
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://changeward") as client:
            await subscribe(
                client, tokens, receiver.url, event_types=["change.requested"], services=[service]
            )
            change_id = await submit_change(client, tokens, services=[service])
            [request] = await eventually(receiver.received, lambda got: len(got) >= 1, timeout=60)
    event = json.loads(request.body)
    assert event["type"] == "io.changeward.change.requested"
    assert event["subject"] == change_id
    assert request.headers["changeward-signature"].startswith("t=")
