"""The bus interface that relays publish to and consumers read from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

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

    @abstractmethod
    def subscribe(self, group: str, topics: Sequence[str], handler: MessageHandler) -> None:
        """Register a consumer group; it starts consuming at `start()`."""

    @abstractmethod
    async def ready(self) -> bool: ...
