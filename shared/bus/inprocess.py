"""The in-process bus of the all-in-one mode: same interface, no broker."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from shared.bus.base import Bus, Message, MessageHandler, deliver
from shared.retry import forever

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class _Subscription:
    group: str
    topics: frozenset[str]
    handler: MessageHandler


class InProcessBus(Bus):
    """Delivers each published message to every subscribed group before `publish` returns.

    Because the relay marks outbox rows sent only after `publish` returns, a crash
    mid-delivery leaves the rows unsent and they are delivered again on restart;
    the consumers' inbox makes that harmless. One lock keeps delivery in publish
    order, which is what Kafka's per-key ordering gives in the distributed mode.
    """

    def __init__(self) -> None:
        self._subscriptions: list[_Subscription] = []
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def ready(self) -> bool:
        return True

    def subscribe(self, group: str, topics: Sequence[str], handler: MessageHandler) -> None:
        self._subscriptions.append(_Subscription(group, frozenset(topics), handler))

    async def publish(self, messages: Sequence[Message]) -> None:
        async with self._lock:
            for subscription in self._subscriptions:
                matching = [m for m in messages if m.topic in subscription.topics]
                if matching:
                    await forever(
                        functools.partial(deliver, subscription.handler),
                        matching,
                        what=f"in-process delivery to {subscription.group}",
                    )
