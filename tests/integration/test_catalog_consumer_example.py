"""examples/consume_changes.py against the real broker: order, gaps and repeats."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.contracts import ChangeCancelled, EventType
from shared.events import CLOUDEVENTS_MEDIA_TYPE, CloudEvent, full_type
from tests.support.infra import unique_name

pytestmark = [pytest.mark.kafka]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "consume_changes.py"


def _event(subject: str, sequence: int, event_type: EventType) -> CloudEvent:
    return CloudEvent(
        source="/changeward/intake",
        type=full_type(event_type),
        subject=subject,
        sequence=sequence,
        actor="rita",
        data=ChangeCancelled(reason=f"event {sequence}").model_dump(mode="json"),
    )


async def _publish(servers: str, topic: str, events: list[CloudEvent]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=servers, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                topic,
                event.to_json(),
                key=event.subject.encode(),
                headers=[("content-type", CLOUDEVENTS_MEDIA_TYPE.encode())],
            )
    finally:
        await producer.stop()


def _run_example(servers: str, topic: str, group: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            "--bootstrap-servers",
            servers,
            "--topic",
            topic,
            "--group",
            group,
            "--from-beginning",
            "--exit-when-idle",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_consumer_example_prints_events_in_order_and_flags_gaps_and_repeats(
    kafka_servers: str,
) -> None:
    topic = unique_name("changeward.changes.example")
    steady, gappy, joined = (str(uuid.uuid4()) for _ in range(3))
    events = [
        _event(steady, 1, EventType.CHANGE_REQUESTED),
        _event(gappy, 1, EventType.CHANGE_REQUESTED),
        _event(steady, 2, EventType.CHANGE_UPDATED),
        _event(gappy, 2, EventType.CHANGE_UPDATED),
        _event(steady, 3, EventType.CHANGE_CANCELLED),
        _event(gappy, 2, EventType.CHANGE_UPDATED),  # redelivered
        _event(gappy, 5, EventType.CHANGE_CANCELLED),  # 3 and 4 never arrive
        _event(joined, 4, EventType.CHANGE_CANCELLED),
    ]
    await _publish(kafka_servers, topic, events)
    group = f"example-{uuid.uuid4().hex}"

    result = await asyncio.to_thread(_run_example, kafka_servers, topic, group)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == f"read {len(events)} events"

    def sequences_of(subject: str) -> list[str]:
        return [
            line.split("#")[1].split()[0]
            for line in lines
            if line.startswith("       ") and subject in line
        ]

    assert sequences_of(steady) == ["1", "2", "3"]
    assert sequences_of(gappy) == ["1", "2", "5"]
    assert [line for line in lines if line.startswith("REPEAT")] == [
        next(line for line in lines if line.startswith("REPEAT") and gappy in line)
    ]
    assert f"GAP    {gappy} from /changeward/intake: missing #3..#4" in lines
    assert f"JOINED {joined} at #4 (earlier events not read)" in lines
    assert not any(line.startswith(("GAP", "REPEAT")) and steady in line for line in lines)

    # The group's offsets were committed: running it again reads nothing new.
    again = await asyncio.to_thread(_run_example, kafka_servers, topic, group)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == ["read 0 events"]
