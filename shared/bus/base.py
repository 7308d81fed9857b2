"""The bus interface that relays publish to and consumers read from."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from shared.events import CLOUDEVENTS_MEDIA_TYPE


@dataclass(frozen=True)
class Message:
    topic: str
    key: str
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = field(
        default=(("content-type", CLOUDEVENTS_MEDIA_TYPE.encode()),)
    )


# Returns once the message's effect is durable; raising means "deliver it again".
MessageHandler = Callable[[Message], Awaitable[None]]


@runtime_checkable
class BatchHandler(Protocol):
    """A handler that can also take a batch of messages at once (each partition's in order)."""

    async def __call__(self, message: Message) -> None: ...

    async def handle_batch(self, messages: Sequence[Message]) -> None: ...


async def deliver(handler: MessageHandler, messages: Sequence[Message]) -> None:
    """Hand `messages`, in order, to `handler`: as one batch when it takes batches."""
    if isinstance(handler, BatchHandler):
        await handler.handle_batch(messages)
        return
    for message in messages:
        await handler(message)


class Bus(ABC):
    """Publishes batches durably and runs consumer groups.

    `publish` returns only when every message is durably accepted (Kafka: acked by
    all in-sync replicas; in-process: handled by every subscribed group), so a relay
    may then mark its outbox rows sent.
    """

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    async def publish(self, messages: Sequence[Message]) -> None: ...

    async def send(self, messages: Sequence[Message]) -> Awaitable[object]:
        """Hand `messages` over; awaiting the result waits until they are durably accepted.

        Splits `publish` in two for a bus whose broker acknowledges later (Kafka). Any other
        bus publishes here, so what it returns is already done.
        """
        await self.publish(messages)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    @abstractmethod
    def subscribe(self, group: str, topics: Sequence[str], handler: MessageHandler) -> None:
        """Register a consumer group; it starts consuming at `start()`."""

    @abstractmethod
    async def ready(self) -> bool: ...
