"""A service starting before its broker waits for it, then connects; with none, it says so."""

from __future__ import annotations

import asyncio

import pytest

from shared.bus import KafkaBus
from shared.bus.kafka import KafkaUnavailable
from shared.embedded_postgres import free_port
from shared.settings import Settings


async def test_a_missing_broker_is_a_clear_error_after_the_start_timeout(jwt_secret: str) -> None:
    port = free_port()  # nothing listens there
    settings = Settings(
        jwt_secret=jwt_secret,
        kafka_bootstrap_servers=f"127.0.0.1:{port}",
        kafka_start_timeout_seconds=1.5,
    )
    with pytest.raises(KafkaUnavailable, match=f"127.0.0.1:{port} did not answer within 1.5 s"):
        await asyncio.wait_for(KafkaBus(settings).start(), timeout=60)


@pytest.mark.kafka
async def test_the_bus_starts_and_is_ready_with_a_broker(kafka_settings: Settings) -> None:
    bus = KafkaBus(kafka_settings)
    await bus.start()
    try:
        assert await bus.ready()
    finally:
        await bus.stop()
