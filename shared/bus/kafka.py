"""The Kafka bus: idempotent producer with acks=all, consumer groups with manual commits."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from shared.bus.base import Bus, Message, MessageHandler, deliver
from shared.observability import CONSUMER_LAG
from shared.retry import forever
from shared.settings import Settings

log = structlog.get_logger(__name__)


class KafkaUnavailable(RuntimeError):
    """The broker did not answer in time at start."""


@dataclass(frozen=True)
class _Group:
    group: str
    topics: tuple[str, ...]
    handler: MessageHandler


class KafkaBus(Bus):
    def __init__(self, settings: Settings, *, client_id: str | None = None) -> None:
        assert settings.kafka_bootstrap_servers, "KafkaBus needs CHANGEWARD_KAFKA_BOOTSTRAP_SERVERS"
        self._settings = settings
        self._servers = settings.kafka_bootstrap_servers
        self._client_id = client_id or settings.kafka_client_id
        self._groups: list[_Group] = []
        self._producer: AIOKafkaProducer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._consumers: list[AIOKafkaConsumer] = []

    def subscribe(self, group: str, topics: Sequence[str], handler: MessageHandler) -> None:
        self._groups.append(_Group(group, tuple(topics), handler))

    async def start(self) -> None:
        """Connect, waiting up to `kafka_start_timeout_seconds` for a broker that is not up yet."""
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(KafkaError),
                wait=wait_exponential_jitter(multiplier=0.2, max=5, jitter=0.2),
                stop=stop_after_delay(self._settings.kafka_start_timeout_seconds),
                before_sleep=lambda state: log.warning(
                    "waiting for Kafka", servers=self._servers, attempt=state.attempt_number
                ),
                reraise=True,
            ):
                with attempt:
                    await self._connect()
        except KafkaError as error:
            raise KafkaUnavailable(
                f"Kafka at {self._servers} did not answer within "
                f"{self._settings.kafka_start_timeout_seconds:g} s: {error!r}"
            ) from error
        for group in self._groups:
            self._tasks.append(asyncio.create_task(self._consume(group), name=group.group))

    async def _connect(self) -> None:
        await ensure_topics(self._settings)
        producer = AIOKafkaProducer(
            bootstrap_servers=self._servers,
            client_id=self._client_id,
            enable_idempotence=True,
            acks="all",
            linger_ms=2,
        )
        try:
            await producer.start()
        except KafkaError:
            await producer.stop()
            raise
        self._producer = producer

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def ready(self) -> bool:
        if self._producer is None:
            return False
        try:
            async with asyncio.timeout(2):
                await self._producer.client.fetch_all_metadata()
        except (TimeoutError, KafkaError):
            return False
        return True

    async def publish(self, messages: Sequence[Message]) -> None:
        await (await self.send(messages))

    async def send(self, messages: Sequence[Message]) -> Awaitable[object]:
        """Append `messages` to the producer's batches; await the result for the broker's acks."""
        assert self._producer is not None, "KafkaBus.start() was not called"
        acks = [
            await self._producer.send(
                message.topic,
                value=message.value,
                key=message.key.encode(),
                headers=list(message.headers),
            )
            for message in messages
        ]
        return asyncio.gather(*acks)

    async def _consume(self, group: _Group) -> None:
        """Consume forever; a broker outage is retried, never fatal."""
        while True:
            consumer = AIOKafkaConsumer(
                *group.topics,
                bootstrap_servers=self._servers,
                client_id=self._client_id,
                group_id=group.group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                isolation_level="read_committed",
            )
            try:
                await consumer.start()
                log.info("consumer started", group=group.group, topics=group.topics)
                while True:
                    batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                    await _report_lag(consumer, group, batches)
                    if not batches:
                        continue
                    # Every partition's records in one delivery (one transaction of the
                    # handler, each partition still in order) and one offset commit: per
                    # round, not per partition, which is what load costs the broker and the
                    # database.
                    await forever(
                        functools.partial(deliver, group.handler),
                        [_to_message(record) for records in batches.values() for record in records],
                        what=f"consumer {group.group}",
                    )
                    await consumer.commit(
                        {
                            partition: records[-1].offset + 1
                            for partition, records in batches.items()
                        }
                    )
            except KafkaError as error:
                log.warning(
                    "consumer lost the broker; restarting", group=group.group, error=repr(error)
                )
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()


async def _report_lag(
    consumer: AIOKafkaConsumer,
    group: _Group,
    in_hand: dict[TopicPartition, list[ConsumerRecord]],
) -> None:
    """Per topic, what this member of the group has yet to handle: from each partition's
    first record in hand (or its position, with none) to the broker's high watermark at the
    last fetch. A topic none of whose partitions it holds is 0 here (another member's)."""
    behind = dict.fromkeys(group.topics, 0)
    for partition in consumer.assignment():
        highwater = consumer.highwater(partition)
        if highwater is None:  # not fetched from yet
            continue
        records = in_hand.get(partition)
        handled_up_to = records[0].offset if records else await consumer.position(partition)
        behind[partition.topic] += max(highwater - handled_up_to, 0)
    for topic, lag in behind.items():
        CONSUMER_LAG.labels(group.group, topic).set(lag)


def _to_message(record: ConsumerRecord) -> Message:
    return Message(
        topic=record.topic,
        key=(record.key or b"").decode(),
        value=record.value or b"",
        headers=tuple(record.headers or ()),
    )


async def ensure_topics(settings: Settings) -> None:
    """Create the topics if they are missing (partitions and retention from settings)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name=topic,
                num_partitions=settings.topic_partitions,
                replication_factor=settings.topic_replication_factor,
                topic_configs={"retention.ms": str(settings.topic_retention_ms)},
            )
            for topic in settings.topics
            if topic not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
            log.info("topics created", topics=[topic.name for topic in missing])
    finally:
        await admin.close()
