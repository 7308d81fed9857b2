"""Reading a topic from the outside, as an SRE tool would."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer

from shared.events import CloudEvent


async def read_events(servers: str, topic: str, *, quiet_for: float = 1.5) -> list[CloudEvent]:
    """Every event on `topic` from the beginning, stopping after `quiet_for` s without news."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=servers,
        group_id=f"test-reader-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    events: list[CloudEvent] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=int(quiet_for * 1000))
            if not batch:
                return events
            for records in batch.values():
                events.extend(CloudEvent.from_json(record.value) for record in records)
    finally:
        await asyncio.wait_for(consumer.stop(), timeout=10)
