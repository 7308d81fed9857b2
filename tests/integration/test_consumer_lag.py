"""`changeward_consumer_lag`: what a consumer group has yet to handle, on a real broker."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from shared.bus import KafkaBus, Message
from shared.settings import Settings
from tests.support.clients import eventually
from tests.support.infra import unique_name

BACKLOG = 10


async def test_the_lag_counts_the_unhandled_events_and_returns_to_zero(
    kafka_settings: Settings,
) -> None:
    # A topic of its own, one partition: what the broker holds is exactly what was sent here.
    topic = unique_name("lag")
    settings = kafka_settings.model_copy(update={"changes_topic": topic, "topic_partitions": 1})
    producer = KafkaBus(settings)
    await producer.start()
    try:
        await producer.publish(
            [Message(topic=topic, key="change", value=b"{}") for _ in range(BACKLOG)]
        )
    finally:
        await producer.stop()

    group = unique_name("lagging-group")
    entered, release = asyncio.Event(), asyncio.Event()
    handled = 0

    async def slow_handler(message: Message) -> None:
        nonlocal handled
        entered.set()
        await release.wait()
        handled += 1

    def lag() -> float | None:
        return REGISTRY.get_sample_value(
            "changeward_consumer_lag", {"group": group, "topic": topic}
        )

    consumer = KafkaBus(settings)
    consumer.subscribe(group, [topic], slow_handler)
    await consumer.start()
    try:
        await asyncio.wait_for(entered.wait(), timeout=60)
        # The whole backlog is in hand and none of it handled: all of it counts.
        assert lag() == BACKLOG
        release.set()

        async def settled() -> tuple[int, float | None]:
            return handled, lag()

        await eventually(settled, lambda now: now == (BACKLOG, 0))
    finally:
        await consumer.stop()
